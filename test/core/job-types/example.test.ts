import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DefinedJobType } from '../../../src/core/job-types/define.js';
import { stageInputs } from '../../../src/core/job-types/stage-inputs.js';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const MODULE = path.join(ROOT, 'examples/scenes.mjs');
const INPUT = path.join(ROOT, 'examples/scenes.csv');
const context = { taskId: 't', jobId: 'j', stage: 1, attempt: 1, signal: new AbortController().signal };

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-example-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home'), GEO_JOB_TYPES: MODULE };
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function tasksOf(jobId: string, stage: number) {
  const { rows } = await db.pool.query<{ id: string; status: string; parameters: Record<string, unknown> }>(
    'SELECT task_id AS id, status, parameters FROM tasks WHERE job_id = $1 AND stage = $2 ORDER BY task_index',
    [jobId, stage],
  );
  return rows;
}

/** What geo work does for each task, straight in SQL: run the handler, store its result, count the stage. */
async function completeStage(jobType: DefinedJobType, jobId: string, stage: number): Promise<void> {
  for (const task of await tasksOf(jobId, stage)) {
    const result = await jobType.stages[stage - 1]!.handler(task.parameters, context);
    await db.pool.query(`UPDATE tasks SET status = 'completed', result = $2, completed_at = now() WHERE task_id = $1`, [task.id, JSON.stringify(result)]);
  }
  await db.pool.query(`UPDATE stages SET completed_count = task_count, status = 'completed' WHERE job_id = $1 AND stage = $2`, [jobId, stage]);
}

describe('the example job-type module (examples/scenes.mjs)', () => {
  it("submits the sample CSV, and its later stage builds from the first one's results", async () => {
    const submit = await runGeo(['submit', 'scene_footprints', '--input', INPUT, '--json'], env);
    expect(submit.code, submit.stderr).toBe(0);
    const doc = parseJsonOutput(submit);
    expect(doc).toMatchObject({ jobType: 'scene_footprints', stage: 1, transport: 'local', tasks: 6, queued: 6, rejected: 0 });
    const jobId = String(doc.jobId);
    const stage1 = await tasksOf(jobId, 1);
    expect(stage1.map((t) => t.status)).toEqual(Array(6).fill('queued'));
    expect(stage1.map((t) => t.id.slice(20))).toEqual([
      'scene-S2A_32TLT_20240601',
      'scene-S2A_32TMT_20240601',
      'scene-S2B_31UFT_20240603',
      'scene-LC09_196027_20240610',
      'scene-LC09_043034_20240612',
      'scene-S1A_IW_20240615',
    ]);
    expect(stage1[3]!.parameters).toEqual({ sceneId: 'LC09_196027_20240610', lon: 2.35, lat: 48.86, sizeKm: 185 });

    const { sceneFootprints } = (await import(MODULE)) as { sceneFootprints: DefinedJobType };
    await completeStage(sceneFootprints, jobId, 1);
    const stage2 = await runGeo(['queue-stage', jobId, '2', '--json'], env);
    expect(stage2.code, stage2.stderr).toBe(0);
    expect(parseJsonOutput(stage2)).toMatchObject({ stage: 2, stageName: 'covering_tiles', tasks: 6, queued: 6 });
    const covering = await tasksOf(jobId, 2);
    expect(covering[0]!.id.slice(17)).toBe('s2-covering_tiles-0');
    expect(covering[0]!.parameters).toMatchObject({ zoom: 10, footprint: { sceneId: 'S2A_32TLT_20240601' } });
    const tiles = (await sceneFootprints.stages[1]!.handler(covering[0]!.parameters, context)) as { tiles: string[] };
    expect(tiles.tiles.length).toBeGreaterThan(4);
    expect(tiles.tiles.every((t) => /^10\/\d+\/\d+$/.test(t))).toBe(true);

    const results = await runGeo(['results', jobId, '--stage', '1'], env);
    expect(
      results.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).result.sceneId),
    ).toEqual(stage1.map((t) => t.parameters.sceneId));
    expect(await sceneFootprints.result!(sceneFootprints.params.parse({}), stageInputs(db.pool, jobId))).toEqual({
      scenes: 6,
      areaKm2: 3 * 100 ** 2 + 2 * 185 ** 2 + 250 ** 2,
    });
  });

  it('compiles the TypeScript example against geo/job-types and loads the result', async () => {
    const outDir = path.join(dir, 'ts-out');
    await promisify(execFile)(process.execPath, [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(ROOT, 'examples/typescript/tsconfig.json'),
      '--outDir',
      outDir,
    ]);
    const grid = path.join(outDir, 'grid.js');
    const result = await runGeo(['--job-types', grid, 'submit', 'grid_cells', '--param', 'bbox=5,45,6,46', '--param', 'step=0.5', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(parseJsonOutput(result)).toMatchObject({ jobType: 'grid_cells', tasks: 4, queued: 4 });
  });
});
