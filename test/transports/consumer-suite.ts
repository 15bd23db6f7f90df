// One behaviour suite for the consumer half, run against every broker
// transport (River's riverdrivertest pattern): each test file supplies a
// harness that opens a consumer on a fresh queue of the real broker (the
// Service Bus test peer, Azurite) and lets the test look at the broker's side.
import { afterEach, describe, expect, it } from 'vitest';
import { buildTaskMessage, messageIdOf, type TaskMessage } from '../../src/transports/message.js';
import type { ReceivedMessage, TransportConsumer } from '../../src/transports/transport.js';

export interface DeadLettered {
  /** The task id of a task message; undefined for a malformed body. */
  taskId?: string;
  reason?: string;
  description?: string;
}

export interface OpenQueue {
  consumer: TransportConsumer;
  /** How long a received message stays locked (hidden) without renewal. */
  lockMs: number;
  /** Sends task messages with the transport's own producer. */
  send(messages: TaskMessage[]): Promise<void>;
  /** Sends task messages to appear at `at`, with the transport's own producer (a redelivery geo owes). */
  schedule(messages: TaskMessage[], at: Date): Promise<void>;
  /** Puts a body on the queue that geo would never produce. */
  sendRaw(body: string): Promise<void>;
  /** Messages the broker holds for the queue in any state (available, locked, scheduled), dead-lettered ones excluded. */
  held(): Promise<number>;
  deadLettered(): Promise<DeadLettered[]>;
  close(): Promise<void>;
}

export interface ConsumerHarness {
  /** A fresh queue and a consumer on it. */
  open(): Promise<OpenQueue>;
  /** Whether the broker keeps geo's message ids (Service Bus), so a test can read them back. */
  keepsMessageIds: boolean;
}

const JOB_ID = 'c'.repeat(64);

export function taskMessages(count: number, tag = 't'): TaskMessage[] {
  return Array.from({ length: count }, (_, i) =>
    buildTaskMessage({
      taskId: `${JOB_ID.slice(0, 16)}-s1-${tag}-${i}`,
      jobId: JOB_ID,
      jobType: 'hello_world',
      taskType: 'greeting',
      stage: 1,
      batchId: `${JOB_ID.slice(0, 16)}-s1-b0`,
      parameters: { i },
    }),
  );
}

/** Receives until `count` messages came or `deadlineMs` passed; each receive waits at most `waitMs`. */
export async function receiveAll(consumer: TransportConsumer, count: number, deadlineMs = 10_000, waitMs = 1_000): Promise<ReceivedMessage[]> {
  const got: ReceivedMessage[] = [];
  const deadline = Date.now() + deadlineMs;
  while (got.length < count && Date.now() < deadline) got.push(...(await consumer.receive(count - got.length, waitMs)));
  return got;
}

export function consumerBehaviour(name: string, harness: ConsumerHarness): void {
  describe(`${name} consumer`, () => {
    const opened: OpenQueue[] = [];
    const open = async () => {
      const q = await harness.open();
      opened.push(q);
      return q;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((q) => q.close()));
    });

    it('receives a task message parsed, on its first delivery, under its task id', async () => {
      const q = await open();
      const [sent] = taskMessages(1);
      await q.send([sent!]);
      const [m, ...rest] = await receiveAll(q.consumer, 1);
      expect(rest).toEqual([]);
      expect(m!.message).toEqual(sent);
      expect(m!.parseError).toBeUndefined();
      expect(m!.deliveryCount).toBe(1);
      expect(m!.lockedUntil.getTime()).toBeGreaterThan(Date.now());
      if (harness.keepsMessageIds) expect(m!.messageId).toBe(sent!.taskId);
    });

    it('complete removes the message from the queue', async () => {
      const q = await open();
      await q.send(taskMessages(3));
      const received = await receiveAll(q.consumer, 3);
      expect(received).toHaveLength(3);
      expect(await q.held()).toBe(3);
      await Promise.all(received.map((m) => q.consumer.complete(m)));
      expect(await q.held()).toBe(0);
      expect(await q.consumer.receive(1, 300)).toEqual([]);
    });

    it('abandon gives the message back at once, delivered again with a higher delivery count', async () => {
      const q = await open();
      await q.send(taskMessages(1));
      const [first] = await receiveAll(q.consumer, 1);
      await q.consumer.abandon(first!);
      // Well within the lock: only the abandon can have made it visible again.
      const [again] = await receiveAll(q.consumer, 1, q.lockMs / 2, 200);
      expect(again?.message?.taskId).toBe(first!.message!.taskId);
      expect(again!.deliveryCount).toBe(2);
      await q.consumer.complete(again!);
    });

    it('deadLetter moves the message out of the queue with its reason and description', async () => {
      const q = await open();
      const [sent] = taskMessages(1);
      await q.send([sent!]);
      const [m] = await receiveAll(q.consumer, 1);
      await q.consumer.deadLetter(m!, 'HandlerFailed', 'always fails: out of retries after 4 attempts');
      expect(await q.deadLettered()).toEqual([
        { taskId: sent!.taskId, reason: 'HandlerFailed', description: 'always fails: out of retries after 4 attempts' },
      ]);
      expect(await q.held()).toBe(0);
      expect(await q.consumer.receive(1, 300)).toEqual([]);
    });

    it('a message scheduled for later (a redelivery geo owes) is delivered no earlier than asked, under an id of its own', async () => {
      const q = await open();
      const [sent] = taskMessages(1);
      const next = buildTaskMessage(sent!, 7);
      const at = new Date(Date.now() + 1_500);
      await q.schedule([next], at);
      let later: ReceivedMessage | undefined;
      let emptyReceivesBefore = 0;
      for (const deadline = Date.now() + 10_000; !later && Date.now() < deadline; ) {
        [later] = await q.consumer.receive(1, 250);
        if (!later) emptyReceivesBefore++;
      }
      expect(Date.now()).toBeGreaterThanOrEqual(at.getTime());
      // The queue was asked (and had nothing) while the retry waited.
      expect(emptyReceivesBefore).toBeGreaterThan(0);
      expect(later!.message).toEqual(next);
      if (harness.keepsMessageIds) {
        expect(later!.messageId).toBe(messageIdOf(next));
        expect(later!.messageId).toBe(`${sent!.taskId}:d7`);
      }
      await q.consumer.complete(later!);
      expect(await q.held()).toBe(0);
    });

    it('without renewal the lock runs out and the message is delivered again (the lock is as short as the renew test assumes)', async () => {
      const q = await open();
      await q.send(taskMessages(1));
      const [first] = await receiveAll(q.consumer, 1);
      const [again] = await receiveAll(q.consumer, 1, q.lockMs * 4, 500);
      expect(again?.message?.taskId).toBe(first!.message!.taskId);
      expect(again!.deliveryCount).toBe(2);
      await q.consumer.complete(again!);
    });

    it('renew keeps the message locked beyond its lock duration', async () => {
      const q = await open();
      await q.send(taskMessages(1));
      const [m] = await receiveAll(q.consumer, 1);
      const firstLockEnds = m!.lockedUntil.getTime();
      let renewals = 0;
      // Past two lock durations from the first lock's end, renewing each half lock.
      while (Date.now() < firstLockEnds + 2 * q.lockMs) {
        const until = await q.consumer.renew(m!);
        renewals++;
        expect(until.getTime()).toBeGreaterThan(Date.now());
        expect(await q.consumer.receive(1, q.lockMs / 2)).toEqual([]);
      }
      expect(renewals).toBeGreaterThan(2);
      await q.consumer.complete(m!);
      expect(await q.held()).toBe(0);
    });

    it('a malformed body arrives with parseError, can be dead-lettered, and the next message still arrives', async () => {
      const q = await open();
      await q.sendRaw('this is not json {');
      await q.sendRaw(JSON.stringify({ taskId: 'x', stage: 'one' }));
      const [good] = taskMessages(1);
      await q.send([good!]);
      const received = await receiveAll(q.consumer, 3);
      const bad = received.filter((m) => m.parseError !== undefined);
      expect(bad.map((m) => m.parseError)).toEqual([expect.stringMatching(/^not JSON/), expect.stringMatching(/^not a task message .*stage/)]);
      for (const m of bad) {
        expect(m.message).toBeUndefined();
        await q.consumer.deadLetter(m, 'MalformedMessage', m.parseError!);
      }
      const valid = received.filter((m) => m.message);
      expect(valid.map((m) => m.message!.taskId)).toEqual([good!.taskId]);
      await q.consumer.complete(valid[0]!);
      const dead = await q.deadLettered();
      expect(dead.map((d) => d.reason)).toEqual(['MalformedMessage', 'MalformedMessage']);
      expect(await q.held()).toBe(0);
    });

    it('settlements of different outcomes in the same tick each end as asked', async () => {
      const q = await open();
      await q.send(taskMessages(6, 'tick'));
      const received = await receiveAll(q.consumer, 6);
      expect(received).toHaveLength(6);
      const byId = new Map(received.map((m) => [m.message!.taskId, m]));
      const [c1, a1, c2, d1, d2, a2] = taskMessages(6, 'tick').map((t) => byId.get(t.taskId)!);
      // Interleaved, all issued synchronously: one tick.
      await Promise.all([
        q.consumer.complete(c1!),
        q.consumer.abandon(a1!),
        q.consumer.complete(c2!),
        q.consumer.deadLetter(d1!, 'ReasonOne', 'first'),
        q.consumer.deadLetter(d2!, 'ReasonTwo', 'second'),
        q.consumer.abandon(a2!),
      ]);
      // Both completes took effect (and both dead-letters): only the two abandoned are left.
      expect(await q.held()).toBe(2);
      const dead = await q.deadLettered();
      expect(dead.sort((x, y) => x.reason!.localeCompare(y.reason!))).toEqual([
        { taskId: d1!.message!.taskId, reason: 'ReasonOne', description: 'first' },
        { taskId: d2!.message!.taskId, reason: 'ReasonTwo', description: 'second' },
      ]);
      const back = await receiveAll(q.consumer, 2, q.lockMs / 2, 200);
      expect(back.map((m) => m.message!.taskId).sort()).toEqual([a1!.message!.taskId, a2!.message!.taskId].sort());
      expect(back.every((m) => m.deliveryCount === 2)).toBe(true);
      await Promise.all(back.map((m) => q.consumer.complete(m)));
      expect(await q.held()).toBe(0);
    });
  });
}
