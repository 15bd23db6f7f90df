import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStages, stageNamesOf } from '../../src/core/stage-names.js';
import { jobsGet } from '../../src/store/jobs.js';
import { migrate } from '../../src/store/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A job as a build before migration 012 wrote it: a stage count, no names; `created` of its stages exist. */
async function oldJob(jobId: string, jobType: string, names: string[], created: number): Promise<void> {
  // The statement of that time: the column may not exist yet.
  await db.pool.query(
    `INSERT INTO jobs (job_id, job_type, parameters, processing_path, id_prefix, destination, stage_count, tasks_are_messages)
     VALUES ($1, $2, '{}', 'local', $3, '{"transport":"local"}', $4, true)`,
    [jobId, jobType, jobId.slice(0, 16), names.length],
  );
  for (const [i, name] of names.slice(0, created).entries()) {
    await db.pool.query('INSERT INTO stages (job_id, stage, name, task_count, batch_size) VALUES ($1, $2, $3, 1, 1)', [jobId, i + 1, name]);
  }
}

describe('stage names recorded with the job', () => {
  it('migration 012 names the jobs written before it whose stages all exist, and leaves the others to their job type', async () => {
    // The schema as it was before 012, with two jobs of that time.
    await db.pool.query('ALTER TABLE jobs DROP COLUMN stage_names');
    await db.pool.query("DELETE FROM geo_migrations WHERE name = '012_job_stage_names'");
    const whole = 'a'.repeat(64);
    const partial = 'b'.repeat(64);
    await oldJob(whole, 'module_not_here', ['scan', 'merge'], 2);
    await oldJob(partial, 'hello_world', ['greeting', 'reply'], 1);

    expect((await migrate(db.pool)).applied).toEqual(['012_job_stage_names']);

    const named = (await jobsGet(db.pool, whole))!;
    expect(named.stageNames).toEqual(['scan', 'merge']);
    expect(await describeStages(named)).toBe('1 (scan), 2 (merge)');
    // Stage 2 does not exist yet, so nothing names it in the database: the built-in job type does.
    const unnamed = (await jobsGet(db.pool, partial))!;
    expect(unnamed.stageNames).toBeNull();
    expect(await stageNamesOf(unnamed)).toEqual(['greeting', 'reply']);
  });

  it('a job of a type this process does not have, written before 012, lists its stages by number', async () => {
    const jobId = 'c'.repeat(64);
    await oldJob(jobId, 'module_not_here', ['scan', 'merge'], 0);
    const job = (await jobsGet(db.pool, jobId))!;
    expect(job.stageNames).toBeNull();
    expect(await describeStages(job)).toBe('1, 2');
  });
});
