import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksCompleteMany } from '../../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { mostAtOnce } from '../../support/intervals.js';
import { seededRandom, shuffle } from '../../support/random.js';
import { waitFor } from '../../support/wait.js';
import { addStage, createJob } from './fixtures.js';

/**
 * The stage-completion race: 8 connections released together at each stage's
 * last completions, with duplicate deliveries (one task completed by several
 * connections) and permanent failures mixed in. Exactly one call may report
 * the stage finished. The same harness run over a naive count-based
 * completion must catch it reporting more than one, or it proves nothing.
 */

const CONNECTIONS = 8;
const STAGE_SIZES = [1, 2, 7, 100, 257];
/** Tasks left for the race: fewer than CONNECTIONS, so some are always delivered twice. */
const RACED_TASKS = 6;

let db: TestDatabase;
/** Writes each round's stage and reads the outcome. */
let setup: pg.Client;
let racers: pg.Client[];

// Commits without waiting for the WAL flush: a round is a dozen commits, and on
// this shared disk a flush costs several milliseconds. Locks, snapshots and
// visibility, all the race depends on, are the same either way.
async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('SET synchronous_commit = off');
  return client;
}

beforeAll(async () => {
  db = await createTestDatabase();
  setup = await connect();
  racers = await Promise.all(Array.from({ length: CONNECTIONS }, connect));
  await setup.query(NAIVE_FUNCTIONS);
});
afterAll(async () => {
  await Promise.all([setup, ...racers].map((c) => c.end()));
  await db.drop();
});

/**
 * One delivery's report: did the call say it finished the stage, and when did
 * the server start and end running it (to show the calls overlapped).
 */
interface Report {
  finished: boolean;
  /** Microseconds since the epoch, on the server's clock. */
  started: number;
  ended: number;
}

/** How a delivery is reported: each call runs `fn` (a SELECT returning `finished`) timed by the server. */
interface CompletionApi {
  complete(client: pg.Client, taskId: string, claim: string): Promise<Report>;
  fail(client: pg.Client, taskId: string, claim: string): Promise<Report>;
}

async function timed(client: pg.Client, call: string, values: unknown[]): Promise<Report> {
  const { rows } = await client.query<Report>(
    `SELECT extract(epoch FROM statement_timestamp()) * 1e6 AS started, r.finished,
            extract(epoch FROM clock_timestamp()) * 1e6 AS ended
     FROM (${call}) r`,
    values,
  );
  const row = rows[0]!;
  return { finished: row.finished, started: Number(row.started), ended: Number(row.ended) };
}

const realApi: CompletionApi = {
  complete: (client, taskId, claim) =>
    timed(client, `SELECT stage_completed AS finished FROM geo_complete_task($1, $2::bigint, '{"ok": true}')`, [taskId, claim]),
  fail: (client, taskId, claim) => timed(client, `SELECT stage_completed AS finished FROM geo_fail_task($1, $2::bigint, 'permanent', false)`, [taskId, claim]),
};

// "Last task" decided by counting the stage's finished rows after the update,
// with no state transition: a duplicate delivery that waited for the first
// one's row lock, or came after it, counts everything finished and reports the
// stage again.
const NAIVE_FUNCTIONS = `
CREATE FUNCTION naive_stage_done(p_task_id text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_job_id text;
  v_stage integer;
  v_finished integer;
BEGIN
  SELECT job_id, stage INTO v_job_id, v_stage FROM tasks WHERE task_id = p_task_id;
  SELECT count(*) INTO v_finished FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
  WHERE b.job_id = v_job_id AND b.stage = v_stage AND t.status IN ('completed', 'failed');
  RETURN v_finished = (SELECT task_count FROM stages WHERE job_id = v_job_id AND stage = v_stage);
END $$;
CREATE FUNCTION naive_complete_task(p_task_id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE tasks SET status = 'completed', completed_at = now()
  WHERE task_id = p_task_id AND status NOT IN ('completed', 'failed');
  RETURN naive_stage_done(p_task_id);
END $$;
CREATE FUNCTION naive_fail_task(p_task_id text, p_attempt integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE tasks SET status = 'failed', completed_at = now()
  WHERE task_id = p_task_id AND status = 'processing' AND attempt = p_attempt;
  RETURN naive_stage_done(p_task_id);
END $$;`;

const naiveApi: CompletionApi = {
  complete: (client, taskId) => timed(client, 'SELECT naive_complete_task($1) AS finished', [taskId]),
  fail: (client, taskId) => timed(client, 'SELECT naive_fail_task($1, 1) AS finished', [taskId]),
};

interface Delivery {
  taskId: string;
  action: 'complete' | 'fail';
}

interface RoundResult {
  label: string;
  size: number;
  /** Calls that reported stage_completed. */
  finishers: number;
  /** Most calls that were running at one moment. */
  overlap: number;
  outboxRows: number;
  stage: { status: string; completed: number; failed: number; completedRows: number; failedRows: number };
}

/**
 * One round on a fresh stage: everything but the last few tasks completed in
 * one grouped call, the last ones claimed, then CONNECTIONS deliveries of them
 * released at once.
 */
async function raceStage(api: CompletionApi, jobId: string, stage: number, size: number, rnd: () => number): Promise<RoundResult> {
  const { taskIds } = await addStage(setup, jobId, { stage, taskCount: size });
  const shuffled = shuffle(taskIds, rnd);
  const raced = shuffled.slice(0, Math.min(RACED_TASKS, size));
  const claimed = await setup.query<{ taskId: string; claim: string }>(
    `SELECT task_id AS "taskId", claim::text AS claim FROM geo_claim_tasks($1::text[], 'racer', interval '5 minutes')`,
    [taskIds],
  );
  const claims = new Map(claimed.rows.map((r) => [r.taskId, r.claim]));
  await tasksCompleteMany({
    db: setup,
    completions: shuffled.slice(raced.length).map((taskId) => ({ taskId, claim: claims.get(taskId)!, resultJson: null })),
  });
  // Every raced task gets at least one delivery; about one in four has one
  // delivery that fails permanently (and may lose to a duplicate that completes).
  const failing = new Set(raced.filter(() => rnd() < 0.25));
  const deliveries = shuffle(
    Array.from({ length: CONNECTIONS }, (_, i): Delivery => {
      const taskId = raced[i % raced.length]!;
      return { taskId, action: i < raced.length && failing.has(taskId) ? 'fail' : 'complete' };
    }),
    rnd,
  );

  let ready = 0;
  let release!: () => void;
  const go = new Promise<void>((resolve) => (release = resolve));
  const reports = await Promise.all(
    racers.map(async (client, i) => {
      const delivery = deliveries[i]!;
      await client.query('SELECT 1');
      if (++ready === CONNECTIONS) release();
      await go;
      const claim = claims.get(delivery.taskId)!;
      return delivery.action === 'fail' ? api.fail(client, delivery.taskId, claim) : api.complete(client, delivery.taskId, claim);
    }),
  );

  const { rows } = await setup.query(
    `SELECT s.status, s.completed_count AS completed, s.failed_count AS failed,
            (SELECT count(*)::int FROM stage_completions sc WHERE sc.job_id = s.job_id AND sc.stage = s.stage) AS "outboxRows",
            (SELECT count(*)::int FROM tasks t JOIN batches b ON b.batch_id = t.batch_id
             WHERE b.job_id = s.job_id AND b.stage = s.stage AND t.status = 'completed') AS "completedRows",
            (SELECT count(*)::int FROM tasks t JOIN batches b ON b.batch_id = t.batch_id
             WHERE b.job_id = s.job_id AND b.stage = s.stage AND t.status = 'failed') AS "failedRows"
     FROM stages s WHERE s.job_id = $1 AND s.stage = $2`,
    [jobId, stage],
  );
  const { outboxRows, ...state } = rows[0];
  return {
    label: `${jobId}:${stage}`,
    size,
    finishers: reports.filter((r) => r.finished).length,
    overlap: mostAtOnce(reports.map((r) => ({ start: r.started, end: r.ended }))),
    outboxRows,
    stage: state,
  };
}

/** `jobs` jobs with one stage per size in STAGE_SIZES, each stage raced once. */
async function runRounds(api: CompletionApi, jobs: number, seed: number): Promise<RoundResult[]> {
  const rnd = seededRandom(seed);
  const results: RoundResult[] = [];
  for (let j = 0; j < jobs; j++) {
    const jobId = await createJob(setup, { stageCount: STAGE_SIZES.length });
    for (const [i, size] of STAGE_SIZES.entries()) results.push(await raceStage(api, jobId, i + 1, size, rnd));
  }
  return results;
}

describe('stage completion under concurrent last completions', () => {
  it('reports each stage finished exactly once, with one outbox row, one notification and exact counters', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const notified = new Map<string, number>();
    listener.on('notification', (n) => notified.set(n.payload ?? '', (notified.get(n.payload ?? '') ?? 0) + 1));
    try {
      await listener.query('LISTEN geo_stage_completed');
      const seed = 20_240_601;
      const results = await runRounds(realApi, 60, seed);
      expect(results).toHaveLength(300);
      const wrong = results.filter(
        (r) =>
          r.finishers !== 1 ||
          r.outboxRows !== 1 ||
          r.stage.completed !== r.stage.completedRows ||
          r.stage.failed !== r.stage.failedRows ||
          r.stage.completed + r.stage.failed !== r.size ||
          r.stage.status !== (r.stage.failed > 0 ? 'failed' : 'completed'),
      );
      expect(wrong, `seed ${seed}`).toEqual([]);
      // The deliveries did run at the same time: in many rounds the server was running several at one moment.
      expect(results.filter((r) => r.overlap >= 2).length).toBeGreaterThan(results.length / 10);
      // The rounds did include permanent failures that counted.
      expect(results.filter((r) => r.stage.failed > 0).length).toBeGreaterThan(10);
      // Notifications arrive in commit order: once this one is in, every stage's is.
      await db.pool.query(`SELECT pg_notify('geo_stage_completed', 'end')`);
      await waitFor('the end notification', () => (notified.has('end') ? true : undefined), { timeoutMs: 10_000, intervalMs: 10 });
      for (const r of results) expect(notified.get(r.label), r.label).toBe(1);
    } finally {
      await listener.end();
    }
  });

  it('catches a naive count-based completion reporting a stage finished more than once (the harness can fail)', async () => {
    const results = await runRounds(naiveApi, 10, 7);
    expect(results.filter((r) => r.finishers > 1).length).toBeGreaterThan(0);
  });
});
