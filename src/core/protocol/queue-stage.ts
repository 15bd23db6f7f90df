import { InputError } from '../../errors.js';
import type { JobStatus } from '../../statuses.js';
import { type JobRow, jobsGet } from '../../store/jobs.js';
import type { Pool } from '../../store/pool.js';
import { stagesEnsure, stagesGet } from '../../store/stages.js';
import { tasksStreamResults } from '../../store/tasks.js';
import type { TransportProducer } from '../../transports/transport.js';
import { formatCount } from '../../words.js';
import type { DispatchEvents } from '../events.js';
import { retryPolicyOf, type TaskOutcome } from '../job-types/job-type.js';
import { getJobType } from '../job-types/registry.js';
import { type StageItems, stageInputs, stageSizes } from '../job-types/stage-inputs.js';
import { type DispatchProgress, type DispatchResult, dispatchStage, type PhaseObserver } from './dispatch-stage.js';
import { MAX_BATCH_SIZE } from './plan.js';
import type { SendPolicy } from './send.js';

export interface StageRunOptions {
  batchSize: number;
  concurrency: number;
  leaseSeconds: number;
  /** The process's session: its claims are freed at once if it dies. */
  session?: number | null;
  sendPolicy?: SendPolicy;
  onProgress?: (progress: DispatchProgress) => void;
  signal?: AbortSignal;
  /** Called with facts worth telling the user (a changed batch size ignored). */
  onNotice?: (message: string) => void;
  onPhase?: PhaseObserver;
  /** Observers of the batch protocol (trace spans). */
  events?: DispatchEvents;
}

export interface StageRunResult extends DispatchResult {
  jobId: string;
  jobType: string;
  /** The job's status after the run: a job already `completed` or `failed` has nothing left to queue. */
  jobStatus: JobStatus;
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
  transport: TransportProducer;
  job: JobRow;
  stage: number;
  force?: boolean;
  options: StageRunOptions;
  /** The input items of a stage built from items (`geo submit --input`). */
  items?: StageItems;
}): Promise<StageRunResult> {
  const { db, transport, job, options } = params;
  if (job.processingPath !== transport.name) {
    throw new InputError('TRANSPORT_MISMATCH', `job ${job.jobId.slice(0, 8)} sends to ${job.processingPath}; run it with --transport ${job.processingPath}`);
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
  const inputState = definition.inputStage === undefined ? true : await inputsReady(db, job.jobId, definition.inputStage);
  const inputsComplete = inputState === true;
  if (!inputsComplete && !params.force) {
    throw new InputError(
      'STAGE_INPUTS_NOT_READY',
      `stage ${definition.inputStage} is not complete (${inputState}); wait for it, or pass --force to queue the tasks whose inputs are ready`,
    );
  }

  const stageRow = await stagesEnsure(db, {
    jobId: job.jobId,
    stage: definition.stage,
    name: definition.name,
    taskCount: await definition.taskCount(jobParams, stageSizes(db, job.jobId, params.items)),
    batchSize: options.batchSize,
    retry: retryPolicyOf(definition),
    acceptPartial: definition.acceptPartial ?? false,
    leaseSeconds: options.leaseSeconds,
    session: options.session,
  });
  if (stageRow.batchSize !== options.batchSize) {
    options.onNotice?.(`stage ${definition.stage} was first dispatched with batch size ${stageRow.batchSize}; keeping it so batch ids stay stable`);
  }

  const result = await dispatchStage({
    db,
    transport,
    job: { jobId: job.jobId, jobType: job.jobType, idPrefix: job.idPrefix },
    stage: { stage: definition.stage, taskType: definition.taskType, taskCount: stageRow.taskCount, batchSize: stageRow.batchSize },
    // Before its inputs are complete, a stage is built only from the inputs
    // that are: a task is never built from a missing result.
    tasks: definition.tasks(jobParams, {
      ...stageInputs(db, job.jobId, params.items),
      results: (stage) => (inputsComplete ? tasksStreamResults(db, { jobId: job.jobId, stage }) : completedOnly(db, job.jobId, stage)),
    }),
    partialInputs: !inputsComplete,
    concurrency: options.concurrency,
    leaseSeconds: options.leaseSeconds,
    session: options.session,
    sendPolicy: options.sendPolicy,
    onProgress: options.onProgress,
    onPhase: options.onPhase,
    onNotice: options.onNotice,
    signal: options.signal,
    events: options.events,
  });
  if (result.notReady > 0) {
    // --force queues what is ready; what is not must be said, or it looks queued.
    options.onNotice?.(
      `${formatCount(result.notReady)} tasks of stage ${definition.stage} (${definition.name}) are not ready: ` +
        `stage ${definition.inputStage} is not complete (${inputState}); run queue-stage again once it is`,
    );
  }
  // Read again: a fast worker may have finished the job while this run wrote its stage.
  const after = await jobsGet(db, job.jobId);
  return {
    ...result,
    jobId: job.jobId,
    jobType: job.jobType,
    jobStatus: after?.status ?? job.status,
    stage: definition.stage,
    stageName: definition.name,
    transport: transport.name,
    tasksPerSecond: result.elapsedMs > 0 ? Math.round((result.createdTasks / result.elapsedMs) * 1000) : 0,
  };
}

/** True when every task of the input stage has finished; otherwise what state it is in. */
async function inputsReady(db: Pool, jobId: string, inputStage: number): Promise<true | string> {
  const input = await stagesGet(db, jobId, inputStage);
  if (!input) return 'not queued yet';
  const finished = input.completedCount + input.failedCount;
  return finished >= input.taskCount && input.status !== 'queuing' ? true : `${formatCount(finished)} of ${formatCount(input.taskCount)} tasks finished`;
}

async function* completedOnly(db: Pool, jobId: string, stage: number): AsyncGenerator<TaskOutcome> {
  for await (const outcome of tasksStreamResults(db, { jobId, stage })) {
    if (outcome.status === 'completed') yield outcome;
  }
}
