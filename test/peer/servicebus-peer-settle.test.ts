// The peer's scheduled messages and dead-letter reasons, and the rhea bug the
// consumer half works around, seen through the official SDK only.
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceBusPeer, startServiceBusPeer } from '../support/servicebus-peer/index.js';

let peer: ServiceBusPeer;
let client: ServiceBusClient;
let queueNumber = 0;

beforeAll(async () => {
  peer = await startServiceBusPeer({ queues: {} });
  client = new ServiceBusClient(peer.connectionString(), { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } });
});
afterAll(async () => {
  await client?.close();
  await peer?.close();
});

function newQueue(): string {
  const name = `settle-${++queueNumber}`;
  peer.createQueue(name, { lockDurationMs: 5_000 });
  return name;
}

async function receiveN(receiver: ServiceBusReceiver, n: number, deadlineMs = 10_000): Promise<ServiceBusReceivedMessage[]> {
  const got: ServiceBusReceivedMessage[] = [];
  for (const deadline = Date.now() + deadlineMs; got.length < n && Date.now() < deadline; ) {
    got.push(...(await receiver.receiveMessages(n - got.length, { maxWaitTimeInMs: 250 })));
  }
  return got;
}

describe('Service Bus test peer: scheduled messages', () => {
  for (const path of ['a send with scheduledEnqueueTimeUtc', 'sender.scheduleMessages'] as const) {
    it(`${path}: the message is not delivered before its time, then delivered once`, async () => {
      const queue = newQueue();
      const sender = client.createSender(queue);
      const receiver = client.createReceiver(queue);
      try {
        const at = new Date(Date.now() + 1_200);
        const message = { messageId: 'later-1', body: { n: 1 } };
        if (path === 'sender.scheduleMessages') {
          const [sequenceNumber] = await sender.scheduleMessages(message, at);
          expect(sequenceNumber?.toNumber()).toBe(1);
        } else {
          await sender.sendMessages({ ...message, scheduledEnqueueTimeUtc: at });
        }
        expect(peer.queue(queue).scheduledIds()).toEqual(['later-1']);
        expect(peer.queue(queue).activeCount()).toBe(0);
        let emptyReceivesBefore = 0;
        let got: ServiceBusReceivedMessage[] = [];
        for (const deadline = Date.now() + 10_000; got.length === 0 && Date.now() < deadline; ) {
          got = await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 });
          if (got.length === 0) emptyReceivesBefore++;
        }
        expect(Date.now()).toBeGreaterThanOrEqual(at.getTime());
        expect(emptyReceivesBefore).toBeGreaterThan(0);
        expect(got.map((m) => m.messageId)).toEqual(['later-1']);
        expect(got[0]!.scheduledEnqueueTimeUtc?.getTime()).toBe(at.getTime());
        expect(peer.queue(queue).scheduledIds()).toEqual([]);
        await receiver.completeMessage(got[0]!);
        expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
      } finally {
        await receiver.close();
        await sender.close();
        peer.deleteQueue(queue);
      }
    });
  }

  it('a scheduled time already past delivers at once', async () => {
    const queue = newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    try {
      await sender.sendMessages({ messageId: 'past', body: 1, scheduledEnqueueTimeUtc: new Date(Date.now() - 1_000) });
      expect(peer.queue(queue).scheduledIds()).toEqual([]);
      expect((await receiveN(receiver, 1)).map((m) => m.messageId)).toEqual(['past']);
    } finally {
      await receiver.close();
      await sender.close();
      peer.deleteQueue(queue);
    }
  });
});

describe('Service Bus test peer: cancelling scheduled messages', () => {
  it('cancelScheduledMessages removes a scheduled message before its time; the others still arrive', async () => {
    const queue = newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    try {
      const at = new Date(Date.now() + 1_000);
      const numbers = await sender.scheduleMessages(
        [
          { messageId: 'keep', body: 1 },
          { messageId: 'drop', body: 2 },
        ],
        at,
      );
      expect(numbers.map((n) => n.toNumber())).toEqual([1, 2]);
      await sender.cancelScheduledMessages(numbers[1]!);
      expect(peer.queue(queue).scheduledIds()).toEqual(['keep']);

      const got = await receiveN(receiver, 1);
      expect(got.map((m) => m.messageId)).toEqual(['keep']);
      expect(Date.now()).toBeGreaterThanOrEqual(at.getTime());
      await receiver.completeMessage(got[0]!);
      // Both were due at the same instant: an uncancelled 'drop' would be here now.
      expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
      expect(peer.queue(queue).scheduledIds()).toEqual([]);
      expect(peer.queue(queue).activeCount()).toBe(0);
    } finally {
      await Promise.all([receiver.close(), sender.close()]);
      peer.deleteQueue(queue);
    }
  });

  it('a number that names no scheduled message cancels nothing: an active message stays, a duplicate has a number of its own', async () => {
    const queue = `settle-${++queueNumber}`;
    peer.createQueue(queue, { duplicateDetection: true });
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    try {
      const at = new Date(Date.now() + 60_000);
      const [first] = await sender.scheduleMessages({ messageId: 'dup', body: 1 }, at);
      const [second] = await sender.scheduleMessages({ messageId: 'dup', body: 2 }, at);
      await sender.sendMessages({ messageId: 'live', body: 3 });
      expect([first?.toNumber(), second?.toNumber()]).toEqual([1, 2]);
      expect(peer.queue(queue).duplicatesDropped()).toBe(1);
      expect(peer.queue(queue).scheduledIds()).toEqual(['dup']);

      const [live] = await receiver.peekMessages(1);
      expect(live?.sequenceNumber?.toNumber()).toBe(3);
      // 2 was the dropped duplicate, 3 is already active, 99 never existed.
      await sender.cancelScheduledMessages([second!, live!.sequenceNumber!, first!.add(98)]);
      expect(peer.queue(queue).scheduledIds()).toEqual(['dup']);
      expect(peer.queue(queue).messageIds()).toEqual(['live']);

      await sender.cancelScheduledMessages(first!);
      expect(peer.queue(queue).scheduledIds()).toEqual([]);
    } finally {
      await Promise.all([receiver.close(), sender.close()]);
      peer.deleteQueue(queue);
    }
  });
});

describe('Service Bus test peer: dead-letter queue', () => {
  it('keeps each dead-lettered message with its reason and description, readable from the sub-queue too', async () => {
    const queue = newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    const dlq = client.createReceiver(queue, { subQueueType: 'deadLetter', receiveMode: 'receiveAndDelete' });
    try {
      await sender.sendMessages([
        { messageId: 'd-1', body: 1 },
        { messageId: 'd-2', body: 2 },
      ]);
      const got = await receiveN(receiver, 2);
      for (const m of got) {
        await receiver.deadLetterMessage(m, { deadLetterReason: `R${String(m.body)}`, deadLetterErrorDescription: `why ${String(m.body)}` });
      }
      expect(peer.queue(queue).deadLetters()).toEqual([
        { messageId: 'd-1', reason: 'R1', description: 'why 1' },
        { messageId: 'd-2', reason: 'R2', description: 'why 2' },
      ]);
      const dead = await receiveN(dlq, 2);
      expect(dead.map((m) => [m.messageId, m.deadLetterReason, m.deadLetterErrorDescription])).toEqual([
        ['d-1', 'R1', 'why 1'],
        ['d-2', 'R2', 'why 2'],
      ]);
    } finally {
      await Promise.all([dlq.close(), receiver.close(), sender.close()]);
      peer.deleteQueue(queue);
    }
  });
});

describe('rhea 3.0.5 on the SDK side (why src/transports/settlement-gate.ts exists)', () => {
  // A canary: when a rhea upgrade fixes write_dispositions this fails, and
  // the SettlementGate may go (the consumer suite's same-tick test stays).
  it('a complete and an abandon settled in one tick by the bare SDK both reach the broker as the first outcome', async () => {
    const queue = newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    try {
      await sender.sendMessages([
        { messageId: 'c', body: 'c' },
        { messageId: 'a', body: 'a' },
      ]);
      const got = await receiveN(receiver, 2);
      const byId = new Map(got.map((m) => [m.messageId, m]));
      await Promise.all([receiver.completeMessage(byId.get('c')!), receiver.abandonMessage(byId.get('a')!)]);
      // Asked: 'c' completed, 'a' back on the queue. rhea merged 'a' into 'c''s disposition range: both completed.
      expect(peer.queue(queue).messageIds()).toEqual([]);
    } finally {
      await receiver.close();
      await sender.close();
      peer.deleteQueue(queue);
    }
  });
});
