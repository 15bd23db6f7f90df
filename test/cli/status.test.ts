import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaimNext, tasksCompleteMany, tasksFail } from '../../src/store/completion.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-status-test-unused') };
});
afterAll(async () => {
  await db.drop();
});

interface StatusDoc {
  jobType?: string;
  status: string;
  currentStage: number;
  stages: Array<{
    stage: number;
    name?: string | null;
    status: string;
    expected: number;
    queued: number;
    processing: number;
    completed: number;
    failed: number;
  }>;
  errors: Array<{ taskId: string; error: string }>;
}

describe('geo status', () => {
  it('shows the current stage and its counts, live, then the failed job with its first error', async () => {
    const submitted = await runGeo(['submit', 'hello_world', '--n', '500', '--param', 'name=status', '--json'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);

    const claimed = await tasksClaimNext({ db: db.pool, worker: 'status-test', maxTasks: 500, leaseSeconds: 60, jobTypes: ['hello_world'] });
    expect(claimed).toHaveLength(500);
    await tasksCompleteMany({
      db: db.pool,
      completions: claimed.slice(0, 300).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'hi' }) })),
    });
    const live = parseJsonOutput<StatusDoc>(await runGeo(['status', jobId.slice(0, 10), '--json'], env));
    expect(live).toMatchObject({ status: 'processing', currentStage: 1 });
    expect(live.stages).toEqual([
      expect.objectContaining({ stage: 1, status: 'processing', expected: 500, queued: 0, processing: 200, completed: 300, failed: 0 }),
      expect.objectContaining({ stage: 2, status: 'pending', expected: 0 }),
    ]);

    const failing = claimed[300]!;
    await tasksFail({ db: db.pool, taskId: failing.taskId, claim: failing.claim, error: 'the tile server said 404', retryable: false });
    await tasksCompleteMany({
      db: db.pool,
      completions: claimed.slice(301).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'hi' }) })),
    });
    const swept = await runGeo(['retry-pending'], env);
    expect(swept.code, swept.stderr).toBe(0);

    const ended = await runGeo(['status', jobId, '--json'], env);
    expect(ended.code).toBe(0);
    const doc = parseJsonOutput<StatusDoc>(ended);
    expect(doc).toMatchObject({ status: 'failed', currentStage: 1 });
    expect(doc.errors).toEqual([{ taskId: failing.taskId, error: 'the tile server said 404' }]);
    const human = await runGeo(['status', jobId], env);
    expect(human.stdout).toMatch(/hello_world via local: failed/);
    expect(human.stdout).toContain(`${failing.taskId}: the tile server said 404`);
  });

  it('shows a job whose job-type module is not loaded here, as batches and results do: everything is in the database', async () => {
    const modules = path.resolve(import.meta.dirname, '../../examples/scenes.mjs');
    const input = path.resolve(import.meta.dirname, '../../examples/scenes.csv');
    const submitted = await runGeo(['--job-types', modules, 'submit', 'scene_footprints', '--input', input, '--json'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { jobId, tasks } = parseJsonOutput<{ jobId: string; tasks: number }>(submitted);

    // No --job-types: the module is not loaded in this process (the case named).
    const types = parseJsonOutput<{ jobTypes: Array<{ name: string }> }>(await runGeo(['types', '--json'], env));
    expect(types.jobTypes.map((t) => t.name)).not.toContain('scene_footprints');
    const json = await runGeo(['status', jobId.slice(0, 12), '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const doc = parseJsonOutput<StatusDoc>(json);
    expect(doc).toMatchObject({ jobType: 'scene_footprints', status: 'processing', currentStage: 1 });
    expect(doc.stages).toEqual([
      expect.objectContaining({ stage: 1, name: 'footprint', status: 'processing', expected: tasks, queued: tasks }),
      // Not created yet: its name was recorded with the job, so no module is needed to show it.
      expect.objectContaining({ stage: 2, name: 'covering_tiles', status: 'pending', expected: 0 }),
    ]);
    const human = await runGeo(['status', jobId.slice(0, 12)], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/scene_footprints via local: processing, stage 1 of 2/);
    expect(human.stdout).toMatch(/\n2\s+covering_tiles\s+pending\s/);
  });
});
