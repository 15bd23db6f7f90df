import type { TransportName } from '../config/index.js';
import { idPrefixFor, jobIdFor } from '../core/ids.js';
import { DEFAULT_RETRY_POLICY, type TaskDefinition } from '../core/job-types/job-type.js';
import { jobsInsert } from '../store/jobs.js';
import type { Queryable } from '../store/pool.js';
import { stagesEnsure } from '../store/stages.js';

export type BenchMode = 'individual' | 'aligned';

export const BENCH_TASK_TYPE = 'greeting';

export interface BenchJob {
  jobId: string;
  jobType: string;
  parameters: Record<string, unknown>;
}

/**
 * A bench job: its own job type name (`bench-individual`, `bench-aligned`)
 * and a nonce in its parameters, so its id (and the task ids and message ids
 * derived from it) never equals a real job's, and two runs never share one.
 */
export function benchJob(mode: BenchMode, params: { n: number; nonce: string; run: number }): BenchJob {
  const jobType = `bench-${mode}`;
  const parameters = { n: params.n, nonce: params.nonce, run: params.run };
  return { jobId: jobIdFor(jobType, parameters), jobType, parameters };
}

/**
 * The workload both modes run: hello_world's stage 1 (`greet-<i>` with the
 * same parameters and message size), so the comparison is on identical tasks.
 */
export function* benchTasks(n: number): Generator<TaskDefinition> {
  for (let i = 0; i < n; i++) {
    yield { index: i, key: `greet-${i}`, parameters: { i, message: `Hello World from task ${i}!` } };
  }
}

/** The job and stage rows both modes start with (the seeds' flow has them too). */
export async function benchJobCreate(
  db: Queryable,
  params: { job: BenchJob; transport: string; tasksAreMessages: boolean; taskCount: number; batchSize: number },
): Promise<void> {
  const { job } = params;
  await jobsInsert(db, {
    jobId: job.jobId,
    jobType: job.jobType,
    parameters: job.parameters,
    processingPath: params.transport,
    tasksAreMessages: params.tasksAreMessages,
    idPrefix: idPrefixFor(job.jobId),
    destination: { transport: params.transport as TransportName },
    stageCount: 1,
    stageNames: ['greeting'],
  });
  await stagesEnsure(db, {
    jobId: job.jobId,
    stage: 1,
    name: 'greeting',
    taskCount: params.taskCount,
    batchSize: params.batchSize,
    retry: DEFAULT_RETRY_POLICY,
    acceptPartial: false,
    leaseSeconds: 60,
  });
}
