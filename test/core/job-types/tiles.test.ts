import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageInputs } from '../../../src/core/job-types/stage-inputs.js';
import { tiles } from '../../../src/core/job-types/tiles.js';
import { tileBounds } from '../../../src/core/job-types/tiles-math.js';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-tiles-test-unused') };
});
afterAll(async () => {
  await db.drop();
});

const context = { taskId: 't', jobId: 'j', stage: 1, attempt: 1, signal: new AbortController().signal };

describe('the tiles job type', () => {
  it('generates the tiles covering a bbox, column by column, keyed tile-z-x-y', async () => {
    // Switzerland's box at zoom 8: columns 132..135 (5.9 and 10.5 degrees east), rows 89..91 (47.8 and 45.8 north).
    const result = await runGeo(['submit', 'tiles', '--param', 'bbox=5.9,45.8,10.5,47.8', '--param', 'zoom=8', '--json'], env);
    expect(result.code).toBe(0);
    const doc = parseJsonOutput(result);
    expect(doc).toMatchObject({ jobType: 'tiles', tasks: 12, queued: 12 });
    const { rows } = await db.pool.query<{ id: string; parameters: unknown }>(
      'SELECT task_id AS id, parameters FROM tasks WHERE job_id = $1 ORDER BY task_index',
      [doc.jobId],
    );
    const expected = [132, 133, 134, 135].flatMap((x) => [89, 90, 91].map((y) => ({ x, y })));
    expect(rows.map((r) => r.id.slice(17))).toEqual(expected.map(({ x, y }) => `s1-tile-8-${x}-${y}`));
    expect(rows[0]!.parameters).toEqual({ z: 8, x: 132, y: 89 });

    const same = await runGeo(['submit', 'tiles', '--param', 'zoom=8', '--param', 'bbox=5.90, 45.8, 10.50, 47.80', '--json'], env);
    expect(parseJsonOutput(same)).toMatchObject({ jobId: doc.jobId, jobCreated: false });
  });

  it('computes a tile task as its WGS84 bounds', async () => {
    const bounds = (await tiles.stages[0]!.handler({ z: 10, x: 486, y: 332 }, context)) as Record<string, number>;
    expect(bounds).toMatchObject({ z: 10, x: 486, y: 332, west: -9.140625, east: -8.7890625 });
    expect(bounds.north).toBeCloseTo(53.33087298301705, 12);
    expect(bounds.south).toBeCloseTo(53.12040528310657, 12);
  });

  it("gives the job the union of its tiles' bounds and their count, streaming the stage's results", async () => {
    const submit = parseJsonOutput(await runGeo(['submit', 'tiles', '--param', 'bbox=-1,-1,1,1', '--param', 'zoom=6', '--json'], env));
    const jobId = String(submit.jobId);
    const { rows } = await db.pool.query<{ id: string; parameters: Record<string, unknown> }>('SELECT task_id AS id, parameters FROM tasks WHERE job_id = $1', [
      jobId,
    ]);
    expect(rows).toHaveLength(4);
    // Done as geo work would: the handler's return value becomes the task's result.
    for (const row of rows) {
      const result = await tiles.stages[0]!.handler(row.parameters, context);
      await db.pool.query(`UPDATE tasks SET status = 'completed', result = $2 WHERE task_id = $1`, [row.id, JSON.stringify(result)]);
    }
    const union = await tiles.result!(tiles.params.parse({}), stageInputs(db.pool, jobId));
    const upperLeft = tileBounds({ z: 6, x: 31, y: 31 });
    const lowerRight = tileBounds({ z: 6, x: 32, y: 32 });
    expect(union).toEqual({ tiles: 4, west: upperLeft.west, north: upperLeft.north, east: lowerRight.east, south: lowerRight.south });
  });

  it.each([
    ['bbox=170,0,-170,10', 'zoom=3', /tiles: bbox: minLon must be less than maxLon \(for a box across the antimeridian, submit one job per side\)/],
    ['bbox=0,-95,1,1', 'zoom=3', /tiles: bbox: minLat must be between -90 and 90 \(got -95\)/],
    ['bbox=0,0,1', 'zoom=3', /tiles: bbox: must be minLon,minLat,maxLon,maxLat in degrees/],
    ['bbox=0,0,1,1', 'zoom=25', /tiles: zoom: must be at most 24/],
    ['bbox=0,0,1,1', 'zoom=1e1', /tiles: zoom: must be a plain decimal whole number \(got "1e1"\)/],
    ['bbox=-180,-85,180,85', 'zoom=13', /tiles: zoom: the box has 6\d,\d{3},\d{3} tiles at zoom 13; at most 10,000,000 per job/],
    ['zoom=3', 'zoom=3', /--param zoom is given twice/],
  ])('refuses --param %s --param %s with exit 2', async (a, b, message) => {
    const result = await runGeo(['submit', 'tiles', '--param', a, '--param', b], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
