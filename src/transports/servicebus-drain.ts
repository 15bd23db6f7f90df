import type { QueueEmptier } from './kind.js';
import type { ServiceBusConfig } from './servicebus-connect.js';
import { createServiceBusConsumer } from './servicebus-consumer.js';
import type { TransportConsumer } from './transport.js';

/** Messages per receive at most: Service Bus hands out a few thousand per call at best. */
const RECEIVE_BATCH = 2_000;

/**
 * Empties a bench's Service Bus queue with the transport's consumer half
 * (its retry settings and redaction), kept open across runs (Service Bus has
 * no purge short of deleting the queue, which needs Manage rights). Asks for
 * exactly what is still expected, so a receive returns as soon as the last
 * message is in; then one short receive picks up any extra copies of re-sent
 * messages. Gives up after a deadline, or after three empty waits, so a bench
 * never hangs here.
 */
export function serviceBusEmptier(config: ServiceBusConfig): QueueEmptier {
  let opened: Promise<TransportConsumer> | undefined;
  return {
    async empty(expected) {
      opened ??= createServiceBusConsumer(config);
      const consumer = await opened;
      const deadline = Date.now() + 60_000 + expected;
      let removed = 0;
      for (let empties = 0; Date.now() < deadline; ) {
        const missing = expected - removed;
        const batch = await consumer.receive(missing > 0 ? Math.min(RECEIVE_BATCH, missing) : 100, missing > 0 ? 2_000 : 200);
        await Promise.all(batch.map((m) => consumer.complete(m)));
        removed += batch.length;
        if (batch.length > 0) empties = 0;
        // Fewer than expected after a few empty waits: they are not coming (a send was lost).
        else if (missing <= 0 || ++empties >= 3) break;
      }
      return removed;
    },
    async close() {
      if (!opened) return;
      await (await opened.catch(() => undefined))?.close();
    },
  };
}
