import type { Transport } from './transport.js';

/**
 * The zero-configuration transport: the tasks table is the queue. A task row
 * written with status `queued` is the message, and consumers claim rows with
 * FOR UPDATE SKIP LOCKED, so a batch is queued in the transaction that
 * writes it and never needs recovery.
 */
export function createLocalTransport(): Transport {
  return {
    name: 'local',
    inDatabase: true,
    target: 'the local PostgreSQL queue',
    async send(messages) {
      return { acknowledged: messages.map((m) => m.taskId), rejected: [] };
    },
    async close() {},
  };
}
