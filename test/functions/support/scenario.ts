import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, vi } from 'vitest';
import { buildTaskMessage, encodeTaskMessage } from '../../../src/transports/message.js';
import { parseJsonOutput, runGeo, type CliResult } from '../../support/cli.js';
import type { TestDatabase } from '../../support/db.js';
import { callsOf, readRecords, type HandlerRecord } from './records.js';
import { pythonEnv } from './python.js';

export const JOB_TYPE_MODULE = path.join(import.meta.dirname, 'functions-hello.mjs');
export const TASKS = 2_000;
/** The Functions app's lease (GEO_LEASE_SECONDS): short, so a killed worker's task comes back soon. */
export const LEASE_SECONDS = 5;
/** How often the test runs `geo retry-pending`, as cron would (every minute or five in production). */
const CRON_EVERY_MS = 3_000;

const every = (step: number, offset: number) => Array.from({ length: TASKS / step }, (_, k) => k * step + offset);

/** Its handler blocks on its first call, and the test kills that worker process. */
const BLOCKED = 150;

/** What the handlers do besides their job (test/functions/support/handlers.py). */
export const PLAN = {
  raiseFirst: { greeting: every(100, 7), reply: every(100, 13) },
  alwaysFail: { greeting: [1234] },
  permanent: { greeting: [1500] },
  block: { greeting: [BLOCKED] },
  slow: { greeting: { '321': 1.5 } },
};
/** Its message is put on the queue a second time. */
const DUPLICATED = 42;
/** Its first delivery is invoked twice at once on one host. */
const DOUBLE_INVOKED = 321;
const FOREIGN_BODY = '{"hello": "not a geo task"}';

/** A transport's queue, its hosts and how to look at it, for one scenario. */
export interface FunctionsLane {
  transport: 'storage-queue' | 'servicebus';
  /** Environment of a `geo` process on this lane (no DATABASE_URL, GEO_HOME or GEO_JOB_TYPES). */
  geoEnv: Record<string, string>;
  /** Starts the hosts; `python` is the environment their Python processes need beyond the transport's. */
  startHosts(python: Record<string, string>, doubleInvoke: string): Promise<void>;
  /** SIGKILLs the Python process `pid` (a worker process running a task) the way this host loses one. */
  killWorker(pid: number): Promise<void>;
  /** Puts a message on the queue as geo would write it (base64 on Storage Queue). */
  sendTaskMessage(json: string, messageId: string): Promise<void>;
  /** Puts a body on the queue that is not a geo task; returns what deadLettered() calls it. */
  sendForeign(body: string): Promise<string>;
  /** Messages still on the queue, visible, hidden, locked or scheduled. */
  messagesLeft(): Promise<number>;
  /**
   * What is on the dead-letter (poison) queue: bodies (Storage Queue, as the
   * hosts recorded poisoning them) or message ids (Service Bus).
   */
  deadLettered(records: HandlerRecord[]): Promise<string[]>;
  /** The hosts' recent error output, for a failure message. */
  diagnostics(): string;
  stop(): Promise<void>;
}

interface CronRun {
  result: CliResult;
  json?: { advancedStages: Array<{ stage: number; action: string }>; redelivered: { sent: number } };
}

/**
 * hello_world's two stages (functions_hello: fast retries) over the Functions
 * example with everything that goes wrong in production, then proves the
 * outcome from the database and the handlers' own records: every task ran to
 * completion exactly once or failed with its error, the job ended, nothing
 * waits for a message. geo's only process is a periodic retry-pending.
 */
export async function runScenario(db: TestDatabase, lane: FunctionsLane): Promise<void> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-functions-'));
  const records = path.join(home, 'records');
  await fs.mkdir(records);
  const geoEnv = { ...lane.geoEnv, DATABASE_URL: db.url, GEO_HOME: home, GEO_JOB_TYPES: JOB_TYPE_MODULE };
  const cron = new AbortController();
  let cronLoop: Promise<CronRun[]> | undefined;
  try {
    const submitted = await runGeo(['submit', 'functions_hello', '--param', `n=${TASKS}`, '--transport', lane.transport, '--json'], geoEnv, {
      timeoutMs: 120_000,
    });
    expect(submitted.code, submitted.stderr).toBe(0);
    const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);
    const tasks = await taskRows(db, jobId, 1);

    const duplicated = tasks.get(DUPLICATED)!;
    await lane.sendTaskMessage(encodeTaskMessage(buildTaskMessage({ ...duplicated, jobType: 'functions_hello' })), `${duplicated.taskId}:copy`);
    const foreign = await lane.sendForeign(FOREIGN_BODY);

    await lane.startHosts(
      pythonEnv({
        DATABASE_URL: db.url,
        GEO_LEASE_SECONDS: String(LEASE_SECONDS),
        GEO_TEST_RECORDS: records,
        GEO_TEST_PLAN: JSON.stringify(PLAN),
      }),
      tasks.get(DOUBLE_INVOKED)!.taskId,
    );
    cronLoop = runCron(geoEnv, cron.signal);

    // The worker running the blocked greeting is mid-task: kill it.
    const blocked = await vi.waitFor(
      async () => {
        const call = (await readRecords(records)).find((r) => r.kind === 'call' && r.taskType === 'greeting' && r.i === BLOCKED);
        if (!call) throw new Error(`greeting ${BLOCKED} has not started yet`);
        return call;
      },
      { timeout: 120_000, interval: 200 },
    );
    await lane.killWorker(blocked.pid);

    const status = await vi.waitFor(
      async () => {
        const { rows } = await db.pool.query<{ status: string }>('SELECT status FROM jobs WHERE job_id = $1', [jobId]);
        if (rows[0]!.status === 'processing') {
          throw new Error(`job still processing: ${JSON.stringify(await progress(db, jobId))}\n${lane.diagnostics()}`);
        }
        return rows[0]!.status;
      },
      { timeout: 200_000, interval: 500 },
    );
    expect(status).toBe('completed');
    // Late copies (the killed worker's messages, stale retries) are acknowledged, not poisoned.
    await vi.waitFor(
      async () => {
        const left = await lane.messagesLeft();
        if (left > 0) throw new Error(`${left} messages still on the queue`);
      },
      { timeout: 60_000, interval: 500 },
    );
    cron.abort();
    const runs = await cronLoop;

    const written = await readRecords(records);
    await checkOutcome(db, jobId, written, blocked.pid);
    // Only the foreign message was poisoned, and geo's sweep left it there.
    expect(await lane.deadLettered(written)).toEqual([foreign]);
    // Cron did the advancing and the redelivering. A run may find the broker too slow to answer
    // (exit 3: nothing claimed, the next run goes on); none is misconfigured or crashes.
    for (const run of runs) {
      expect([0, 1, 3], `exit ${run.result.code} ${run.result.signal}: ${run.result.stderr}`).toContain(run.result.code);
      expect(run.json, run.result.stdout).toBeDefined();
    }
    const done = runs.filter((r) => r.result.code !== 3);
    expect(done.some((r) => r.json!.advancedStages.some((a) => a.stage === 1 && a.action === 'queued-next-stage'))).toBe(true);
    expect(done.reduce((n, r) => n + r.json!.redelivered.sent, 0)).toBeGreaterThanOrEqual(
      PLAN.raiseFirst.greeting.length + PLAN.raiseFirst.reply.length,
    );
    // With the job over, cron has nothing left to do and says so.
    const last = await runGeo(['retry-pending', '--json'], geoEnv, { timeoutMs: 60_000 });
    expect(last.code, last.stderr).toBe(0);
  } finally {
    cron.abort();
    await cronLoop?.catch(() => undefined);
    await lane.stop();
    await fs.rm(home, { recursive: true, force: true });
  }
}

/** `geo retry-pending --json` every few seconds until stopped, one run at a time. */
async function runCron(env: Record<string, string>, signal: AbortSignal): Promise<CronRun[]> {
  const runs: CronRun[] = [];
  while (!signal.aborted) {
    const result = await runGeo(['retry-pending', '--json'], env, { timeoutMs: 60_000 });
    let json: CronRun['json'] | undefined;
    try {
      json = parseJsonOutput<CronRun['json']>(result);
    } catch {
      // Reported with the exit code once the scenario ends.
    }
    runs.push({ result, json });
    await sleep(CRON_EVERY_MS, undefined, { signal }).catch(() => undefined);
  }
  return runs;
}

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
async function taskRows(db: TestDatabase, jobId: string, stage: number): Promise<Map<number, TaskRow>> {
  const { rows } = await db.pool.query<TaskRow & { taskIndex: number }>(
    `SELECT t.task_id AS "taskId", t.job_id AS "jobId", t.task_type AS "taskType", t.stage, t.batch_id AS "batchId",
            t.parameters, geo_task_status(t.status, b.status) AS status, t.attempt, t.result, t.error, t.task_index AS "taskIndex"
     FROM tasks t JOIN batches b ON b.batch_id = t.batch_id WHERE t.job_id = $1 AND t.stage = $2`,
    [jobId, stage],
  );
  return new Map(rows.map((r) => [r.taskIndex, r]));
}

async function progress(db: TestDatabase, jobId: string): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ key: string; n: number }>(
    `SELECT t.stage || ':' || geo_task_status(t.status, b.status) AS key, count(*)::int AS n
     FROM tasks t JOIN batches b ON b.batch_id = t.batch_id WHERE t.job_id = $1 GROUP BY 1`,
    [jobId],
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.n]));
}

const named = (list: number[], i: number) => list.includes(i);

/** The database and the handlers' records agree on what each task went through. */
async function checkOutcome(db: TestDatabase, jobId: string, records: HandlerRecord[], killedPid: number): Promise<void> {
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
  for (const [stage, rows] of [[1, greetings], [2, replies]] as const) {
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
      expect(refused.every((o) => o === 'stale'), where).toBe(true);
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
