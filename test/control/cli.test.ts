import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaimNext, tasksFail } from '../../src/store/completion.js';
import { pruneBatches } from '../../src/store/prune.js';
import { type CliResult, parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { jobRow } from './support/inspect.js';

let db: TestDatabase;
let env: Record<string, string>;
let scratch: string;
beforeAll(async () => {
  db = await createTestDatabase();
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-control-cli-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(scratch, 'home') };
});
afterAll(async () => {
  await db.drop();
  await fs.rm(scratch, { recursive: true, force: true });
});

async function geo(args: string[]): Promise<CliResult> {
  return runGeo(args, env, { timeoutMs: 120_000 });
}

async function submit(n: number, name: string): Promise<string> {
  const run = await geo(['submit', 'hello_world', '--n', String(n), '--param', `name=${name}`, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return parseJsonOutput<{ jobId: string }>(run).jobId;
}

/** Runs every queued task and advances, until nothing is left. */
async function workUntilIdle(): Promise<void> {
  const run = await geo(['work', '--until-idle', '--idle', '1s', '--json']);
  expect(run.code, run.stderr).toBe(0);
}

/** Fails every task of a running job's first stage for good and lets it advance: the job ends failed. */
async function failJob(jobId: string): Promise<void> {
  const claimed = await tasksClaimNext({ db: db.pool, worker: 'cli-test', maxTasks: 10_000, leaseSeconds: 60, jobTypes: ['hello_world'] });
  for (const task of claimed.filter((t) => t.jobId === jobId)) {
    await tasksFail({ db: db.pool, taskId: task.taskId, claim: task.claim, error: 'broken on purpose', retryable: false });
  }
  await workUntilIdle();
  expect((await jobRow(db.pool, jobId))!.status).toBe('failed');
}

interface JobsDoc {
  jobs: Array<{
    jobId: string;
    jobType: string;
    status: string;
    paused: boolean;
    currentStage: { stage: number; name: string; status: string; expected: number; completed: number };
    ageMs: number;
  }>;
  more: boolean;
}

interface PruneDoc {
  jobs: Array<{ jobId: string; outcome: string; reason?: string; tasks: number; resumed: boolean; archive?: { file: string; tasks: number } }>;
  pruned: number;
  skipped: number;
  tasksDeleted: number;
  dryRun: boolean;
}

describe('geo jobs', () => {
  it('lists jobs newest first with type, status (paused shown), current stage and progress; filters by status and type; --limit says there are more', async () => {
    const done = [await submit(5, 'jobs-a'), await submit(5, 'jobs-b'), await submit(5, 'jobs-c')];
    await workUntilIdle();
    const running = await submit(5, 'jobs-paused');
    expect((await geo(['pause', running])).code).toBe(0);

    const all = parseJsonOutput<JobsDoc>(await geo(['jobs', '--json']));
    expect(all.jobs.map((j) => j.jobId)).toEqual([running, ...[...done].reverse()]);
    expect(all.more).toBe(false);
    expect(all.jobs[0]).toMatchObject({
      jobType: 'hello_world',
      status: 'processing',
      paused: true,
      currentStage: { stage: 1, name: 'greeting', status: 'processing', expected: 5, completed: 0 },
    });
    for (const job of all.jobs.slice(1)) {
      expect(job).toMatchObject({
        status: 'completed',
        paused: false,
        currentStage: { stage: 2, name: 'reply', status: 'completed', expected: 5, completed: 5 },
      });
    }
    expect(all.jobs.every((j) => j.ageMs >= 0)).toBe(true);

    expect(parseJsonOutput<JobsDoc>(await geo(['jobs', '--status', 'completed', '--json'])).jobs).toHaveLength(3);
    expect(parseJsonOutput<JobsDoc>(await geo(['jobs', '--type', 'tiles', '--json'])).jobs).toEqual([]);
    const limited = parseJsonOutput<JobsDoc>(await geo(['jobs', '--limit', '2', '--json']));
    expect(limited.jobs.map((j) => j.jobId)).toEqual([running, done[2]]);
    expect(limited.more).toBe(true);

    const human = await geo(['jobs', '--wide']);
    expect(human.code).toBe(0);
    const line = human.stdout.split('\n').find((l) => l.startsWith(running))!;
    expect(line).toMatch(/hello_world\s+paused\s+1\/2 greeting\s+0\/5 0%/);
    expect((await geo(['jobs', '--type', 'tiles'])).stdout).toContain('no jobs with type tiles');

    const wrong = await geo(['jobs', '--status', 'paused', '--json']);
    expect(wrong.code).toBe(2);
    expect(parseJsonOutput(wrong)).toMatchObject({ error: { code: 'INVALID_STATUS' } });
    expect((await geo(['resume', running])).code).toBe(0);
    await workUntilIdle();
  }, 180_000);
});

describe('geo archive', () => {
  it('writes the job, its stages and every task as NDJSON (gzip for .gz) and ends with a count line; a folder or a missing job is exit 2', async () => {
    const jobId = await submit(250, 'archive');
    await workUntilIdle();
    const plain = path.join(scratch, 'job.ndjson');
    const zipped = path.join(scratch, 'job.ndjson.gz');
    const first = await geo(['archive', jobId.slice(0, 10), '--output', plain, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(parseJsonOutput(first)).toMatchObject({ jobId, file: plain, gzip: false, stages: 2, tasks: 500 });
    expect(parseJsonOutput(await geo(['archive', jobId, '--output', zipped, '--json']))).toMatchObject({ gzip: true, tasks: 500 });

    const text = await fs.readFile(plain, 'utf8');
    expect(
      gunzipSync(await fs.readFile(zipped))
        .toString('utf8')
        .split('\n').length,
    ).toBe(text.split('\n').length);
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ record: 'job', jobId, jobType: 'hello_world', status: 'completed', parameters: { n: 250, name: 'archive' } });
    expect(lines.filter((l) => l.record === 'stage').map((l) => l.name)).toEqual(['greeting', 'reply']);
    const tasks = lines.filter((l) => l.record === 'task');
    expect(tasks).toHaveLength(500);
    expect(tasks[0]).toMatchObject({
      taskId: `${jobId.slice(0, 16)}-s1-greet-0`,
      stage: 1,
      taskIndex: 0,
      status: 'completed',
      attempt: 1,
      parameters: { i: 0, message: 'Hello archive from task 0!' },
      result: { message: 'Hello archive from task 0!' },
      error: null,
      history: null,
    });
    expect(lines[lines.length - 1]).toEqual({ record: 'end', jobId, stages: 2, tasks: 500 });
    // Nothing but the file: no temporary file is left beside it.
    expect((await fs.readdir(scratch)).filter((f) => f.includes('partial'))).toEqual([]);

    const folder = await geo(['archive', jobId, '--output', scratch, '--json']);
    expect(folder.code).toBe(2);
    expect(parseJsonOutput(folder)).toMatchObject({ error: { code: 'OUTPUT_UNWRITABLE' } });
    const missing = await geo(['archive', 'abcdef0123456789', '--output', plain, '--json']);
    expect(missing.code).toBe(2);
    expect(parseJsonOutput(missing)).toMatchObject({ error: { code: 'JOB_NOT_FOUND' } });
  }, 180_000);
});

describe('geo prune', () => {
  it('--dry-run deletes nothing; a prune deletes only finished jobs of the statuses asked that ended before the cutoff, never a running one', async () => {
    // The jobs of the tests before are not this test's.
    expect((await geo(['prune', '--finished-before', '0s'])).code).toBe(0);
    const completed = await submit(20, 'prune-completed');
    await workUntilIdle();
    const failed = await submit(20, 'prune-failed');
    await failJob(failed);
    const cancelled = await submit(20, 'prune-cancelled');
    expect((await geo(['cancel', cancelled, '--reason', 'prune test'])).code).toBe(0);
    const running = await submit(20, 'prune-running');

    const dry = parseJsonOutput<PruneDoc>(await geo(['prune', '--finished-before', '0s', '--dry-run', '--json']));
    expect(dry.dryRun).toBe(true);
    expect(dry.jobs.filter((j) => [completed, failed, cancelled].includes(j.jobId)).map((j) => j.outcome)).toEqual([
      'would-prune',
      'would-prune',
      'would-prune',
    ]);
    expect(dry.jobs.map((j) => j.jobId)).not.toContain(running);
    expect(await jobRow(db.pool, completed)).toBeDefined();

    // Finished an hour ago or more: none of these.
    expect(parseJsonOutput<PruneDoc>(await geo(['prune', '--finished-before', '1h', '--json'])).jobs).toEqual([]);
    const onlyFailed = parseJsonOutput<PruneDoc>(await geo(['prune', '--finished-before', '0s', '--status', 'failed', '--json']));
    expect(onlyFailed.jobs.map((j) => [j.jobId, j.outcome])).toEqual([[failed, 'pruned']]);
    expect(onlyFailed.tasksDeleted).toBe(20);
    const rest = await geo(['prune', '--finished-before', '0s']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stdout).toMatch(/^deleted 2 jobs finished before .*: 60 tasks, 3 batches/);
    for (const jobId of [completed, failed, cancelled]) expect(await jobRow(db.pool, jobId)).toBeUndefined();
    expect(await jobRow(db.pool, running)).toMatchObject({ status: 'processing' });

    const bad = await geo(['prune', '--finished-before', 'last tuesday', '--json']);
    expect(bad.code).toBe(2);
    expect(parseJsonOutput(bad)).toMatchObject({ error: { code: 'INVALID_OPTION', message: expect.stringContaining('--finished-before') } });
    const badStatus = await geo(['prune', '--finished-before', '0s', '--status', 'processing']);
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toContain('a running job is never pruned');
    await workUntilIdle();
  }, 240_000);

  it('two prunes at once delete each job once, and neither fails', async () => {
    const jobs: string[] = [];
    for (let i = 0; i < 6; i++) jobs.push(await submit(3_000, `prune-twice-${i}`));
    // Ended by a cancel (the quickest way to 3,000 finished tasks): big enough that the two overlap.
    for (const jobId of jobs) await db.pool.query(`SELECT geo_cancel_job($1, NULL, 'prune test')`, [jobId]);
    const args = ['prune', '--finished-before', '0s', '--chunk-batches', '1', '--json'];
    const [a, b] = await Promise.all([geo(args), geo(args)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const docs = [parseJsonOutput<PruneDoc>(a), parseJsonOutput<PruneDoc>(b)];
    // Jobs of the tests before may be pruned too; each of these was pruned exactly once.
    const pruned = docs.flatMap((d) => d.jobs.filter((j) => j.outcome === 'pruned' && jobs.includes(j.jobId)));
    expect(pruned.map((j) => j.jobId).sort()).toEqual([...jobs].sort());
    expect(pruned.every((j) => j.tasks === 3_000)).toBe(true);
    // What one had, the other skipped (or found gone) rather than fought over.
    const skipped = docs.flatMap((d) => d.jobs.filter((j) => j.outcome === 'skipped' && jobs.includes(j.jobId)));
    expect(skipped.length, 'the two prunes overlapped').toBeGreaterThan(0);
    for (const job of skipped) expect(['pruned-by-another', 'gone']).toContain(job.reason);
  }, 240_000);

  it('a prune stopped half-way is finished by the next; meanwhile retry-failed refuses the half-deleted job', async () => {
    const jobId = await submit(500, 'prune-halfway');
    await failJob(jobId);
    // What a prune stopped after its first chunks leaves: the mark, and part of the rows.
    await db.pool.query(`UPDATE jobs SET prune_started_at = now() WHERE job_id = $1`, [jobId]);
    const chunk = await pruneBatches(db.pool, { jobId, maxBatches: 2 });
    expect(chunk).toMatchObject({ batches: 2, tasks: 200, left: true });

    const retry = await geo(['retry-failed', jobId, '--json']);
    expect(retry.code).toBe(2);
    expect(parseJsonOutput(retry)).toMatchObject({ error: { code: 'JOB_PRUNING' } });
    expect((await jobRow(db.pool, jobId))!.status).toBe('failed');

    const archives = path.join(scratch, 'halfway');
    const next = parseJsonOutput<PruneDoc>(await geo(['prune', '--finished-before', '0s', '--archive-dir', archives, '--json']));
    // The archive is written before the first delete, never of a half-deleted job.
    expect(next.jobs).toEqual([expect.objectContaining({ jobId, outcome: 'pruned', resumed: true, tasks: 300 })]);
    expect(next.jobs[0]!.archive).toBeUndefined();
    expect(await jobRow(db.pool, jobId)).toBeUndefined();
  }, 180_000);
});

describe('steering an ended job', () => {
  it('cancel, pause and resume of a completed job are exit 2 with exactly one JSON document, the error', async () => {
    const jobId = await submit(3, 'ended');
    await workUntilIdle();
    for (const command of ['cancel', 'pause', 'resume']) {
      const run = await geo([command, jobId, '--json']);
      expect(run.code, command).toBe(2);
      expect(parseJsonOutput(run)).toEqual({ error: { code: 'JOB_ENDED', message: expect.stringContaining('completed') } });
    }
    const human = await geo(['cancel', jobId]);
    expect(human.code).toBe(2);
    expect(human.stderr).toContain('had already completed; nothing was cancelled');
  }, 120_000);
});
