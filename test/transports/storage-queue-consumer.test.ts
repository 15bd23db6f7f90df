import type { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createConsumer } from '../../src/transports/index.js';
import { createStorageQueueProducer } from '../../src/transports/storage-queue.js';
import { queueClientFor, startAzurite, type Azurite } from '../support/azurite.js';
import { consumerBehaviour, receiveAll, taskMessages, type DeadLettered, type OpenQueue } from './consumer-suite.js';

const LEASE_SECONDS = 2;
let azurite: Azurite;
let queueNumber = 0;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.dispose();
});

function config(queue: string, encoding: 'base64' | 'text') {
  return loadConfig({
    GEO_STORAGE_CONNECTION_STRING: azurite.connectionString,
    GEO_STORAGE_QUEUE: queue,
    GEO_STORAGE_MESSAGE_ENCODING: encoding,
    GEO_STORAGE_TIMEOUT_MS: '5000',
  });
}

/** What is in the poison queue, read without taking it (peek), decoded as the consumer wrote it. */
async function poisoned(poison: QueueClient, decode: (text: string) => string): Promise<Array<Record<string, unknown>>> {
  if (!(await poison.exists())) return [];
  const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((item) => JSON.parse(decode(item.messageText)) as Record<string, unknown>);
}

function opener(encoding: 'base64' | 'text') {
  const decode = encoding === 'base64' ? (t: string) => Buffer.from(t, 'base64').toString('utf8') : (t: string) => t;
  const encode = encoding === 'base64' ? (t: string) => Buffer.from(t, 'utf8').toString('base64') : (t: string) => t;
  return async (): Promise<OpenQueue> => {
    const queue = `consume-${encoding}-${++queueNumber}`;
    const geoConfig = config(queue, encoding);
    const producer = await createStorageQueueProducer({ ...geoConfig.storage, createQueue: true });
    const consumer = await createConsumer('storage-queue', geoConfig, { worker: 'test', leaseSeconds: LEASE_SECONDS, jobTypes: [] });
    const raw = queueClientFor(azurite, queue);
    const poison = queueClientFor(azurite, `${queue}-poison`);
    return {
      consumer,
      lockMs: LEASE_SECONDS * 1000,
      async send(messages) {
        const report = await producer.send(messages);
        expect(report.acknowledged).toHaveLength(messages.length);
      },
      async schedule(messages, at) {
        const report = await producer.schedule(messages, at);
        expect(report.acknowledged).toHaveLength(messages.length);
      },
      sendRaw: async (body) => {
        await raw.sendMessage(encode(body));
      },
      held: async () => (await raw.getProperties()).approximateMessagesCount ?? 0,
      async deadLettered(): Promise<DeadLettered[]> {
        return (await poisoned(poison, decode)).map((p) => {
          const dl = p.deadLetter as { reason?: string; description?: string };
          return { taskId: typeof p.taskId === 'string' ? p.taskId : undefined, reason: dl.reason, description: dl.description };
        });
      },
      async close() {
        await Promise.all([consumer.close(), producer.close()]);
        await Promise.all([raw.deleteIfExists(), poison.deleteIfExists()]);
      },
    };
  };
}

consumerBehaviour('storage-queue (base64)', { open: opener('base64'), keepsMessageIds: false });

describe('storage-queue consumer, queue side', () => {
  it('reads text-encoded messages as the producer wrote them', async () => {
    const q = await opener('text')();
    try {
      const [sent] = taskMessages(1, 'text');
      await q.send([sent!]);
      const [m] = await receiveAll(q.consumer, 1);
      expect(m!.message).toEqual(sent);
      await q.consumer.complete(m!);
    } finally {
      await q.close();
    }
  });

  it('the poison message keeps the task message whole, plus why it was moved', async () => {
    const q = await opener('base64')();
    try {
      const [sent] = taskMessages(1, 'poison');
      await q.send([sent!]);
      const [m] = await receiveAll(q.consumer, 1);
      await q.consumer.deadLetter(m!, 'HandlerFailed', 'boom');
      const poison = queueClientFor(azurite, `consume-base64-${queueNumber}-poison`);
      const [stored] = await poisoned(poison, (t) => Buffer.from(t, 'base64').toString('utf8'));
      expect(stored).toMatchObject({ ...sent, deadLetter: { reason: 'HandlerFailed', description: 'boom', deliveryCount: 1 } });
    } finally {
      await q.close();
    }
  });

  it('after a pop receipt changed hands, settling the old delivery is LOCK_LOST', async () => {
    const q = await opener('base64')();
    try {
      await q.send(taskMessages(1, 'lost'));
      const [m] = await receiveAll(q.consumer, 1);
      const [again] = await receiveAll(q.consumer, 1, LEASE_SECONDS * 4000, 500);
      expect(again).toBeDefined();
      await expect(q.consumer.complete(m!)).rejects.toMatchObject({ code: 'LOCK_LOST', retryable: false });
      await q.consumer.complete(again!);
    } finally {
      await q.close();
    }
  });
});
