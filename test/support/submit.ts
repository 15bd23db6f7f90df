import type { TransportName } from '../../src/config/index.js';
import { batchIdFor, idPrefixFor, taskIdFor } from '../../src/core/ids.js';
import { DEFAULT_RETRY_POLICY } from '../../src/core/job-types/job-type.js';
import { prepareJob } from '../../src/core/prepare-job.js';
import { newClaimOwner } from '../../src/core/protocol/leases.js';
import { alignedBatches } from '../../src/core/protocol/plan.js';
import type { StageRunOptions } from '../../src/core/protocol/queue-stage.js';
import { type SubmitResult, submitJob } from '../../src/core/submit.js';
import { batchesInsert } from '../../src/store/batches.js';
import { jobsInsert } from '../../src/store/jobs.js';
import type { Pool } from '../../src/store/pool.js';
import { stagesEnsure } from '../../src/store/stages.js';
import type { TransportProducer } from '../../src/transports/transport.js';

export const FAST_SEND_POLICY = { maxAttempts: 3, baseMs: 5, maxMs: 20 };

/** Submits hello_world through the core with test-friendly defaults. */
export function submitHelloWorld(
  db: Pool,
  transport: TransportProducer,
  params: Record<string, unknown>,
  options: Partial<StageRunOptions> = {},
): Promise<SubmitResult> {
  return submitJob({
    db,
    transport,
    job: prepareJob('hello_world', params),
    destination: { transport: transport.name },
    options: { batchSize: 100, concurrency: 4, leaseSeconds: 30, sendPolicy: FAST_SEND_POLICY, ...options },
  });
}

/** Task counts by status for a job, straight from SQL (the ground truth, read as every report reads it). */
export async function taskStatusCounts(db: Pool, jobId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; count: number }>(
    `SELECT t.status AS status, count(*)::int AS count
     FROM task_states t WHERE t.job_id = $1 GROUP BY 1`,
    [jobId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}

/**
 * Writes stage 1 of a hello_world job as if every send had failed: all
 * batches `pending_queue`, no lease held. What recovery starts from.
 */
export async function writePendingJob(db: Pool, params: { n: number; name: string }, transport = 'servicebus'): Promise<string> {
  const job = prepareJob('hello_world', params);
  const stage = job.jobType.stages[0]!;
  await jobsInsert(db, {
    jobId: job.jobId,
    jobType: 'hello_world',
    parameters: job.parameters,
    processingPath: transport,
    tasksAreMessages: transport === 'local',
    idPrefix: idPrefixFor(job.jobId),
    destination: { transport: transport as TransportName },
    stageCount: 2,
  });
  await stagesEnsure(db, {
    jobId: job.jobId,
    stage: 1,
    name: stage.name,
    taskCount: params.n,
    batchSize: 100,
    retry: DEFAULT_RETRY_POLICY,
    acceptPartial: false,
    leaseSeconds: 1,
  });
  for await (const planned of alignedBatches(stage.tasks(job.parameters, { results: () => [] as never }), 100)) {
    await batchesInsert(db, {
      batches: [
        {
          batchId: batchIdFor(idPrefixFor(job.jobId), 1, planned.batchIndex),
          jobId: job.jobId,
          stage: 1,
          batchIndex: planned.batchIndex,
          taskType: stage.taskType,
          transport,
          tasks: planned.tasks.map((t) => ({ taskId: taskIdFor(idPrefixFor(job.jobId), 1, t.key), taskIndex: t.index, parameters: t.parameters })),
        },
      ],
      queued: false,
      leaseSeconds: 1,
      owner: newClaimOwner(null),
    });
  }
  await db.query(`UPDATE batches SET claimed_until = NULL, claim_token = NULL WHERE job_id = $1`, [job.jobId]);
  await db.query(`UPDATE stages SET status = 'processing', claimed_until = NULL WHERE job_id = $1`, [job.jobId]);
  return job.jobId;
}
