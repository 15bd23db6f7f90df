import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, vi } from 'vitest';
import { buildTaskMessage, encodeTaskMessage } from '../../../src/transports/message.js';
import { type CliResult, parseJsonOutput, runGeo } from '../../support/cli.js';
import type { TestDatabase } from '../../support/db.js';
import { releaseOnceBusy } from './double-invocation.js';
import { checkOutcome, progress, taskRows } from './outcome.js';
import { BLOCKED, DOUBLE_INVOKED, DUPLICATED, JOB_TYPE_MODULE, LEASE_SECONDS, PLAN, TASKS } from './plan.js';
import { pythonEnv } from './python.js';
import { type HandlerRecord, readRecords } from './records.js';

/** How often the test runs `geo retry-pending`, as cron would (every minute or five in production). */
const CRON_EVERY_MS = 3_000;

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
    // Runs alongside the kill below; awaited after it (and never left rejected unobserved meanwhile).
    const doubleReleased = releaseOnceBusy(records, tasks.get(DOUBLE_INVOKED)!.taskId);
    doubleReleased.catch(() => undefined);
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
    await doubleReleased;

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
    expect(done.reduce((n, r) => n + r.json!.redelivered.sent, 0)).toBeGreaterThanOrEqual(PLAN.raiseFirst.greeting.length + PLAN.raiseFirst.reply.length);
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
