import { expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { useWorkHarness } from './support/harness.js';

const harness = useWorkHarness('local');

it("geo bench --end-to-end submits, works and advances hello_world in its own schema, leaving geo's tables untouched", async () => {
  const lane = await harness.lane();
  try {
    const run = await runGeo(['bench', '--end-to-end', '--n', '300', '--runs', '2', '--work-concurrency', '4', '--json'], lane.env());
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ tasks: number; runs: Array<{ completed: number; tasksPerSecond: number }>; cleanup: { schemaDropped: boolean } }>(run);
    expect(doc.tasks).toBe(600);
    expect(doc.runs.map((r) => r.completed)).toEqual([600, 600]);
    expect(doc.runs.every((r) => r.tasksPerSecond > 0)).toBe(true);
    expect(doc.cleanup.schemaDropped).toBe(true);
    const { rows } = await harness.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs`);
    expect(rows[0]!.n).toBe(0);
    const refused = await runGeo(['bench', '--end-to-end', '--path', 'servicebus', '--json'], lane.env());
    expect(refused.code).toBe(2);
    expect(parseJsonOutput<{ error: { code: string } }>(refused).error.code).toBe('OPTION_NOT_APPLICABLE');
  } finally {
    await lane.close();
  }
});
