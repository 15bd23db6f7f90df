import type { GeoConfig } from '../config/index.js';
import { errorMessage } from '../errors.js';
import { connectStorageQueue } from '../transports/storage-queue-connect.js';

/** Receives at most this many messages per call; the SDK fills it from its prefetch. */
const RECEIVE_BATCH = 1_000;

/**
 * Empties the bench's Service Bus queue with receiveAndDelete receivers until
 * `expected` messages are gone and a receive comes back empty (Service Bus has
 * no purge short of deleting the queue, which needs Manage rights). Counts
 * what it removed; gives up after `maxWaitMs` so a bench never hangs here.
 */
export async function drainServiceBusQueue(
  config: GeoConfig['servicebus'],
  expected: number,
  opts: { receivers?: number; maxWaitMs?: number } = {},
): Promise<number> {
  const { ServiceBusClient } = await import('@azure/service-bus');
  const client = config.connectionString
    ? new ServiceBusClient(config.connectionString)
    : new ServiceBusClient(
        config.namespace!.includes('.') ? config.namespace! : `${config.namespace}.servicebus.windows.net`,
        new (await import('@azure/identity')).DefaultAzureCredential(),
      );
  const deadline = Date.now() + (opts.maxWaitMs ?? 60_000 + expected);
  let removed = 0;
  const drainOne = async () => {
    const receiver = client.createReceiver(config.queue, { receiveMode: 'receiveAndDelete' });
    try {
      for (let empties = 0; Date.now() < deadline; ) {
        const waitMs = removed >= expected ? 300 : 2_000;
        const batch = await receiver.receiveMessages(RECEIVE_BATCH, { maxWaitTimeInMs: waitMs });
        removed += batch.length;
        if (batch.length > 0) empties = 0;
        // Fewer than expected after a few empty waits: they are not coming (a send was lost).
        else if (removed >= expected || ++empties >= 3) return;
      }
    } finally {
      await receiver.close().catch(() => undefined);
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.receivers ?? 2 }, drainOne));
  } finally {
    await client.close().catch(() => undefined);
  }
  return removed;
}

/**
 * Clears the bench's Storage Queue (one Clear Messages request) and returns
 * how many messages the service counted in it just before. The queue is the
 * bench's own (the command refuses the configured task queue), so nothing
 * but bench messages is removed.
 */
export async function clearStorageQueue(config: GeoConfig['storage']): Promise<number> {
  const { client } = await connectStorageQueue(
    { ...config, createQueue: false },
    { pipeline: { retryOptions: { maxTries: 3, tryTimeoutInMs: 60_000 } }, timeoutMs: 30_000 },
  );
  const before = (await client.getProperties()).approximateMessagesCount ?? 0;
  // A large queue can time out mid-clear on Azure (OperationTimedOut); the service
  // keeps what it deleted, and the next request carries on.
  for (let attempt = 1; ; attempt++) {
    try {
      await client.clearMessages();
      return before;
    } catch (err) {
      if (attempt >= 5) throw new Error(`could not clear storage queue ${config.queue}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
