import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';

const fixture = useServiceBusFixture();

/** Every .ts file under `dir`, recursively. */
async function sources(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}

describe('the task_states view is the one place a task status is read', () => {
  it('tasks of batches a broker acknowledged whole read queued through the view, and every report agrees with it', async () => {
    const { db, peer } = fixture;
    peer.createQueue('task-states', { duplicateDetection: true });
    const env = serviceBusEnv(db, peer, 'task-states');
    const submitted = await runGeo(['submit', 'hello_world', '--n', '500', '--param', 'name=states', '--json'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);

    // The case the view exists for: the task rows still say pending_queue, their batches queued.
    const raw = await db.pool.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM tasks WHERE job_id = $1 GROUP BY 1`, [jobId]);
    expect(raw.rows).toEqual([{ status: 'pending_queue', n: 500 }]);
    const viewed = await db.pool.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM task_states WHERE job_id = $1 GROUP BY 1`, [
      jobId,
    ]);
    expect(viewed.rows).toEqual([{ status: 'queued', n: 500 }]);

    const batches = await runGeo(['batches', jobId, '--json'], env);
    expect(parseJsonOutput<{ summary: { counts: Record<string, number> } }>(batches).summary.counts).toMatchObject({ queued: 500, pending_queue: 0 });
    const results = await runGeo(['results', jobId], env);
    expect(results.code, results.stderr).toBe(0);
    const statuses = results.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { status: string }).status);
    expect(statuses).toHaveLength(500);
    expect(new Set(statuses)).toEqual(new Set(['queued']));
  });

  it('no query outside the migrations derives a status from the task and batch rows itself', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const files = [...(await sources(path.join(root, 'src'))), ...(await sources(path.join(root, 'test')))];
    const offenders: string[] = [];
    for (const file of files) {
      if (file === import.meta.filename) continue;
      if ((await fs.readFile(file, 'utf8')).includes('geo_task_status(')) offenders.push(path.relative(root, file));
    }
    expect(offenders).toEqual([]);
  });
});
