import type { Destination } from '../config/destinations.js';
import { GeoError, InputError } from '../errors.js';
import { jobsDelete, jobsInsert } from '../store/jobs.js';
import type { Pool } from '../store/pool.js';
import type { TransportProducer } from '../transports/transport.js';
import { isPermanent } from './advance.js';
import { idPrefixFor } from './ids.js';
import type { StageItems } from './job-types/stage-inputs.js';
import { checkItemsSource, type PreparedJob } from './prepare-job.js';
import { queueStage, type StageRunOptions, type StageRunResult } from './protocol/queue-stage.js';

export interface SubmitResult extends StageRunResult {
  /** False when the job already existed (a resubmission or a resume). */
  jobCreated: boolean;
}

/**
 * Creates the job (or finds it: the same type and parameters are the same
 * job) and queues its first stage. Running it again resumes an interrupted
 * submit and creates nothing that already exists.
 */
export async function submitJob(params: {
  db: Pool;
  transport: TransportProducer;
  job: PreparedJob;
  /** Where the job's messages go (recorded with the job for retry-pending). */
  destination: Destination;
  options: StageRunOptions;
  /** The validated input items, for a job type whose stage 1 is built from items (`--input`). */
  items?: StageItems;
}): Promise<SubmitResult> {
  const { db, transport, job } = params;
  const firstStage = job.jobType.stages[0];
  if (!firstStage) throw new InputError('JOB_TYPE_EMPTY', `${job.jobType.name} defines no stages`);
  checkItemsSource(job, { input: params.items !== undefined });
  const { job: row, created } = await jobsInsert(db, {
    jobId: job.jobId,
    jobType: job.jobType.name,
    parameters: job.parameters,
    processingPath: transport.name,
    tasksAreMessages: transport.writesWithTasks,
    idPrefix: idPrefixFor(job.jobId),
    destination: params.destination,
    stageCount: job.jobType.stages.length,
    stageNames: job.jobType.stages.map((s) => s.name),
  });
  let result: StageRunResult;
  try {
    result = await queueStage({ db, transport, job: row, stage: firstStage.stage, options: params.options, items: params.items });
  } catch (err) {
    if (created && isPermanent(err)) await undo(err as GeoError);
    throw err;
  }
  if (created && result.stoppedBy && isPermanent(result.stoppedBy)) await undo(result.stoppedBy);
  return { ...result, jobCreated: created };

  /**
   * The job type does not build what it declares (or its builder threw): bad
   * input, so, as for any exit 2, nothing of the job stays. Messages a broker
   * already took find no task and are acknowledged unrun.
   */
  async function undo(err: GeoError): Promise<never> {
    await jobsDelete(db, job.jobId);
    throw new GeoError('input', err.code, `${err.message}; nothing was written`, { cause: err });
  }
}
