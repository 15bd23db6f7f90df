import type { GeoConfig } from '../config/index.js';
import { errorMessage } from '../errors.js';
import { connectStorageQueue } from '../transports/storage-queue-connect.js';
import type { TransportConsumer } from '../transports/transport.js';

/** Empties a bench queue after each run; `close` once the bench is done. */
export interface QueueEmptier {
  /** Removes the bench's messages (`expected` of them were sent); returns how many it removed. */
  empty(expected: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * The one way the bench empties its queue after a run: `config` names the
 * bench queue (on the direct route, not through a latency proxy). Everything
 * below is private to this file, so moving the drain onto the transports'
 * consumer half changes this file only.
 */
export function queueEmptier(path: 'servicebus' | 'storage-queue', config: GeoConfig): QueueEmptier {
  return path === 'servicebus' ? serviceBusEmptier(config.servicebus) : storageQueueEmptier(config.storage);
}

/** Messages per receive at most: Service Bus hands out a few thousand per call at best. */
const RECEIVE_BATCH = 2_000;

/**
 * Empties the bench's Service Bus queue with the transport's consumer half
 * (its retry settings and redaction), kept open across runs (Service Bus has
 * no purge short of deleting the queue, which needs Manage rights). Asks for
 * exactly what is still expected, so a receive returns as soon as the last
 * message is in; then one short receive picks up any extra copies of re-sent
 * messages. Gives up after a deadline, or after three empty waits, so a bench
 * never hangs here.
 */
function serviceBusEmptier(config: GeoConfig['servicebus']): QueueEmptier {
  let opened: Promise<TransportConsumer> | undefined;
  return {
    async empty(expected) {
      opened ??= import('../transports/servicebus-consumer.js').then((m) => m.createServiceBusConsumer(config));
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

/**
 * Clears the bench's Storage Queue (one Clear Messages request) and returns
 * how many messages the service counted in it just before. The queue is the
 * bench's own (the command refuses the configured task queue), so nothing
 * but bench messages is removed.
 */
function storageQueueEmptier(config: GeoConfig['storage']): QueueEmptier {
  let connected: ReturnType<typeof connectStorageQueue> | undefined;
  return {
    async empty() {
      connected ??= connectStorageQueue(
        { ...config, createQueue: false },
        { pipeline: { retryOptions: { maxTries: 3, tryTimeoutInMs: 60_000 } }, timeoutMs: 30_000 },
      );
      const { client } = await connected;
      const before = (await client.getProperties()).approximateMessagesCount ?? 0;
      // A large queue can time out mid-clear on Azure (OperationTimedOut); the
      // service keeps what it deleted, and the next request carries on.
      for (let attempt = 1; ; attempt++) {
        try {
          await client.clearMessages();
          return before;
        } catch (err) {
          if (attempt >= 5) throw new Error(`could not clear storage queue ${config.queue}: ${errorMessage(err)}`, { cause: err });
        }
      }
    },
    async close() {
      // The storage SDK holds nothing open beyond Node's keep-alive agent.
    },
  };
}
