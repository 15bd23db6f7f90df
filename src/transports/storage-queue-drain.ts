import { errorMessage } from '../errors.js';
import type { QueueEmptier } from './kind.js';
import { connectStorageQueue, type StorageConfig } from './storage-queue-connect.js';

/**
 * Clears a bench's Storage Queue (one Clear Messages request) and returns
 * how many messages the service counted in it just before. The queue is the
 * bench's own (the bench refuses the configured task queue), so nothing but
 * bench messages is removed.
 */
export function storageQueueEmptier(config: StorageConfig): QueueEmptier {
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
