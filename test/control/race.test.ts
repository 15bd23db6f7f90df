import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config/index.js';
import { advanceStages } from '../../src/core/advance.js';
import { defineJobType } from '../../src/core/job-types/define.js';
import type { JobType } from '../../src/core/job-types/job-type.js';
import { findJobType, registerJobTypes } from '../../src/core/job-types/registry.js';
import { prepareJob } from '../../src/core/prepare-job.js';
import { submitJob } from '../../src/core/submit.js';
import { createProducer } from '../../src/transports/index.js';
import type { TransportProducer } from '../../src/transports/transport.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { seededRandom, shuffle } from '../support/random.js';

/**
 * Steering a job while its stage ends: 8 connections deliver the last
 * completions of a stage (duplicates and permanent failures among them) and,
 * released in the same instant, cancel, pause and retry-failed are issued
 * while an advancer keeps handling finished stages. Then the round is played
 * out (resume, the retried tasks completed, advancement) and the database's
 * own record is read: test triggers log every stage finish, every stage
 * created and every job status change together with the job's status as
 * committed at that moment. Never may a stage finish, or a next stage be
 * created, once the job's cancel has committed; the next stage is created at
 * most once; the job ends at most once per life. The same harness over a
 * naive cancel (the job row only) must catch a stage finishing after it.
 */

const RACERS = 8;
const STAGE_SIZES = [1, 2, 7, 100];
/** Tasks left for the race: fewer than RACERS, so some are delivered twice. */
const RACED_TASKS = 6;

const raceType = defineJobType({
  name: 'race_test',
  description: 'test: n tasks, then one',
  params: z.object({ n: z.coerce.number().int().min(1), round: z.coerce.number().int() }).strict(),
  stages: [
    {
      from: 'params',
      name: 'work',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `w-${i}`, parameters: { i } };
      },
      handler: () => null,
    },
    {
      from: 'params',
      name: 'wrap',
      count: () => 1,
      *tasks() {
        yield { key: 'wrap', parameters: {} };
      },
      handler: () => null,
    },
  ],
});

// Each row records what the job's committed state was when the logged change was made
// (a statement inside a trigger reads the latest committed rows under READ COMMITTED).
const DETECTORS = `
CREATE TABLE race_events (
  id bigserial PRIMARY KEY, kind text NOT NULL, job_id text NOT NULL, stage integer,
  job_status text, paused boolean, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION race_log() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_status text; v_paused boolean;
BEGIN
  SELECT status, paused_at IS NOT NULL INTO v_status, v_paused FROM jobs WHERE job_id = NEW.job_id;
  INSERT INTO race_events (kind, job_id, stage, job_status, paused) VALUES (TG_ARGV[0], NEW.job_id, NEW.stage, v_status, v_paused);
  RETURN NULL;
END $$;
CREATE FUNCTION race_log_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO race_events (kind, job_id, job_status, paused) VALUES ('job-' || NEW.status, NEW.job_id, NEW.status, NEW.paused_at IS NOT NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER race_stage_created AFTER INSERT ON stages FOR EACH ROW EXECUTE FUNCTION race_log('stage-created');
CREATE TRIGGER race_stage_finished AFTER INSERT ON stage_completions FOR EACH ROW EXECUTE FUNCTION race_log('stage-finished');
-- geo_stage_finish finishing a stage again (after retry-failed) rewrites its row's created_at.
CREATE TRIGGER race_stage_finished_again AFTER UPDATE ON stage_completions FOR EACH ROW
  WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION race_log('stage-finished');
CREATE TRIGGER race_job_status AFTER UPDATE OF status ON jobs FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION race_log_job();
-- Deliberately wrong: a cancel that ends the job row only and leaves its stages open.
CREATE FUNCTION naive_cancel_job(p_job_id text) RETURNS text LANGUAGE sql AS $$
  UPDATE jobs SET status = 'cancelled', completed_at = now(), updated_at = now()
  WHERE job_id = p_job_id AND status = 'processing' RETURNING 'cancelled'
$$;`;

type CancelSql = 'SELECT geo_cancel_job($1, NULL, $2)' | 'SELECT naive_cancel_job($1), $2::text';
const REAL_CANCEL: CancelSql = 'SELECT geo_cancel_job($1, NULL, $2)';
const NAIVE_CANCEL: CancelSql = 'SELECT naive_cancel_job($1), $2::text';

let db: TestDatabase;
let setup: pg.Client;
let racers: pg.Client[];
let controls: pg.Client[];
let producer: TransportProducer;

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  return client;
}

beforeAll(async () => {
  if (!findJobType('race_test')) registerJobTypes([{ jobType: raceType as unknown as JobType, origin: 'test/control/race.test.ts' }]);
  db = await createTestDatabase();
  setup = await connect();
  racers = await Promise.all(Array.from({ length: RACERS }, connect));
  controls = await Promise.all(Array.from({ length: 3 }, connect));
  await setup.query(DETECTORS);
  producer = await createProducer('local', loadConfig({ DATABASE_URL: db.url }));
});
afterAll(async () => {
  await producer?.close();
  await Promise.all([setup, ...racers, ...controls].map((c) => c.end()));
  await db.drop();
});

interface Event {
  kind: string;
  stage: number | null;
  jobStatus: string;
  paused: boolean;
}

interface Round {
  round: number;
  jobId: string;
  size: number;
  controls: string[];
  /** Completion calls (raced or played out) that reported the stage finished. */
  finishers: number;
  events: Event[];
  finalStatus: string;
  /** Tasks of stage 1 retry-failed ran again. */
  retried: number;
  /** Advancements made while the job was paused after the race (must be none). */
  advancedWhilePaused: number;
}

const advanceOptions = { leaseSeconds: 30, concurrency: 1, batchSize: 100 };
const advance = () => advanceStages({ db: db.pool, transportFor: async () => producer, options: advanceOptions });

async function claimAll(jobId: string): Promise<Map<string, string>> {
  const { rows } = await setup.query<{ taskId: string; claim: string }>(
    `SELECT c.task_id AS "taskId", c.claim::text AS claim
     FROM geo_claim_tasks(ARRAY(SELECT task_id FROM tasks WHERE job_id = $1 AND status = 'queued' ORDER BY task_id), 'racer', interval '5 minutes') c
     WHERE c.outcome = 'claimed'`,
    [jobId],
  );
  return new Map(rows.map((r) => [r.taskId, r.claim]));
}

async function complete(client: pg.Client, taskId: string, claim: string): Promise<boolean> {
  const { rows } = await client.query<{ finished: boolean }>(`SELECT stage_completed AS finished FROM geo_complete_task($1, $2::bigint, 'null')`, [
    taskId,
    claim,
  ]);
  return rows[0]?.finished ?? false;
}

async function fail(client: pg.Client, taskId: string, claim: string): Promise<boolean> {
  const { rows } = await client.query<{ finished: boolean }>(`SELECT stage_completed AS finished FROM geo_fail_task($1, $2::bigint, 'permanent', false)`, [
    taskId,
    claim,
  ]);
  return rows[0]?.finished ?? false;
}

async function raceRound(round: number, cancelSql: CancelSql, rnd: () => number, forceCancel: boolean): Promise<Round> {
  const size = STAGE_SIZES[round % STAGE_SIZES.length]!;
  const job = prepareJob('race_test', { n: size, round });
  const submitted = await submitJob({
    db: db.pool,
    transport: producer,
    job,
    destination: { transport: 'local' },
    options: { batchSize: 100, concurrency: 1, leaseSeconds: 30 },
  });
  const jobId = submitted.jobId;
  const claims = await claimAll(jobId);
  const taskIds = shuffle([...claims.keys()], rnd);
  const raced = taskIds.slice(0, Math.min(RACED_TASKS, size));
  // Sometimes one task has already failed for good: retry-failed then has something to run again.
  const settledBefore = taskIds.slice(raced.length);
  const failedBefore = settledBefore.length > 0 && rnd() < 0.5 ? settledBefore[0] : undefined;
  for (const taskId of settledBefore) {
    if (taskId === failedBefore) await fail(setup, taskId, claims.get(taskId)!);
    else await complete(setup, taskId, claims.get(taskId)!);
  }
  const failing = new Set(raced.filter(() => rnd() < 0.3));
  const deliveries = shuffle(
    Array.from({ length: RACERS }, (_, i) => {
      const taskId = raced[i % raced.length]!;
      return { taskId, action: i < raced.length && failing.has(taskId) ? 'fail' : 'complete' };
    }),
    rnd,
  );
  const chosen = [...(forceCancel || rnd() < 0.4 ? ['cancel'] : []), ...(rnd() < 0.35 ? ['pause'] : []), ...(rnd() < 0.5 ? ['retry-failed'] : [])];

  const parties = RACERS + chosen.length + 1;
  let ready = 0;
  let release!: () => void;
  const go = new Promise<void>((resolve) => (release = resolve));
  const arrive = async () => {
    if (++ready === parties) release();
    await go;
  };
  let racing = true;
  const racerReports = racers.map(async (client, i) => {
    await client.query('SELECT 1');
    await arrive();
    const d = deliveries[i]!;
    const claim = claims.get(d.taskId)!;
    return d.action === 'fail' ? fail(client, d.taskId, claim) : complete(client, d.taskId, claim);
  });
  const controlCalls = chosen.map(async (name, i) => {
    const client = controls[i]!;
    await client.query('SELECT 1');
    await arrive();
    if (name === 'cancel') await client.query(cancelSql, [jobId, 'race']);
    else if (name === 'pause') await client.query('SELECT geo_pause_job($1)', [jobId]);
    else await client.query('SELECT * FROM geo_retry_failed($1, NULL, NULL)', [jobId]);
  });
  // An advancer handling finished stages throughout the race, as geo work's does.
  const advancer = (async () => {
    await arrive();
    while (racing) await advance();
    await advance();
  })();
  // Every party settles before anything is judged (or the next round starts on these connections).
  const settled = await Promise.allSettled([Promise.all(racerReports), Promise.all(controlCalls)]);
  racing = false;
  await advancer;
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  const finished = (settled[0] as PromiseFulfilledResult<boolean[]>).value;

  // Played out: while paused nothing advances; then resumed, retried tasks done, advanced.
  let advancedWhilePaused = 0;
  const paused = (await setup.query<{ paused: boolean }>(`SELECT paused_at IS NOT NULL AS paused FROM jobs WHERE job_id = $1`, [jobId])).rows[0]!.paused;
  if (paused) {
    advancedWhilePaused = (await advance()).filter((a) => a.jobId === jobId).length;
    await setup.query('SELECT geo_resume_job($1)', [jobId]);
  }
  let finishers = finished.filter(Boolean).length;
  for (let pass = 0; pass < 5; pass++) {
    const more = await claimAll(jobId);
    for (const [taskId, claim] of more) if (await complete(setup, taskId, claim)) finishers++;
    const advanced = await advance();
    if (more.size === 0 && advanced.length === 0) break;
  }
  const { rows: events } = await setup.query<Event>(`SELECT kind, stage, job_status AS "jobStatus", paused FROM race_events WHERE job_id = $1 ORDER BY id`, [
    jobId,
  ]);
  const { rows: final } = await setup.query<{ status: string; retried: number }>(
    `SELECT j.status, s.retried_count AS retried FROM jobs j JOIN stages s ON s.job_id = j.job_id AND s.stage = 1 WHERE j.job_id = $1`,
    [jobId],
  );
  return { round, jobId, size, controls: chosen, finishers, events, finalStatus: final[0]!.status, retried: final[0]!.retried, advancedWhilePaused };
}

/** What a round did wrong, in words (empty: nothing). */
function violations(r: Round): string[] {
  const wrong: string[] = [];
  const afterCancel = r.events.filter((e) => (e.kind === 'stage-finished' || e.kind === 'stage-created') && e.jobStatus === 'cancelled');
  if (afterCancel.length > 0) wrong.push(`${afterCancel.map((e) => `${e.kind} ${e.stage}`).join(', ')} after the cancel committed`);
  const created = r.events.filter((e) => e.kind === 'stage-created' && e.stage === 2).length;
  if (created > 1) wrong.push(`stage 2 created ${created} times`);
  const finishes = r.events.filter((e) => e.kind === 'stage-finished' && e.stage === 1).length;
  // Once, and once more only when retry-failed reopened it.
  if (finishes > (r.controls.includes('retry-failed') ? 2 : 1)) wrong.push(`stage 1 finished ${finishes} times`);
  // A job ends at most once per life: every end but the last is followed by a reopening.
  const lives = r.events.filter((e) => e.kind.startsWith('job-')).map((e) => e.kind);
  for (let i = 1; i < lives.length; i++)
    if (lives[i] !== 'job-processing' && lives[i - 1] !== 'job-processing') wrong.push(`job ended twice: ${lives.join(' ')}`);
  if (r.advancedWhilePaused > 0) wrong.push('advanced while paused');
  if (r.finalStatus === 'processing') wrong.push('the job never ended');
  return wrong;
}

async function runRounds(rounds: number, cancelSql: CancelSql, seed: number, forceCancel = false): Promise<Round[]> {
  const rnd = seededRandom(seed);
  const results: Round[] = [];
  for (let round = 0; round < rounds; round++) results.push(await raceRound(round + seed * 1_000, cancelSql, rnd, forceCancel));
  return results;
}

describe('cancel, pause and retry-failed racing the last completions of a stage', () => {
  it('the stage finishes and advances at most once, never after a cancel committed, and not while paused', async () => {
    const seed = 18;
    const results = await runRounds(120, REAL_CANCEL, seed);
    const wrong = results
      .map((r) => ({ round: r.round, size: r.size, controls: r.controls, wrong: violations(r), events: r.events }))
      .filter((r) => r.wrong.length > 0);
    expect(wrong, `seed ${seed}`).toEqual([]);
    // The rounds covered what they claim: cancels that beat the last completion and cancels that lost to it,
    // pauses, retry-failed running failed tasks again, and jobs that completed.
    const cancelled = results.filter((r) => r.finalStatus === 'cancelled');
    expect(cancelled.filter((r) => r.events.some((e) => e.kind === 'stage-finished')).length).toBeGreaterThan(0);
    expect(cancelled.filter((r) => !r.events.some((e) => e.kind === 'stage-finished')).length).toBeGreaterThan(0);
    expect(results.filter((r) => r.controls.includes('pause')).length).toBeGreaterThan(10);
    expect(results.filter((r) => r.retried > 0).length).toBeGreaterThan(5);
    expect(results.filter((r) => r.finalStatus === 'completed').length).toBeGreaterThan(10);
  }, 300_000);

  it('catches a naive cancel that ends the job row only: a stage finishes after it (the harness can fail)', async () => {
    const results = await runRounds(40, NAIVE_CANCEL, 7, true);
    const caught = results.filter((r) => violations(r).some((v) => v.includes('after the cancel committed')));
    expect(caught.length).toBeGreaterThan(0);
  }, 300_000);
});
