import { InputError } from '../errors.js';
import type { JobRow } from '../store/jobs.js';
import type { Pool } from '../store/pool.js';
import { stagesEnsure, stagesGet } from '../store/stages.js';
import { tasksStreamResults } from '../store/tasks.js';
import type { Transport } from '../transports/transport.js';
import { MAX_BATCH_SIZE } from './batching.js';
import { dispatchStage, type DispatchProgress, type DispatchResult } from './dispatch.js';
import { getJobType } from './job-types/registry.js';
import type { SendPolicy } from './send-batch.js';

export interface StageRunOptions {
  batchSize: number;
  concurrency: number;
  leaseSeconds: number;
  sendPolicy?: SendPolicy;
  onProgress?: (progress: DispatchProgress) => void;
  signal?: AbortSignal;
  /** Called with facts worth telling the user (a changed batch size ignored). */
  onNotice?: (message: string) => void;
}

export interface StageRunResult extends DispatchResult {
  jobId: string;
  jobType: string;
  stage: number;
  stageName: string;
  transport: string;
  tasksPerSecond: number;
}

/**
 * Builds one stage's tasks from the job type and queues the missing ones.
 * Idempotent: a finished stage is a quick no-op, an interrupted one resumes.
 * A stage built from an earlier one's results refuses to run before those
 * results are complete unless forced.
 */
export async function queueStage(params: {
  db: Pool;
  transport: Transport;
  job: JobRow;
  stage: number;
  force?: boolean;
  options: StageRunOptions;
}): Promise<StageRunResult> {
  const { db, transport, job, options } = params;
  if (job.processingPath !== transport.name) {
    throw new InputError(
      'TRANSPORT_MISMATCH',
      `job ${job.jobId.slice(0, 8)} sends to ${job.processingPath}; run it with --transport ${job.processingPath}`,
    );
  }
  if (options.batchSize < 1 || options.batchSize > MAX_BATCH_SIZE) {
    throw new InputError('INVALID_BATCH_SIZE', `--batch-size must be between 1 and ${MAX_BATCH_SIZE}`);
  }
  const jobType = getJobType(job.jobType);
  const jobParams = jobType.params.parse(job.parameters);
  const definition = jobType.stages.find((s) => s.stage === params.stage);
  if (!definition) {
    const known = jobType.stages.map((s) => `${s.stage} (${s.name})`).join(', ');
    throw new InputError('STAGE_NOT_FOUND', `${job.jobType} has no stage ${params.stage}; its stages: ${known}`);
  }
  if (definition.inputStage !== undefined && !params.force) {
    await assertInputsReady(db, job.jobId, definition.inputStage);
  }

  const stageRow = await stagesEnsure(db, {
    jobId: job.jobId,
    stage: definition.stage,
    name: definition.name,
    taskCount: definition.taskCount(jobParams),
    batchSize: options.batchSize,
  });
  if (stageRow.batchSize !== options.batchSize) {
    options.onNotice?.(
      `stage ${definition.stage} was first dispatched with batch size ${stageRow.batchSize}; keeping it so batch ids stay stable`,
    );
  }

  const result = await dispatchStage({
    db,
    transport,
    job: { jobId: job.jobId, jobType: job.jobType, idPrefix: job.idPrefix },
    stage: { stage: definition.stage, taskType: definition.taskType, taskCount: stageRow.taskCount, batchSize: stageRow.batchSize },
    tasks: definition.tasks(jobParams, { results: (stage) => tasksStreamResults(db, { jobId: job.jobId, stage }) }),
    concurrency: options.concurrency,
    leaseSeconds: options.leaseSeconds,
    sendPolicy: options.sendPolicy,
    onProgress: options.onProgress,
    signal: options.signal,
  });
  return {
    ...result,
    jobId: job.jobId,
    jobType: job.jobType,
    stage: definition.stage,
    stageName: definition.name,
    transport: transport.name,
    tasksPerSecond: result.elapsedMs > 0 ? Math.round((result.createdTasks / result.elapsedMs) * 1000) : 0,
  };
}

async function assertInputsReady(db: Pool, jobId: string, inputStage: number): Promise<void> {
  const input = await stagesGet(db, jobId, inputStage);
  const finished = input ? input.completedCount + input.failedCount : 0;
  if (!input || finished < input.taskCount) {
    const state = input ? `${finished} of ${input.taskCount} tasks finished` : 'not queued yet';
    throw new InputError(
      'STAGE_INPUTS_NOT_READY',
      `stage ${inputStage} is not complete (${state}); wait for it, or pass --force to build from the results so far`,
    );
  }
}
