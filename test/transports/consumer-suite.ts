// One behaviour suite for the consumer half, run against every transport
// (River's riverdrivertest pattern): the local queue, the Service Bus test
// peer and Azurite, with the same assertions. Where a transport's kind differs
// (its tasks are its messages: receiving claims, the completion API settles,
// and there is no dead-letter queue), the capability selects the expected
// value; no assertion is left out for any transport.
import { describe, expect, it } from 'vitest';
import { buildTaskMessage, type TaskMessage } from '../../src/transports/message.js';
import type { ReceivedMessage, TransportConsumer } from '../../src/transports/transport.js';
import { receiveAll, type TransportHarness } from './support/harness.js';

export function consumerBehaviour(harness: TransportHarness): void {
  const { kind } = harness;
  /** What a settled delivery leaves on the queue: a broker removes the message; a claimed task row waits for the completion API. */
  const leftAfterSettling = (n: number) => (kind.tasksAreMessages ? n : 0);
  /** The delivery count of a message given back: a broker counts the delivery; a released claim's attempt does not count. */
  const afterAbandon = kind.tasksAreMessages ? 1 : 2;

  describe(`${harness.label} consumer`, () => {
    it('states its kind: its name, and whether receiving claims the task', async () => {
      const q = await harness.open();
      expect(q.consumer.name).toBe(kind.name);
      expect(q.consumer.claimsOnReceive).toBe(kind.tasksAreMessages);
      expect(q.consumer.target.length).toBeGreaterThan(0);
    });

    it('receives a task message parsed, on its first delivery, under its message id; receiving claims it where the tasks are the messages', async () => {
      const q = await harness.open();
      const [sent] = q.messages(1);
      await q.send([sent!]);
      const [m, ...rest] = await receiveAll(q.consumer, 1);
      expect(rest).toEqual([]);
      expect(m!.message).toEqual(sent);
      expect(m!.parseError).toBeUndefined();
      expect(m!.deliveryCount).toBe(1);
      expect(m!.lockedUntil.getTime()).toBeGreaterThan(Date.now());
      expect(m!.messageId).toEqual(q.messageIdOf(sent!));
      expect(m!.claimed).toEqual(
        kind.tasksAreMessages ? { claim: expect.stringMatching(/^\d+$/), attempt: 1, taskType: 'greeting', parameters: sent!.parameters } : undefined,
      );
      expect(await q.held()).toBe(1);
    });

    it('complete settles the delivery: it is not delivered again, and only a claimed task row stays (for the completion API)', async () => {
      const q = await harness.open();
      await q.send(q.messages(3));
      const received = await receiveAll(q.consumer, 3);
      expect(received).toHaveLength(3);
      expect(await q.held()).toBe(3);
      await Promise.all(received.map((m) => q.consumer.complete(m)));
      expect(await q.held()).toBe(leftAfterSettling(3));
      expect(await q.consumer.receive(1, 300)).toEqual([]);
    });

    it('abandon gives the message back at once, delivered again (a broker counts the delivery; a released claim is not an attempt)', async () => {
      const q = await harness.open();
      await q.send(q.messages(1));
      const [first] = await receiveAll(q.consumer, 1);
      await q.consumer.abandon(first!);
      // Well within the lock: only the abandon can have made it available again.
      const [again] = await receiveAll(q.consumer, 1, q.lockMs / 2, 200);
      expect(again?.message?.taskId).toBe(first!.message!.taskId);
      expect(again!.deliveryCount).toBe(afterAbandon);
      await q.consumer.complete(again!);
    });

    it('deadLetter takes the message out of circulation: a broker keeps it with reason and description, a task row stays claimed', async () => {
      const q = await harness.open();
      const [sent] = q.messages(1);
      await q.send([sent!]);
      const [m] = await receiveAll(q.consumer, 1);
      await q.consumer.deadLetter(m!, 'HandlerFailed', 'always fails: out of retries after 4 attempts');
      expect(await q.deadLettered()).toEqual(
        kind.tasksAreMessages ? [] : [{ taskId: sent!.taskId, reason: 'HandlerFailed', description: 'always fails: out of retries after 4 attempts' }],
      );
      expect(await q.held()).toBe(leftAfterSettling(1));
      expect(await q.consumer.receive(1, 300)).toEqual([]);
    });

    it('a message scheduled for later (a redelivery geo owes) is delivered no earlier than asked, under its own message id', async () => {
      const q = await harness.open();
      const [sent] = q.messages(1);
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
      // The queue was asked (and had nothing) while the redelivery waited.
      expect(emptyReceivesBefore).toBeGreaterThan(0);
      // A task row carries no delivery number: the row is the message, whatever the delivery.
      const expected: TaskMessage = kind.tasksAreMessages ? buildTaskMessage(next) : next;
      expect(later!.message).toEqual(expected);
      expect(later!.messageId).toEqual(q.messageIdOf(expected));
      await q.consumer.complete(later!);
      expect(await q.held()).toBe(leftAfterSettling(1));
    });

    it('without renewal the lock lapses and the message is delivered again; the first delivery can then neither renew nor settle on a broker', async () => {
      const q = await harness.open();
      await q.send(q.messages(1));
      const [first] = await receiveAll(q.consumer, 1);
      let again: ReceivedMessage | undefined;
      for (const deadline = Date.now() + q.lockMs * 4; !again && Date.now() < deadline; ) {
        await q.sweep();
        [again] = await q.consumer.receive(1, 500);
      }
      expect(again?.message?.taskId).toBe(first!.message!.taskId);
      // The lapse counts: a broker's delivery count, the task's attempt.
      expect(again!.deliveryCount).toBe(2);
      await expect(q.consumer.renew(first!)).rejects.toMatchObject({ code: 'LOCK_LOST', retryable: false });
      // Where the tasks are the messages, settling is the completion API's, which fences the late report.
      if (kind.tasksAreMessages) await expect(q.consumer.complete(first!)).resolves.toBeUndefined();
      else await expect(q.consumer.complete(first!)).rejects.toMatchObject({ code: 'LOCK_LOST', retryable: false });
      await q.consumer.complete(again!);
    });

    it('renew keeps the message locked beyond its lock duration', async () => {
      const q = await harness.open();
      await q.send(q.messages(1));
      const [m] = await receiveAll(q.consumer, 1);
      const rival = await q.anotherConsumer();
      const firstLockEnds = m!.lockedUntil.getTime();
      let renewals = 0;
      // Past two lock durations from the first lock's end, renewing each half lock.
      while (Date.now() < firstLockEnds + 2 * q.lockMs) {
        const until = await q.consumer.renew(m!);
        renewals++;
        expect(until.getTime()).toBeGreaterThan(Date.now());
        await q.sweep();
        expect(await rival.receive(1, q.lockMs / 2)).toEqual([]);
      }
      expect(renewals).toBeGreaterThan(2);
      await q.consumer.complete(m!);
      expect(await q.held()).toBe(leftAfterSettling(1));
    });

    it('a body that is not a task message never reaches a handler: a broker delivers it with parseError to dead-letter, the database refuses it as a task row', async () => {
      const q = await harness.open();
      const bodies = ['this is not json {', JSON.stringify({ taskId: 'x', stage: 'one' })];
      for (const body of bodies) {
        if (kind.tasksAreMessages) await expect(q.sendRaw(body)).rejects.toThrow();
        else await q.sendRaw(body);
      }
      const [good] = q.messages(1);
      await q.send([good!]);
      const received = await receiveAll(q.consumer, kind.tasksAreMessages ? 1 : 3);
      const bad = received.filter((m) => m.parseError !== undefined);
      expect(bad.map((m) => m.parseError)).toEqual(
        kind.tasksAreMessages ? [] : [expect.stringMatching(/^not JSON/), expect.stringMatching(/^not a task message .*stage/)],
      );
      for (const m of bad) {
        expect(m.message).toBeUndefined();
        await q.consumer.deadLetter(m, 'MalformedMessage', m.parseError!);
      }
      const valid = received.filter((m) => m.message);
      expect(valid.map((m) => m.message!.taskId)).toEqual([good!.taskId]);
      await q.consumer.complete(valid[0]!);
      expect((await q.deadLettered()).map((d) => d.reason)).toEqual(kind.tasksAreMessages ? [] : ['MalformedMessage', 'MalformedMessage']);
      expect(await q.held()).toBe(leftAfterSettling(1));
    });

    it('settlements of different outcomes in the same tick each end as asked', async () => {
      const q = await harness.open();
      const sent = q.messages(6, 'tick');
      await q.send(sent);
      const received = await receiveAll(q.consumer, 6);
      expect(received).toHaveLength(6);
      const byId = new Map(received.map((m) => [m.message!.taskId, m]));
      const [c1, a1, c2, d1, d2, a2] = sent.map((t) => byId.get(t.taskId)!);
      // Interleaved, all issued synchronously: one tick.
      await Promise.all([
        q.consumer.complete(c1!),
        q.consumer.abandon(a1!),
        q.consumer.complete(c2!),
        q.consumer.deadLetter(d1!, 'ReasonOne', 'first'),
        q.consumer.deadLetter(d2!, 'ReasonTwo', 'second'),
        q.consumer.abandon(a2!),
      ]);
      // The two abandoned are back; the four settled are gone (or their rows stay claimed for the completion API).
      expect(await q.held()).toBe(2 + leftAfterSettling(4));
      const dead = await q.deadLettered();
      expect(dead.sort((x, y) => x.reason!.localeCompare(y.reason!))).toEqual(
        kind.tasksAreMessages
          ? []
          : [
              { taskId: d1!.message!.taskId, reason: 'ReasonOne', description: 'first' },
              { taskId: d2!.message!.taskId, reason: 'ReasonTwo', description: 'second' },
            ],
      );
      const back = await receiveAll(q.consumer, 2, q.lockMs / 2, 200);
      expect(back.map((m) => m.message!.taskId).sort()).toEqual([a1!.message!.taskId, a2!.message!.taskId].sort());
      expect(back.every((m) => m.deliveryCount === afterAbandon)).toBe(true);
      await Promise.all(back.map((m) => q.consumer.complete(m)));
      expect(await q.held()).toBe(leftAfterSettling(6));
    });

    it('two consumers on one queue never hold the same message at once', async () => {
      const q = await harness.open();
      const sent = q.messages(120, 'pair');
      await q.send(sent);
      const all: string[] = [];
      const take = async (consumer: TransportConsumer) => {
        for (const deadline = Date.now() + 20_000; all.length < sent.length && Date.now() < deadline; ) {
          const batch = await consumer.receive(50, 500);
          all.push(...batch.map((m) => m.message!.taskId));
          // Settled before the next receive, so no lock lapses and hands a message out twice for that reason.
          await Promise.all(batch.map((m) => consumer.complete(m)));
        }
      };
      await Promise.all([q.consumer, await q.anotherConsumer()].map(take));
      expect(all).toHaveLength(sent.length);
      expect(new Set(all)).toEqual(new Set(sent.map((m) => m.taskId)));
    });
  });
}
