// One behaviour suite for the producer half, run against every transport
// (the local queue, the Service Bus test peer, Azurite) with the same
// assertions. Where the tasks are the messages (the local queue) the store
// writes them and the producer only acknowledges; the capability selects
// that expected value, no assertion is left out.
import { describe, expect, it } from 'vitest';
import { parseConnectionString } from '../../src/config/connection-string.js';
import { buildTaskMessage } from '../../src/transports/message.js';
import { submitHelloWorld } from '../support/submit.js';
import { receiveAll, receiveCompleting, type TransportHarness } from './support/harness.js';

export function producerBehaviour(harness: TransportHarness): void {
  const { kind } = harness;

  describe(`${harness.label} producer`, () => {
    it('states its kind: its name, whether it writes with the tasks, and a target that names no secret; close is safe twice', async () => {
      const q = await harness.open();
      expect(q.producer.name).toBe(kind.name);
      expect(q.producer.writesWithTasks).toBe(kind.tasksAreMessages);
      expect(q.producer.target.length).toBeGreaterThan(0);
      const secrets = [q.config.servicebus.connectionString, q.config.storage.connectionString].flatMap((cs) =>
        cs ? parseConnectionString(cs).secrets() : [],
      );
      for (const secret of secrets) expect(q.producer.target).not.toContain(secret);
      await q.producer.close();
      await q.producer.close();
    });

    it('send acknowledges a batch of 100 whole and rejects none; the queue then holds them unless the store already wrote them', async () => {
      const q = await harness.open();
      const messages = q.messages(100, 'send');
      const before = await q.held();
      const report = await q.producer.send(messages);
      expect(report.error).toBeUndefined();
      expect(report.rejected).toEqual([]);
      expect([...report.acknowledged].sort()).toEqual(messages.map((m) => m.taskId).sort());
      expect(await q.held()).toBe(before + (kind.tasksAreMessages ? 0 : 100));
    });

    it('a stage dispatched through it reaches its consumer: every task once, as the message built from its row', async () => {
      const q = await harness.open();
      const submitted = await submitHelloWorld(q.db, q.producer, { n: 150, name: `producer-${q.jobId.slice(0, 8)}` });
      expect(submitted).toMatchObject({ tasks: 150, queued: 150, pendingQueue: 0, failed: 0 });
      // One attempt per batch: a broker's one send, or the write that queued the rows.
      const { rows: batches } = await q.db.query<{ status: string; attempts: number }>(
        'SELECT status, attempts FROM batches WHERE job_id = $1 AND stage = 1 ORDER BY batch_index',
        [submitted.jobId],
      );
      expect(batches).toEqual([1, 2].map(() => ({ status: 'queued', attempts: 1 })));
      const { rows } = await q.db.query<{ taskId: string; batchId: string; parameters: Record<string, unknown> }>(
        `SELECT task_id AS "taskId", batch_id AS "batchId", parameters FROM tasks WHERE job_id = $1 AND stage = 1`,
        [submitted.jobId],
      );
      const expected = new Map(
        rows.map((r) => [
          r.taskId,
          buildTaskMessage({
            taskId: r.taskId,
            jobId: submitted.jobId,
            jobType: 'hello_world',
            taskType: 'greeting',
            stage: 1,
            batchId: r.batchId,
            parameters: r.parameters,
          }),
        ]),
      );
      const received = await receiveCompleting(q.consumer, 150);
      expect(received).toHaveLength(150);
      expect(new Set(received.map((m) => m.message!.taskId)).size).toBe(150);
      for (const m of received) expect(m.message).toEqual(expected.get(m.message!.taskId));
      expect(await q.consumer.receive(1, 300)).toEqual([]);
    });

    it('schedule acknowledges every message; what it returns a ref for, cancelScheduled withdraws, and the rest waits on the queue', async () => {
      const q = await harness.open();
      const messages = q.messages(3, 'later').map((m) => buildTaskMessage(m, 1));
      const report = await q.producer.schedule(messages, new Date(Date.now() + 60_000));
      expect(report.error).toBeUndefined();
      expect(report.rejected).toEqual([]);
      expect([...report.acknowledged].sort()).toEqual(messages.map((m) => m.taskId).sort());
      // A ref for each exactly when the producer can withdraw them.
      expect(report.refs.size).toBe(q.producer.cancelScheduled ? 3 : 0);
      const waiting = kind.tasksAreMessages ? 0 : 3;
      expect(await q.held()).toBe(waiting);
      await q.producer.cancelScheduled?.([...report.refs.values()]);
      expect(await q.held()).toBe(report.refs.size > 0 ? 0 : waiting);
    });

    it('what its consumer dead-letters it reads back whole for the sweep, and remove takes it away; the local queue has no dead-letter queue', async () => {
      const q = await harness.open();
      const [sent] = q.messages(1, 'dead');
      await q.send([sent!]);
      const [m] = await receiveAll(q.consumer, 1);
      await q.consumer.deadLetter(m!, 'HostGaveUp', 'poisoned after 5 deliveries');
      expect(q.producer.readDeadLetters === undefined).toBe(kind.tasksAreMessages);
      const letters = (await q.producer.readDeadLetters?.(10)) ?? [];
      expect(letters.map((l) => l.message)).toEqual(kind.tasksAreMessages ? [] : [sent]);
      await Promise.all(letters.map((l) => l.remove()));
      expect(await q.deadLettered()).toEqual([]);
    });
  });
}
