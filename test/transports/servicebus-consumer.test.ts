import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createConsumer } from '../../src/transports/index.js';
import { createServiceBusProducer } from '../../src/transports/servicebus.js';
import { startServiceBusPeer, type ServiceBusPeer } from '../support/servicebus-peer/index.js';
import { consumerBehaviour, receiveAll, taskMessages, type OpenQueue } from './consumer-suite.js';

const LOCK_MS = 2_000;
let peer: ServiceBusPeer;
let queueNumber = 0;

beforeAll(async () => {
  peer = await startServiceBusPeer({ queues: {} });
});
afterAll(async () => {
  await peer?.close();
});

function config(queue: string) {
  return loadConfig({ GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(), GEO_SERVICEBUS_QUEUE: queue, GEO_SERVICEBUS_TIMEOUT_MS: '5000' });
}

async function openQueue(): Promise<OpenQueue> {
  const queue = `consume-${++queueNumber}`;
  // Duplicate detection on, as the README asks: a retry must not be dropped as a duplicate of its first message.
  peer.createQueue(queue, { lockDurationMs: LOCK_MS, duplicateDetection: true });
  const geoConfig = config(queue);
  const consumer = await createConsumer('servicebus', geoConfig, { worker: 'test', leaseSeconds: LOCK_MS / 1000, jobTypes: [] });
  const producer = await createServiceBusProducer(geoConfig.servicebus);
  const raw = new ServiceBusClient(peer.connectionString());
  const rawSender = raw.createSender(queue);
  const view = peer.queue(queue);
  return {
    consumer,
    lockMs: LOCK_MS,
    async send(messages) {
      const report = await producer.send(messages);
      expect(report.acknowledged).toHaveLength(messages.length);
    },
    async schedule(messages, at) {
      const report = await producer.schedule(messages, at);
      expect(report.acknowledged).toHaveLength(messages.length);
    },
    sendRaw: (body) => rawSender.sendMessages({ body: Buffer.from(body), contentType: 'application/octet-stream' }),
    held: async () => view.activeCount() + view.scheduledIds().length,
    async deadLettered() {
      return view.deadLetters().map((d) => ({ taskId: d.messageId.includes('-s1-') ? d.messageId.split(':')[0] : undefined, reason: d.reason, description: d.description }));
    },
    async close() {
      await Promise.all([consumer.close(), producer.close(), rawSender.close()]);
      await raw.close();
      peer.deleteQueue(queue);
    },
  };
}

consumerBehaviour('servicebus', { open: openQueue, keepsMessageIds: true });

describe('servicebus consumer, broker side', () => {
  it('a redelivery is scheduled on the broker under its own id, next to the first message, and its sequence number returned', async () => {
    const q = await openQueue();
    try {
      const [sent] = taskMessages(1, 'sched');
      await q.send([sent!]);
      const view = peer.queue(`consume-${queueNumber}`);
      const producer = await createServiceBusProducer(config(`consume-${queueNumber}`).servicebus);
      const report = await producer.schedule([{ ...sent!, delivery: 3 }], new Date(Date.now() + 60_000)).finally(() => producer.close());
      expect(report.acknowledged).toEqual([sent!.taskId]);
      expect(report.refs.get(sent!.taskId)).toMatch(/^\d+$/);
      expect(view.scheduledIds()).toEqual([`${sent!.taskId}:d3`]);
      // Duplicate detection did not drop the redelivery as a repeat of the first message.
      expect(view.activeCount()).toBe(1);
      expect(view.duplicatesDropped()).toBe(0);
    } finally {
      await q.close();
    }
  });

  it('a queue that does not exist fails at open with QUEUE_NOT_FOUND, naming it', async () => {
    const err = await createConsumer('servicebus', config('missing-queue'), { worker: 'test', leaseSeconds: 1, jobTypes: [] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'QUEUE_NOT_FOUND', kind: 'input' });
    expect(String((err as Error).message)).toContain('missing-queue');
  });

  it('settling a lost lock is LOCK_LOST, not retryable', async () => {
    const q = await openQueue();
    try {
      await q.send(taskMessages(1, 'lost'));
      const [m] = await receiveAll(q.consumer, 1);
      const [again] = await receiveAll(q.consumer, 1, LOCK_MS * 4, 500);
      expect(again).toBeDefined();
      await expect(q.consumer.complete(m!)).rejects.toMatchObject({ code: 'LOCK_LOST', retryable: false });
      await q.consumer.complete(again!);
    } finally {
      await q.close();
    }
  });
});
