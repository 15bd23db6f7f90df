import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Dashboard } from '../../src/dashboard/server.js';
import { tasksClaimNext, tasksCompleteMany, tasksFail, tasksRelease } from '../../src/store/completion.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { sleep } from '../support/wait.js';
import { followEvents, getJson, startTestDashboard } from './support.js';

let db: TestDatabase;
let env: Record<string, string>;
let dashboard: Dashboard;

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-dashboard-test-unused') };
  dashboard = await startTestDashboard(db.pool);
});
afterAll(async () => {
  await dashboard?.close();
  await db.drop();
});

async function submit(args: string[]): Promise<string> {
  const run = await runGeo(['submit', ...args, '--json'], env);
  expect(run.code, run.stderr).toBe(0);
  return parseJsonOutput<{ jobId: string }>(run).jobId;
}

/**
 * Claims up to `max` tasks of one job for `worker`: the local queue hands out
 * any job's tasks, so those of other jobs are given back at once.
 */
async function claimOf(jobId: string, max: number, worker = 'api-test') {
  const claimed = await tasksClaimNext({ db: db.pool, worker, maxTasks: 100_000, leaseSeconds: 60, jobTypes: JOB_TYPES });
  const mine = claimed.filter((t) => t.taskId.startsWith(jobId.slice(0, 16))).slice(0, max);
  const kept = new Set(mine.map((t) => t.taskId));
  await tasksRelease({ db: db.pool, held: claimed.filter((t) => !kept.has(t.taskId)) });
  return mine;
}

/** Every job type these tests submit (the local queue hands out only the types a worker names). */
const JOB_TYPES = ['hello_world', 'tiles', 'boxes_test'];

/** Task statuses by task id, straight from SQL (the ground truth every report reads). */
async function taskStatuses(jobId: string): Promise<Map<string, string>> {
  const { rows } = await db.pool.query<{ taskId: string; status: string }>(
    `SELECT t.task_id AS "taskId", t.status
     FROM task_states t WHERE t.job_id = $1`,
    [jobId],
  );
  return new Map(rows.map((r) => [r.taskId, r.status]));
}

/** The status document without what moves with the clock. */
function timeless(doc: Record<string, unknown>) {
  const { elapsedMs: _e, tasksPerSecond: _t, stages, ...rest } = doc as { elapsedMs: number; tasksPerSecond: number; stages: Array<Record<string, unknown>> };
  return { ...rest, stages: stages.map(({ elapsedMs: _se, tasksPerSecond: _st, ...stage }) => stage) };
}

describe('the dashboard API', () => {
  it('GET /api/jobs/<id> is the document geo status <id> --json prints', async () => {
    const jobId = await submit(['hello_world', '--n', '300', '--param', 'name=api-status']);
    const claimed = await claimOf(jobId, 120);
    await tasksCompleteMany({
      db: db.pool,
      completions: claimed.slice(0, 100).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'm' }) })),
    });
    await tasksFail({ db: db.pool, taskId: claimed[100]!.taskId, claim: claimed[100]!.claim, error: 'boom', retryable: false });

    const api = await getJson(`${dashboard.url}api/jobs/${jobId}`);
    const cli = parseJsonOutput(await runGeo(['status', jobId, '--json'], env));
    expect(Object.keys(api)).toEqual(Object.keys(cli));
    expect(timeless(api)).toEqual(timeless(cli));
    expect(api).toMatchObject({ status: 'processing', stages: [expect.objectContaining({ completed: 100, failed: 1, processing: 19 }), expect.anything()] });
    // A prefix works as on the command line.
    expect(timeless(await getJson(`${dashboard.url}api/jobs/${jobId.slice(0, 10)}`))).toEqual(timeless(cli));
  });

  it('answers an unknown job with 404 and the error document, a malformed query with 400', async () => {
    const missing = await fetch(`${dashboard.url}api/jobs/${'ab'.repeat(32)}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'JOB_NOT_FOUND', message: expect.stringContaining('no job') } });
    const bad = await fetch(`${dashboard.url}api/jobs?limit=0`);
    expect(bad.status).toBe(400);
    expect((await bad.json()) as object).toMatchObject({ error: { code: 'INVALID_QUERY' } });
    expect((await fetch(`${dashboard.url}api/jobs?status=sleeping`)).status).toBe(400);
    expect((await fetch(`${dashboard.url}api/nothing`)).status).toBe(404);
    expect((await fetch(`${dashboard.url}api/jobs`, { method: 'DELETE' })).status).toBe(405);
  });

  it('GET /api/jobs/<id>/tiles has one polygon per tile with its task id and SQL status; ?zoom= counts them per coarser tile', async () => {
    const jobId = await submit(['tiles', '--param', 'bbox=5.9,45.8,10.5,47.8', '--param', 'zoom=9']);
    const claimed = await claimOf(jobId, 20);
    await tasksCompleteMany({
      db: db.pool,
      completions: claimed.slice(0, 12).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({}) })),
    });
    await tasksFail({ db: db.pool, taskId: claimed[12]!.taskId, claim: claimed[12]!.claim, error: 'no data', retryable: false });
    const truth = await taskStatuses(jobId);
    expect([...truth.values()].filter((s) => s === 'processing')).toHaveLength(7);

    type Feature = { geometry: { type: string; coordinates: number[][][] }; properties: Record<string, unknown> };
    const all = await getJson<{ type: string; features: Feature[] }>(`${dashboard.url}api/jobs/${jobId}/tiles`);
    expect(all.type).toBe('FeatureCollection');
    expect(all.features).toHaveLength(truth.size);
    const drawn = new Map(all.features.map((f) => [f.properties.taskId as string, f.properties.status as string]));
    expect(drawn).toEqual(truth);
    const one = all.features.find((f) => f.properties.taskId === claimed[0]!.taskId)!;
    const { z, x, y } = one.properties.tile as { z: number; x: number; y: number };
    expect(claimed[0]!.taskId).toContain(`tile-${z}-${x}-${y}`);
    expect(one.geometry.type).toBe('Polygon');
    expect(one.geometry.coordinates[0]).toHaveLength(5);

    const coarse = await getJson<{ features: Feature[] }>(`${dashboard.url}api/jobs/${jobId}/tiles?zoom=7`);
    const sum = (key: string) =>
      coarse.features.reduce((n, f) => n + (key === 'tasks' ? (f.properties.tasks as number) : (f.properties.counts as Record<string, number>)[key]!), 0);
    expect(coarse.features.length).toBeLessThan(truth.size / 4);
    expect(coarse.features.every((f) => f.properties.taskId === null && (f.properties.cell as { z: number }).z === 7)).toBe(true);
    expect(sum('tasks')).toBe(truth.size);
    expect(sum('completed')).toBe(12);
    expect(sum('failed')).toBe(1);
    expect(sum('processing')).toBe(7);
    expect(coarse.features.filter((f) => f.properties.status === 'failed')).toHaveLength(1);

    // A viewport keeps only its tiles: the western half of the box.
    const west = await getJson<{ features: Feature[] }>(`${dashboard.url}api/jobs/${jobId}/tiles?bbox=5.9,45.8,8.2,47.8`);
    const westTruth = all.features.filter((f) => f.geometry.coordinates[0]![0]![0]! < 8.2);
    expect(west.features.length).toBe(westTruth.length);
    expect(west.features.length).toBeGreaterThan(0);
    expect(west.features.length).toBeLessThan(truth.size);

    const map = await getJson<{ stages: Array<{ stage: number; tasks: number; minZoom: number; maxZoom: number; bbox: number[] }> }>(
      `${dashboard.url}api/jobs/${jobId}/map`,
    );
    expect(map.stages).toEqual([{ stage: 1, kind: 'tile', tasks: truth.size, minZoom: 9, maxZoom: 9, bbox: expect.any(Array) }]);
    expect(map.stages[0]!.bbox[0]).toBeLessThanOrEqual(5.9);
    expect(map.stages[0]!.bbox[2]).toBeGreaterThanOrEqual(10.5);

    const task = await getJson(`${dashboard.url}api/jobs/${jobId}/tasks/${encodeURIComponent(claimed[12]!.taskId)}`);
    expect(task).toMatchObject({ taskId: claimed[12]!.taskId, status: 'failed', error: 'no data', worker: 'api-test', attempt: 1 });
  });

  it('tasks with a bbox are mapped as their boxes, and counted in the cell of their centre when aggregated', async () => {
    const module = path.resolve(import.meta.dirname, 'support/boxes-job-type.mjs');
    const run = await runGeo(['--job-types', module, 'submit', 'boxes_test', '--param', 'n=6', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const { jobId } = parseJsonOutput<{ jobId: string }>(run);
    const map = await getJson<{ stages: unknown[] }>(`${dashboard.url}api/jobs/${jobId}/map`);
    expect(map.stages).toEqual([{ stage: 1, kind: 'bbox', tasks: 6, minZoom: 8, maxZoom: 8, bbox: [10, 45, 16, 46] }]);
    type Feature = {
      geometry: { coordinates: number[][][] };
      properties: { taskId: string | null; status: string; bbox?: number[]; tasks?: number; cell?: { z: number; x: number; y: number } };
    };
    const all = await getJson<{ features: Feature[] }>(`${dashboard.url}api/jobs/${jobId}/tiles`);
    expect(all.features).toHaveLength(6);
    const third = all.features.find((f) => f.properties.taskId!.endsWith('box-2'))!;
    expect(third.properties).toMatchObject({ status: 'queued', bbox: [12, 45, 13, 46] });
    expect(third.geometry.coordinates[0]).toEqual([
      [12, 45],
      [13, 45],
      [13, 46],
      [12, 46],
      [12, 45],
    ]);
    const world = await getJson<{ features: Feature[] }>(`${dashboard.url}api/jobs/${jobId}/tiles?zoom=2`);
    expect(world.features).toHaveLength(1);
    expect(world.features[0]!.properties).toMatchObject({ taskId: null, tasks: 6, cell: { z: 2, x: 2, y: 1 }, status: 'queued' });
    const near = await getJson<{ features: Feature[] }>(`${dashboard.url}api/jobs/${jobId}/tiles?zoom=12&bbox=9.5,44,12.5,47`);
    // In view when the tile of its centre (at the box's own zoom, 8 here) is.
    expect(near.features.map((f) => f.properties.bbox![0])).toEqual([10, 11, 12]);
  });

  it('a job without tiles or boxes has no map stages', async () => {
    const jobId = await submit(['hello_world', '--n', '5', '--param', 'name=no-map']);
    expect(await getJson(`${dashboard.url}api/jobs/${jobId}/map`)).toEqual({ jobId, stages: [] });
    expect(await getJson(`${dashboard.url}api/jobs/${jobId}/tiles`)).toEqual({ type: 'FeatureCollection', features: [] });
  });

  it('problems: failed tasks grouped by message, stragglers with worker and attempt, problem batches', async () => {
    const jobId = await submit(['hello_world', '--n', '250', '--param', 'name=problems', '--batch-size', '50']);
    const mine = await claimOf(jobId, 250, 'slow-worker');
    for (const t of mine.slice(0, 3)) await tasksFail({ db: db.pool, taskId: t.taskId, claim: t.claim, error: 'tile server said 503', retryable: false });
    await tasksFail({ db: db.pool, taskId: mine[3]!.taskId, claim: mine[3]!.claim, error: 'bad input', retryable: false });
    await tasksCompleteMany({
      db: db.pool,
      completions: mine.slice(4, 200).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({}) })),
    });

    const doc = await getJson<{
      problemBatches: { total: number; batches: Array<{ counts: { failed: number } }> };
      stragglers: Array<{ worker: string; attempt: number; runningMs: number }>;
      errors: { failed: number; groups: Array<{ message: string; count: number }> };
    }>(`${dashboard.url}api/jobs/${jobId}/problems`);
    expect(doc.errors.failed).toBe(4);
    expect(doc.errors.groups).toEqual([
      expect.objectContaining({ message: 'tile server said 503', count: 3 }),
      expect.objectContaining({ message: 'bad input', count: 1 }),
    ]);
    expect(doc.problemBatches.total).toBe(1);
    expect(doc.problemBatches.batches[0]!.counts.failed).toBe(4);
    expect(doc.stragglers).toHaveLength(10);
    expect(doc.stragglers[0]).toMatchObject({ worker: 'slow-worker', attempt: 1 });

    const throughput = await getJson<{ bucketSeconds: number; stages: Array<{ stage: number; points: number[][] }> }>(
      `${dashboard.url}api/jobs/${jobId}/throughput`,
    );
    const finished = throughput.stages[0]!.points.reduce((n, [, c, f]) => n + c! + f!, 0);
    expect(finished).toBe(200);
  });

  it('events: a NOTIFY reaches the streams that follow its job, and a new job is announced by its trigger', async () => {
    const jobId = await submit(['hello_world', '--n', '3', '--param', 'name=events-a']);
    const other = await submit(['hello_world', '--n', '3', '--param', 'name=events-b']);
    const mine = await followEvents(`${dashboard.url}api/events?job=${jobId.slice(0, 12)}`);
    const everyone = await followEvents(`${dashboard.url}api/events`);
    try {
      expect(mine.headers.get('content-type')).toMatch(/^text\/event-stream/);
      await mine.next((e) => e.event === 'ready');
      await everyone.next((e) => e.event === 'ready');
      // Another job's progress first, then this one's (as geo_stage_finish sends them).
      await db.pool.query(`SELECT pg_notify('geo_progress', $1), pg_notify('geo_progress', $2)`, [`${other}:1`, `${jobId}:1`]);
      expect((await mine.next((e) => e.event === 'progress')).data).toEqual({ jobId, stage: 1 });
      await everyone.next((e) => e.event === 'progress' && e.data.jobId === jobId);
      expect(everyone.events.some((e) => e.data.jobId === other)).toBe(true);
      expect(mine.events.some((e) => e.data.jobId === other)).toBe(false);

      const third = await submit(['hello_world', '--n', '2', '--param', 'name=events-c']);
      await everyone.next((e) => e.event === 'job' && e.data.jobId === third);
      await everyone.next((e) => e.event === 'stage' && e.data.jobId === third && e.data.stage === 1);

      // A finished stage is announced by geo_stage_finish itself.
      const claimed = await claimOf(jobId, 1000, 'events');
      await tasksCompleteMany({
        db: db.pool,
        completions: claimed.map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'x' }) })),
      });
      expect((await mine.next((e) => e.event === 'stage-completed')).data).toEqual({ jobId, stage: 1 });
    } finally {
      mine.close();
      everyone.close();
    }
  });

  it("events: a completion within a second of the stage's last progress notification, which the database does not announce, gets a progress event 1.5 s after that notification, also on a stream opened after it", async () => {
    const jobId = await submit(['hello_world', '--n', '3', '--param', 'name=events-trailing']);
    const claimed = await claimOf(jobId, 3);
    const notifiedAt = async () =>
      (await db.pool.query<{ at: Date | null }>(`SELECT notified_at AS at FROM stages WHERE job_id = $1 AND stage = 1`, [jobId])).rows[0]!.at?.getTime();
    // Whatever the submit's own notification left, a progress notification now (as completions send it)...
    await db.pool.query(`UPDATE stages SET notified_at = NULL WHERE job_id = $1`, [jobId]);
    await db.pool.query(`SELECT geo_stage_finish($1, 1, 0, 0)`, [jobId]);
    const announced = (await notifiedAt())!;
    // ...and straight after it a completion, which the database does not announce (it would set notified_at again).
    await tasksCompleteMany({ db: db.pool, completions: [{ taskId: claimed[0]!.taskId, claim: claimed[0]!.claim, resultJson: '{}' }] });
    expect(await notifiedAt()).toBe(announced);
    // A client that connects now, after the notification, as a page opened at that moment.
    const stream = await followEvents(`${dashboard.url}api/events?job=${jobId}`);
    try {
      await stream.next((e) => e.event === 'ready');
      const trailing = await stream.next((e) => e.event === 'progress' && e.at >= announced + 1_400, 5_000);
      expect(trailing.data).toEqual({ jobId, stage: 1 });
      const status = await getJson<{ stages: Array<{ stage: number; completed: number }> }>(`${dashboard.url}api/jobs/${jobId}`);
      expect(status.stages.find((st) => st.stage === 1)!.completed).toBe(1);
      // Once: a window in which no other progress event may come.
      await sleep(2_000);
      expect(stream.events.filter((e) => e.event === 'progress' && e.at > trailing.at)).toEqual([]);
    } finally {
      stream.close();
    }
  });

  it('metrics: tasks by status per job type and each running job backlog equal the SQL counts', async () => {
    await submit(['tiles', '--param', 'bbox=0,0,2,2', '--param', 'zoom=8']);
    const res = await fetch(`${dashboard.url}metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    const metric = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1]);
    const { rows } = await db.pool.query<{ jobType: string; status: string; n: number }>(
      `SELECT j.job_type AS "jobType", t.status, count(*)::int AS n
       FROM task_states t JOIN jobs j ON j.job_id = t.job_id GROUP BY 1, 2`,
    );
    expect(rows.length).toBeGreaterThan(3);
    for (const row of rows) expect(metric('geo_tasks', `job_type="${row.jobType}",status="${row.status}"`), `${row.jobType} ${row.status}`).toBe(row.n);
    const backlog = await db.pool.query<{ jobId: string; n: number }>(
      `SELECT t.job_id AS "jobId", count(*) FILTER (WHERE t.status NOT IN ('completed', 'failed'))::int AS n
       FROM task_states t JOIN jobs j ON j.job_id = t.job_id WHERE j.status = 'processing' GROUP BY 1`,
    );
    for (const row of backlog.rows) expect(metric('geo_job_backlog_tasks', `job_id="${row.jobId}",job_type="[a-z_]+"`)).toBe(row.n);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });
});

describe('the jobs list', () => {
  const JOBS = 10_000;
  let ids: string[];

  beforeAll(async () => {
    // Three jobs per second of created_at, so paging must break ties by id.
    const { rows } = await db.pool.query<{ jobId: string }>(
      `INSERT INTO jobs (job_id, job_type, parameters, processing_path, tasks_are_messages, status, stage_count, id_prefix, created_at)
       SELECT md5(i::text) || md5('x' || i), CASE WHEN i % 2 = 0 THEN 'hello_world' ELSE 'tiles' END, '{}', 'local', true,
              CASE WHEN i % 7 = 0 THEN 'failed' WHEN i % 3 = 0 THEN 'processing' ELSE 'completed' END, 1,
              left(md5(i::text), 16), timestamptz '2020-01-01' + (i / 3) * interval '1 second'
       FROM generate_series(1, $1) AS i
       RETURNING job_id AS "jobId"`,
      [JOBS],
    );
    ids = rows.map((r) => r.jobId);
    await db.pool.query(
      `INSERT INTO stages (job_id, stage, name, task_count, batch_size, completed_count, status, created_at)
       SELECT job_id, 1, 'only', 100, 100, 40, 'processing', created_at FROM jobs WHERE job_id = ANY($1)`,
      [ids],
    );
    await db.pool.query('ANALYZE jobs');
  });

  it('pages 10,000 jobs newest first by cursor: each exactly once, ties broken by id, the deepest page as fast as the first', async () => {
    type Page = { jobs: Array<{ jobId: string; createdAt: string; stages: unknown[] }>; nextCursor: string | null };
    const seen: string[] = [];
    const times: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const started = performance.now();
      const page: Page = await getJson<Page>(`${dashboard.url}api/jobs?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      times.push(performance.now() - started);
      seen.push(...page.jobs.map((j) => j.jobId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 100);
    const bulk = seen.filter((id) => ids.includes(id));
    expect(bulk).toHaveLength(JOBS);
    expect(new Set(seen).size).toBe(seen.length);
    const { rows } = await db.pool.query<{ jobId: string }>(`SELECT job_id AS "jobId" FROM jobs ORDER BY created_at DESC, job_id DESC`);
    expect(seen).toEqual(rows.map((r) => r.jobId));
    const first = median(times.slice(0, 5));
    const last = median(times.slice(-5));
    console.info(`jobs list, ${rows.length} jobs, 200 a page: first pages ${first.toFixed(1)} ms, last pages ${last.toFixed(1)} ms (median of 5)`);
    expect(last).toBeLessThan(Math.max(3 * first, 100));

    // The deepest page reads the index from its cursor: no sort of the table.
    const plan = await db.pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT job_id FROM jobs WHERE (created_at, job_id) < ('epoch'::timestamptz + 1 * interval '1 microsecond', 'x')
       ORDER BY created_at DESC, job_id DESC LIMIT 201`,
    );
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index (Only )?Scan Backward using jobs_newest/);
    expect(text).not.toMatch(/Sort/);
  });

  it('filters by status and type, and counts every status and type', async () => {
    type Page = {
      jobs: Array<{ jobId: string; status: string; jobType: string }>;
      nextCursor: string | null;
      facets: { statuses: Record<string, number>; types: Record<string, number> };
    };
    const doc = await getJson<Page>(`${dashboard.url}api/jobs?status=failed&type=tiles&limit=200`);
    expect(doc.jobs.length).toBe(200);
    expect(doc.jobs.every((j) => j.status === 'failed' && j.jobType === 'tiles')).toBe(true);
    const truth = await db.pool.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM jobs GROUP BY status`);
    expect(doc.facets.statuses).toEqual(Object.fromEntries(truth.rows.map((r) => [r.status, r.n])));
    let total = 0;
    let cursor: string | null = null;
    do {
      const page: Page = await getJson<Page>(`${dashboard.url}api/jobs?status=failed&type=tiles&limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      total += page.jobs.length;
      cursor = page.nextCursor;
    } while (cursor);
    const expected = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'failed' AND job_type = 'tiles'`);
    expect(total).toBe(expected.rows[0]!.n);
    const processing = await getJson<{ jobs: Array<{ jobId: string; stages: Array<{ expected: number; completed: number }> }> }>(
      `${dashboard.url}api/jobs?status=processing&limit=200`,
    );
    const summary = processing.jobs.find((j) => ids.includes(j.jobId))!;
    expect(summary.stages[0]).toMatchObject({ expected: 100, completed: 40 });
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('access', () => {
  const TOKEN = 'a-token-of-at-least-16-characters';

  it('with a token, a request without it or with a wrong one gets 401 and nothing else; the right one gets in', async () => {
    const guarded = await startTestDashboard(db.pool, { token: TOKEN });
    try {
      for (const target of ['', 'api/jobs', 'api/events', 'metrics', 'assets/app.js', `api/jobs?token=wrong-${TOKEN}`]) {
        const res = await fetch(`${guarded.url}${target}`, { headers: target === 'metrics' ? { authorization: 'Bearer nope' } : {} });
        expect(res.status, target).toBe(401);
        expect(await res.text(), target).toBe('');
        expect(res.headers.get('content-type'), target).toBeNull();
      }
      expect((await fetch(`${guarded.url}api/jobs`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      // The page with ?token= keeps a cookie and takes the token out of the address.
      const first = await fetch(`${guarded.url}?token=${TOKEN}`, { redirect: 'manual' });
      expect(first.status).toBe(303);
      expect(first.headers.get('location')).toBe('/');
      const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      expect(cookie).not.toContain(TOKEN);
      expect((await fetch(`${guarded.url}api/jobs`, { headers: { cookie } })).status).toBe(200);
      expect((await fetch(`${guarded.url}api/jobs`, { headers: { cookie: `${cookie}x` } })).status).toBe(401);
    } finally {
      await guarded.close();
    }
  });

  it('refuses to serve anything but loopback without a token', async () => {
    await expect(startTestDashboard(db.pool, { host: '0.0.0.0' })).rejects.toMatchObject({ code: 'DASHBOARD_TOKEN_REQUIRED' });
  });

  it('on loopback without a token, a request for another host name (DNS rebinding) is refused', async () => {
    const url = new URL(dashboard.url);
    const res = await new Promise<number>((resolve, reject) => {
      http.get({ host: url.hostname, port: url.port, path: '/api/jobs', headers: { host: 'evil.example' } }, (r) => resolve(r.statusCode!)).on('error', reject);
    });
    expect(res).toBe(403);
  });

  it('no answer carries a connection string or key, even inside an error a task reported', async () => {
    const key = 'AccountKey=c2VjcmV0LWtleS1vZi10aGUtc3RvcmFnZS1hY2NvdW50';
    const secret = `DefaultEndpointsProtocol=https;AccountName=geo;${key};EndpointSuffix=core.windows.net`;
    const guarded = await startTestDashboard(db.pool, { secrets: [secret] });
    try {
      const jobId = await submit(['hello_world', '--n', '2', '--param', 'name=secrets']);
      const claimed = await claimOf(jobId, 1000, 'w');
      await tasksFail({ db: db.pool, taskId: claimed[0]!.taskId, claim: claimed[0]!.claim, error: `could not connect with ${secret}`, retryable: false });
      const password = new URL(db.url).password;
      expect(password.length).toBeGreaterThan(0);
      const bodies = await Promise.all(
        [
          'api/jobs',
          `api/jobs/${jobId}`,
          `api/jobs/${jobId}/problems`,
          `api/jobs/${jobId}/tasks/${encodeURIComponent(claimed[0]!.taskId)}`,
          'metrics',
          'api/jobs?cursor=zz',
        ].map(async (p) => (await fetch(`${guarded.url}${p}`)).text()),
      );
      const all = bodies.join('\n');
      expect(all).toContain('could not connect with');
      expect(all).not.toContain('c2VjcmV0LWtleS1vZi10aGUtc3RvcmFnZS1hY2NvdW50');
      expect(all).not.toContain(password);
      expect(all).not.toContain(db.url);
    } finally {
      await guarded.close();
    }
  });
});

describe('actions', () => {
  it('read-only by default: none offered, and every action route is 404', async () => {
    expect(await getJson(`${dashboard.url}api/dashboard`)).toMatchObject({ actions: [] });
    const jobId = await submit(['hello_world', '--n', '2', '--param', 'name=read-only']);
    const res = await fetch(`${dashboard.url}api/jobs/${jobId}/actions/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ confirm: jobId }),
    });
    expect(res.status).toBe(404);
  });

  it('with --allow-actions, only the actions geo has are offered, and each runs only when confirmed, as JSON from the same origin', async () => {
    const cancel = vi.fn(async (request: { jobId: string; reason?: string }) => ({ cancelled: request.jobId }));
    const steering = await startTestDashboard(db.pool, { allowActions: true, actions: { cancel } });
    const none = await startTestDashboard(db.pool, { allowActions: true, actions: {} });
    try {
      expect(await getJson(`${steering.url}api/dashboard`)).toMatchObject({ actions: ['cancel'] });
      expect(await getJson(`${none.url}api/dashboard`)).toMatchObject({ actions: [] });
      const jobId = await submit(['hello_world', '--n', '2', '--param', 'name=actions']);
      const post = (name: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
        fetch(`${steering.url}api/jobs/${jobId}/actions/${name}`, { method: 'POST', headers, body: JSON.stringify(body) });
      expect((await post('pause', { confirm: jobId })).status).toBe(404);
      expect((await post('cancel', { confirm: jobId }, { 'content-type': 'text/plain' })).status).toBe(400);
      expect((await post('cancel', { confirm: jobId }, { 'content-type': 'application/json', origin: 'http://evil.example' })).status).toBe(400);
      const unconfirmed = await post('cancel', { confirm: jobId.slice(0, 8) });
      expect(unconfirmed.status).toBe(400);
      expect(await unconfirmed.json()).toMatchObject({ error: { code: 'ACTION_NOT_CONFIRMED' } });
      expect(cancel).not.toHaveBeenCalled();
      const done = await post('cancel', { confirm: jobId, reason: 'wrong bbox' });
      expect(done.status).toBe(200);
      expect(await done.json()).toEqual({ action: 'cancel', jobId, result: { cancelled: jobId } });
      expect(cancel).toHaveBeenCalledExactlyOnceWith({ jobId, reason: 'wrong bbox' });
    } finally {
      await steering.close();
      await none.close();
    }
  });
});
