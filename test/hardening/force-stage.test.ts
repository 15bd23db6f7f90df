import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-hardening-unused') };
});
afterAll(async () => {
  await db.drop();
});

/** Finishes stage-1 tasks [from, to) as a worker would: completed, with the greeting as result. */
async function completeGreetings(jobId: string, from: number, to: number): Promise<void> {
  await db.pool.query(
    `WITH done AS (
       UPDATE tasks SET status = 'completed', result = jsonb_build_object('message', parameters->>'message'),
                        completed_at = now(), updated_at = now()
       WHERE job_id = $1 AND stage = 1 AND task_index >= $2 AND task_index < $3 AND status <> 'completed'
       RETURNING 1
     )
     UPDATE stages SET completed_count = completed_count + (SELECT count(*) FROM done) WHERE job_id = $1 AND stage = 1`,
    [jobId, from, to],
  );
}

/** Stage-2 tasks as stored, with whether their greeting is the stage-1 result they were built from. */
async function replies(jobId: string) {
  const { rows } = await db.pool.query<{ tasks: number; nullGreetings: number; matching: number }>(
    `SELECT count(*)::int AS tasks,
            count(*) FILTER (WHERE r.parameters->'greeting' IS NULL OR r.parameters->'greeting' = 'null'::jsonb)::int AS "nullGreetings",
            count(*) FILTER (WHERE r.parameters->>'greeting' = g.result->>'message')::int AS matching
     FROM tasks r LEFT JOIN tasks g ON g.job_id = r.job_id AND g.stage = 1 AND g.task_index = r.task_index
     WHERE r.job_id = $1 AND r.stage = 2`,
    [jobId],
  );
  return rows[0]!;
}

describe('queue-stage --force before the input stage completed (real binary)', () => {
  it('builds no task from a missing input, and says how many tasks are not ready and why', async () => {
    const submitted = await runGeo(['submit', 'hello_world', '--n', '250', '--param', 'name=forced', '--json'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const jobId = parseJsonOutput<{ jobId: string }>(submitted).jobId;
    // Stage 2's batch 0 has all its inputs, batch 1 half of them, batch 2 none.
    await completeGreetings(jobId, 0, 150);

    const refused = await runGeo(['queue-stage', jobId, '2'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/stage 1 is not complete \(150 of 250 tasks finished\)/);

    const forced = await runGeo(['queue-stage', jobId, '2', '--force', '--json'], env);
    expect(await replies(jobId)).toEqual({ tasks: 100, nullGreetings: 0, matching: 100 });
    // Exit 1: the run left tasks not written, which a script must not take for done.
    expect(forced.code, forced.stderr).toBe(1);
    expect(parseJsonOutput(forced)).toMatchObject({ tasks: 250, queued: 100, notWritten: 150 });
    expect(forced.stderr).toMatch(/150 tasks of stage 2 \(reply\) are not ready: stage 1 is not complete \(150 of 250 tasks finished\)/);

    // Once every input is there the stage is finished from them, still without a null greeting.
    await completeGreetings(jobId, 150, 250);
    const finished = await runGeo(['queue-stage', jobId, '2', '--json'], env);
    expect(finished.code, finished.stderr).toBe(0);
    expect(parseJsonOutput(finished)).toMatchObject({ tasks: 250, queued: 250, notWritten: 0 });
    expect(await replies(jobId)).toEqual({ tasks: 250, nullGreetings: 0, matching: 250 });
  });
});
