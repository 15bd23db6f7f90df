import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsStream } from '../../../src/store/results.js';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';

const N = 2_500;

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
let jobId: string;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-results-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home') };
  const submit = await runGeo(['submit', 'hello_world', '--n', String(N), '--param', 'name=results', '--json'], env);
  jobId = String(parseJsonOutput(submit).jobId);
  // What workers would have left: every tenth task failed, the rest completed with a result.
  await db.pool.query(
    `UPDATE tasks SET
       status = CASE WHEN task_index % 10 = 3 THEN 'failed' ELSE 'completed' END,
       result = CASE WHEN task_index % 10 = 3 THEN NULL ELSE jsonb_build_object('message', parameters->>'message', 'i', task_index) END,
       error = CASE WHEN task_index % 10 = 3 THEN 'refused: "quoted"' || chr(10) || 'second line' END
     WHERE job_id = $1`,
    [jobId],
  );
  // Batch b7 was sent but its tasks not yet marked (step 3 records the batch row only): they count as queued.
  await db.pool.query(`UPDATE tasks SET status = 'pending_queue', result = NULL, error = NULL WHERE batch_id = $1`, [`${jobId.slice(0, 16)}-s1-b7`]);
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function readNdjson(file: string): Promise<Array<Record<string, unknown>>> {
  return (await fs.readFile(file, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('geo results', () => {
  it('writes every task as one NDJSON line in task order to --output', async () => {
    const output = path.join(dir, 'all.ndjson');
    const result = await runGeo(['results', jobId.slice(0, 10), '--output', output, '--json'], env);
    expect(result.code).toBe(0);
    expect(parseJsonOutput(result)).toMatchObject({ jobId, lines: N, output, stages: [1, 2], interrupted: false });
    const lines = await readNdjson(output);
    expect(lines).toHaveLength(N);
    expect(lines.map((l) => l.key)).toEqual(Array.from({ length: N }, (_, i) => `greet-${i}`));
    expect(Object.keys(lines[0]!)).toEqual(['taskId', 'key', 'status', 'result', 'error']);
    expect(lines[0]).toEqual({
      taskId: `${jobId.slice(0, 16)}-s1-greet-0`,
      key: 'greet-0',
      status: 'completed',
      result: { i: 0, message: 'Hello results from task 0!' },
      error: null,
    });
    expect(lines[3]).toEqual({
      taskId: `${jobId.slice(0, 16)}-s1-greet-3`,
      key: 'greet-3',
      status: 'failed',
      result: null,
      error: 'refused: "quoted"\nsecond line',
    });
    expect(lines.slice(700, 800).every((l) => l.status === 'queued')).toBe(true);
    expect((await fs.readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('filters by status and stage, printing to stdout without --output', async () => {
    const failed = await runGeo(['results', jobId, '--stage', '1', '--status', 'failed'], env);
    expect(failed.code).toBe(0);
    const lines = failed.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(240);
    expect(lines.every((l) => l.status === 'failed' && /^greet-\d*3$/.test(l.key))).toBe(true);
    expect(lines.some((l) => l.key === 'greet-703')).toBe(false);
    const queued = await runGeo(['results', jobId, '--status', 'queued'], env);
    expect(queued.stdout.trimEnd().split('\n')).toHaveLength(100);
    const stage2 = await runGeo(['results', jobId, '--stage', '2'], env);
    expect(stage2).toMatchObject({ code: 0, stdout: '' });
  });

  it.each([
    [['--stage', '3'], /job .* \(hello_world\) has no stage 3; its stages: 1 \(greeting\), 2 \(reply\)/],
    [['--status', 'done'], /--status must be one of pending_queue, queued, processing, completed, failed, cancelled \(got "done"\)/],
    [['--json'], /geo results --json needs --output FILE/],
  ])('refuses %j with exit 2', async (args, message) => {
    const result = await runGeo(['results', jobId, ...args], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('an --output that is a folder is a clear input error, exit 2, under --json a JSON error document', async () => {
    const folder = path.join(dir, 'out');
    await fs.mkdir(folder);
    const human = await runGeo(['results', jobId, '--output', folder], env, { timeoutMs: 30_000 });
    expect(human.code, human.stderr).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toBe(`geo: --output ${folder} is a folder: name a file to write the results to\n`);
    const json = await runGeo(['results', jobId, '--output', folder, '--json'], env, { timeoutMs: 30_000 });
    expect(json.code).toBe(2);
    expect(parseJsonOutput(json)).toEqual({
      error: { code: 'OUTPUT_UNWRITABLE', message: `--output ${folder} is a folder: name a file to write the results to` },
    });
    // Nothing left behind, the folder untouched.
    expect(await fs.readdir(folder)).toEqual([]);
    expect((await fs.readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('pages past batches with no matching task instead of stopping there', async () => {
    const seen: string[] = [];
    let pages = 0;
    for await (const rows of resultsStream(db.pool, { jobId, stage: 1, status: 'queued', batchesPerPage: 2 })) {
      pages++;
      seen.push(...rows.map((r) => r.taskId));
    }
    expect(pages).toBe(1);
    expect(seen).toHaveLength(100);
    expect(seen[0]).toBe(`${jobId.slice(0, 16)}-s1-greet-700`);
  });
});
