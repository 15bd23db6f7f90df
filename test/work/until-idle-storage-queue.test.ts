// `geo work --until-idle` on a broker whose message is out of sight: a Storage Queue message another
// receive hid (its visibility timeout not yet run out) is waited for; one that is gone is waited for
// no longer than the lease plus --idle, then reported (exit 1).
import { QueueClient } from '@azure/storage-queue';
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/transports/transport.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { type Lane, useWorkHarness } from './support/harness.js';
import { stageTasks } from './support/inspect.js';
import { registerFlakyJobType } from './support/job-type.js';
import { runWorkers, submit } from './support/runtimes.js';

/** The lane's queue, as another receiver (not geo) sees it. */
function queueOf(lane: Lane): QueueClient {
  const env = lane.env();
  return new QueueClient(env.GEO_STORAGE_CONNECTION_STRING!, env.GEO_STORAGE_QUEUE!);
}

describe('geo work --until-idle over storage-queue, with the one message out of sight', () => {
  const harness = useWorkHarness('storage-queue');
  registerFlakyJobType();

  it('a message another receive hid for 4 s is waited for: the worker runs its task when it comes back, then stops', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'flaky_test', { n: 1, tag: 'hidden' });
      const { receivedMessageItems: hidden } = await queueOf(lane).receiveMessages({ numberOfMessages: 1, visibilityTimeout: 4 });
      expect(hidden).toHaveLength(1);
      const deliveries: ReceivedMessage[] = [];
      /** When each receive returned empty, and when the message arrived. */
      const empty: number[] = [];
      let arrivedAt = Infinity;
      const onReceive = (r: ReceivedMessage[]) => {
        if (r.length === 0) empty.push(Date.now());
        else {
          arrivedAt = Math.min(arrivedAt, Date.now());
          deliveries.push(...r);
        }
      };
      // --idle 1s is far shorter than the 4 s the message stays hidden; the lease (5 s) is as long as a lock it may be hidden for.
      const [summary] = await runWorkers(db, lane, 1, { leaseSeconds: 5, idleMs: 1_000 }, { onReceive });
      expect(summary).toMatchObject({ stoppedBy: 'idle', tasks: 1, completed: 1, unreceived: [] });
      // The case is hit: before the message came back the worker had been quiet for longer than --idle
      // (from its first empty receive), so it asked whether it was done, and went on.
      const quietBefore = empty.filter((t) => t < arrivedAt);
      expect(quietBefore.length, JSON.stringify({ empty, arrivedAt })).toBeGreaterThan(0);
      expect(quietBefore.at(-1)! - quietBefore[0]!, JSON.stringify({ empty, arrivedAt })).toBeGreaterThanOrEqual(1_000);
      // What the worker ran came from the hidden message, received a second time once visible again.
      expect(deliveries.map((d) => ({ messageId: d.messageId, deliveryCount: d.deliveryCount }))).toEqual([
        { messageId: hidden[0]!.messageId, deliveryCount: 2 },
      ]);
      expect(await stageTasks(db, jobId, 1)).toEqual([expect.objectContaining({ status: 'completed', attempt: 1 })]);
    } finally {
      await lane.close();
    }
  }, 60_000);

  it('a job sent to another queue does not keep a worker: it stops once its own queue is quiet, with nothing unreceived', async () => {
    const db = harness.db.pool;
    const elsewhere = await harness.lane();
    const lane = await harness.lane();
    try {
      expect(lane.env().GEO_STORAGE_QUEUE).not.toBe(elsewhere.env().GEO_STORAGE_QUEUE);
      const jobId = await submit(db, elsewhere, 'hello_world', { n: 3, name: 'elsewhere' });
      // The lease (30 s) is far beyond --idle: a worker that waited for the other queue's tasks would stop 31 s later, reporting them.
      const [summary] = await runWorkers(db, lane, 1, { leaseSeconds: 30, idleMs: 1_000 });
      expect(summary).toMatchObject({ stoppedBy: 'idle', tasks: 0, unreceived: [] });
      expect(summary!.elapsedMs).toBeLessThan(30_000);
      expect(await stageTasks(db, jobId, 1)).toEqual(Array.from({ length: 3 }, () => expect.objectContaining({ status: 'queued' })));
    } finally {
      await Promise.all([lane.close(), elsewhere.close()]);
    }
  }, 60_000);

  it('a task claimed by a geo process that died, before any sweep found it dead, keeps the worker: the sweep frees it, the worker runs it, then stops', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    // The dead process: a session on its own connection, and a claim under it; its message is gone with it.
    const dying = await db.connect();
    // Holds the dead session's row, so every sweep skips it (the reap takes its rows SKIP LOCKED) until released.
    const unreaped = await db.connect();
    let released: Promise<unknown> | undefined;
    try {
      const jobId = await submit(db, lane, 'flaky_test', { n: 1, tag: 'dead-holder' });
      const queue = queueOf(lane);
      const { receivedMessageItems: taken } = await queue.receiveMessages({ numberOfMessages: 1 });
      await queue.deleteMessage(taken[0]!.messageId, taken[0]!.popReceipt);
      await dying.query(`SELECT geo_session_start('dead-holder', 'elsewhere', 1, 'geo work')`);
      const [task] = await stageTasks(db, jobId, 1);
      const claim = await dying.query(`SELECT * FROM geo_claim_task($1, 'dead-holder', interval '1 hour')`, [task!.taskId]);
      expect(claim.rowCount).toBe(1);
      await unreaped.query('BEGIN');
      await unreaped.query(`SELECT 1 FROM sessions WHERE worker = 'dead-holder' FOR UPDATE`);
      dying.release(true);
      await waitFor('the session to die with its connection', async () => {
        const { rows } = await db.query(`SELECT 1 FROM sessions WHERE worker = 'dead-holder' AND session_id NOT IN (SELECT geo_live_sessions())`);
        return rows.length === 1;
      });

      const idleMs = 1_000;
      const empty: number[] = [];
      const onReceive = (r: ReceivedMessage[]) => {
        if (r.length > 0) return;
        empty.push(Date.now());
        // The worker has been quiet for --idle since its first empty receive, asked whether it was done
        // after the receive that showed it, and received again: the dead session kept it. The sweep may now free the claim.
        if (!released && empty.filter((t) => t >= empty[0]! + idleMs).length >= 2) released = unreaped.query('COMMIT');
      };
      const [summary] = await runWorkers(db, lane, 1, { leaseSeconds: 5, idleMs }, { onReceive });
      expect(released, 'the worker went on after an idle check with the dead session unreaped').toBeDefined();
      expect(summary).toMatchObject({ stoppedBy: 'idle', tasks: 1, completed: 1, heldByOthers: [], unreceived: [] });
      expect(await stageTasks(db, jobId, 1)).toEqual([expect.objectContaining({ status: 'completed' })]);
    } finally {
      if (!released) await unreaped.query('ROLLBACK');
      else await released;
      unreaped.release();
      await lane.close();
    }
  }, 60_000);

  it('a message that is gone is waited for the lease plus --idle, then the task is reported as unreceived and geo work exits 1', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'hello_world', { n: 1, name: 'gone' });
      const queue = queueOf(lane);
      const { receivedMessageItems: taken } = await queue.receiveMessages({ numberOfMessages: 1 });
      expect(taken).toHaveLength(1);
      await queue.deleteMessage(taken[0]!.messageId, taken[0]!.popReceipt);
      const run = await runGeo(['work', '--until-idle', '--idle', '1s', '--lease', '2s', '--json'], lane.env(), { timeoutMs: 60_000 });
      expect(run.code, run.stderr).toBe(1);
      const doc = parseJsonOutput<{ stoppedBy: string; tasks: number; unreceived: unknown; elapsedMs: number }>(run);
      // Exit 1 for the unreceived task alone.
      expect(doc).toMatchObject({ stoppedBy: 'idle', tasks: 0, unreceived: [{ jobId, tasks: 1 }], heldByOthers: [], jobsNotServed: [] });
      // A first quiet --idle, then the lease plus --idle with nothing changing.
      expect(doc.elapsedMs).toBeGreaterThanOrEqual(1_000 + 2_000 + 1_000);
      expect(await stageTasks(db, jobId, 1)).toEqual([expect.objectContaining({ status: 'queued', attempt: 0 })]);
    } finally {
      await lane.close();
    }
  }, 60_000);
});
