import { expect } from 'vitest';
import type { TestDatabase } from '../../support/db.js';
import { doubleInvocationOrder } from './double-invocation.js';
import { BLOCKED, DOUBLE_INVOKED, DUPLICATED, PLAN, TASKS } from './plan.js';
import { callsOf, type HandlerRecord } from './records.js';

interface TaskRow {
  taskId: string;
  jobId: string;
  taskType: string;
  stage: number;
  batchId: string;
  parameters: Record<string, unknown>;
  status: string;
  attempt: number;
  result: Record<string, unknown> | null;
  error: string | null;
}

/** A stage's tasks by index. */
export async function taskRows(db: TestDatabase, jobId: string, stage: number): Promise<Map<number, TaskRow>> {
  const { rows } = await db.pool.query<TaskRow & { taskIndex: number }>(
    `SELECT t.task_id AS "taskId", t.job_id AS "jobId", t.task_type AS "taskType", t.stage, t.batch_id AS "batchId",
            t.parameters, t.status AS status, t.attempt, t.result, t.error, t.task_index AS "taskIndex"
     FROM task_states t WHERE t.job_id = $1 AND t.stage = $2`,
    [jobId, stage],
  );
  return new Map(rows.map((r) => [r.taskIndex, r]));
}

export async function progress(db: TestDatabase, jobId: string): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ key: string; n: number }>(
    `SELECT t.stage || ':' || t.status AS key, count(*)::int AS n
     FROM task_states t WHERE t.job_id = $1 GROUP BY 1`,
    [jobId],
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.n]));
}

const named = (list: number[], i: number) => list.includes(i);

/** The database and the handlers' records agree on what each task went through. */
export async function checkOutcome(db: TestDatabase, jobId: string, records: HandlerRecord[], killedPid: number): Promise<void> {
  const { rows: stages } = await db.pool.query<{ stage: number; status: string; completed: number; failed: number; tasks: number }>(
    `SELECT stage, status, completed_count AS completed, failed_count AS failed, task_count AS tasks FROM stages WHERE job_id = $1 ORDER BY stage`,
    [jobId],
  );
  expect(stages).toEqual([
    { stage: 1, status: 'completed', completed: TASKS - 2, failed: 2, tasks: TASKS },
    { stage: 2, status: 'completed', completed: TASKS, failed: 0, tasks: TASKS },
  ]);
  // Nothing waits: no task queued, pending or running.
  expect(await progress(db, jobId)).toEqual({ '1:completed': TASKS - 2, '1:failed': 2, '2:completed': TASKS });

  const greetings = await taskRows(db, jobId, 1);
  const replies = await taskRows(db, jobId, 2);
  const reportsOf = groupBy(
    records.filter((r) => r.kind === 'invocation' && r.outcome !== undefined),
    (r) => r.taskId ?? '',
  );
  const callsByTask = groupBy(
    records.filter((r) => r.taskType !== undefined),
    (r) => `${r.taskType}:${r.i}`,
  );
  let refusedReports = 0;
  for (const [stage, rows] of [
    [1, greetings],
    [2, replies],
  ] as const) {
    for (const [i, task] of rows) {
      const calls = callsByTask.get(`${task.taskType}:${i}`) ?? [];
      const reports = (reportsOf.get(task.taskId) ?? []).map((r) => r.outcome!);
      const where = `${task.taskType} ${i}: ${JSON.stringify({ task, calls, reports })}`;
      const count = (list: HandlerRecord[], kind: string, pid?: number) => list.filter((r) => r.kind === kind && (pid === undefined || r.pid === pid)).length;
      const returned = count(calls, 'returned');
      const raised = count(calls, 'raised');
      const ran = (r: HandlerRecord) => ['completed', 'retry', 'failed', 'stale', 'duplicate'].includes(r.outcome!);
      const ended = (pid: number) => count(calls, 'returned', pid) + count(calls, 'raised', pid);
      const reported = (pid: number) => (reportsOf.get(task.taskId) ?? []).filter((r) => r.pid === pid && ran(r)).length;
      const interrupted = count(calls, 'call') - returned - raised;
      for (const pid of new Set(calls.map((r) => r.pid))) {
        if (pid === killedPid) continue;
        // Every handler call ended and was reported to the database...
        expect([count(calls, 'call', pid), reported(pid)], where).toEqual([ended(pid), ended(pid)]);
      }
      // ...except that the killed process may have cut one short, or died between its end and its report.
      expect(count(calls, 'call', killedPid) - ended(killedPid), where).toBeLessThanOrEqual(1);
      const unreported = ended(killedPid) - reported(killedPid);
      expect(unreported === 0 || unreported === 1, where).toBe(true);
      // A report the database refused: the worker's lease lapsed (a stalled process) and another
      // worker ran the task again; fencing keeps the late report out.
      const refused = reports.filter((o) => o === 'stale' || o === 'duplicate');
      expect(
        refused.every((o) => o === 'stale'),
        where,
      ).toBe(true);
      refusedReports += refused.length;

      if (stage === 1 && named(PLAN.alwaysFail.greeting, i)) {
        expect(task, where).toMatchObject({ status: 'failed', error: 'RuntimeError: always fails (test)', attempt: 4 });
        expect([returned, reports.filter((o) => o === 'failed').length], where).toEqual([0, 1]);
        continue;
      }
      if (stage === 1 && named(PLAN.permanent.greeting, i)) {
        expect(task, where).toMatchObject({ status: 'failed', error: 'permanent failure (test)', attempt: 1 });
        expect([returned, raised, reports.filter((o) => o === 'failed').length], where).toEqual([0, 1, 1]);
        continue;
      }
      // Completed exactly once: one handler call returned and completed it; any other call that
      // returned had its report refused (or died with the killed process before reporting).
      expect(task.status, where).toBe('completed');
      const completions = reports.filter((o) => o === 'completed').length;
      expect(completions, where).toBeLessThanOrEqual(1);
      expect(completions + unreported, where).toBeGreaterThanOrEqual(1);
      expect(returned, where).toBeGreaterThanOrEqual(1);
      expect(returned, where).toBeLessThanOrEqual(1 + refused.length + unreported);
      const raisesFirst = named(stage === 1 ? PLAN.raiseFirst.greeting : PLAN.raiseFirst.reply, i);
      if (raisesFirst) {
        // Its first call raised, unless a kill cut that call short.
        expect(raised, where).toBeLessThanOrEqual(1);
        expect(raised + interrupted, where).toBeGreaterThanOrEqual(1);
      } else {
        expect(raised, where).toBe(0);
      }
      if (stage === 1) {
        expect(task.result).toEqual({ message: `Hello World from task ${i}!` });
      } else {
        const failedGreeting = named(PLAN.alwaysFail.greeting, i) || named(PLAN.permanent.greeting, i);
        expect(task.result).toEqual({ reply: `Task ${i} heard: ${failedGreeting ? 'null' : `Hello World from task ${i}!`}` });
      }
    }
  }
  // Lapsed leases are the exception (a process stalled for a whole lease on a busy machine).
  expect(refusedReports).toBeLessThan(TASKS / 100);

  // The killed worker's task ran again elsewhere and completed.
  const killed = callsOf(records, 'greeting', BLOCKED);
  expect(killed.filter((r) => r.kind === 'call' && r.pid === killedPid)).toHaveLength(1);
  expect(killed.filter((r) => r.kind !== 'call').map((r) => [r.kind, r.pid === killedPid])).toEqual([['returned', false]]);
  expect(greetings.get(BLOCKED)!.attempt).toBe(2);

  const invocations = (taskId: string) => records.filter((r) => r.kind === 'invocation' && r.taskId === taskId);
  // The message delivered twice ran once; its other delivery found the task running or finished.
  const duplicate = invocations(greetings.get(DUPLICATED)!.taskId);
  expect(duplicate.length).toBeGreaterThanOrEqual(2);
  expect(duplicate.filter((r) => r.outcome === 'completed')).toHaveLength(1);
  expect(duplicate.filter((r) => r.outcome !== 'completed').every((r) => r.outcome === 'busy' || r.outcome === 'finished')).toBe(true);
  // Two invocations of one message at once on one host: one ran it, the other found it busy.
  const doubled = invocations(greetings.get(DOUBLE_INVOKED)!.taskId);
  const ran = doubled.filter((r) => r.outcome === 'completed');
  expect(ran).toHaveLength(1);
  expect(doubled.some((r) => r.outcome === 'busy' && r.pid === ran[0]!.pid)).toBe(true);
  // The two overlapped for certain: the running call was held in its handler and returned only after the
  // other had answered busy (which may come before the hold began: the claim is taken before the handler starts).
  const order = doubleInvocationOrder(records, greetings.get(DOUBLE_INVOKED)!.taskId, ran[0]!.pid);
  expect([order.held >= 0, order.busy >= 0, order.held < order.returned, order.busy < order.returned], JSON.stringify(order)).toEqual([true, true, true, true]);
  // Only the foreign message made a worker raise.
  expect(records.filter((r) => r.kind === 'invocation' && r.raised !== undefined && r.taskId !== null).map((r) => r.raised)).toEqual([]);
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
