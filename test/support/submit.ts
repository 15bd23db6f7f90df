import { prepareJob } from '../../src/core/jobs.js';
import type { StageRunOptions } from '../../src/core/stage.js';
import { submitJob, type SubmitResult } from '../../src/core/submit.js';
import type { Pool } from '../../src/store/pool.js';
import type { Transport } from '../../src/transports/transport.js';

export const FAST_SEND_POLICY = { maxAttempts: 3, baseMs: 5, maxMs: 20 };

/** Submits hello_world through the core with test-friendly defaults. */
export function submitHelloWorld(
  db: Pool,
  transport: Transport,
  params: Record<string, unknown>,
  options: Partial<StageRunOptions> = {},
): Promise<SubmitResult> {
  return submitJob({
    db,
    transport,
    job: prepareJob('hello_world', params),
    options: { batchSize: 100, concurrency: 4, leaseSeconds: 30, sendPolicy: FAST_SEND_POLICY, ...options },
  });
}

/** Task counts by status for a job, straight from SQL (the ground truth). */
export async function taskStatusCounts(db: Pool, jobId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; count: number }>(
    'SELECT status, count(*)::int AS count FROM tasks WHERE job_id = $1 GROUP BY status',
    [jobId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}
