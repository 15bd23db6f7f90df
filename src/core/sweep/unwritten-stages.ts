import type { TransportName } from '../../config/index.js';
import { errorMessage, GeoError } from '../../errors.js';
import { jobsFail, jobsGet } from '../../store/jobs.js';
import type { Pool } from '../../store/pool.js';
import { type StageWriter, stagesClaimUnwritten, stagesGet, stagesListUnwritten, stagesReleaseClaim } from '../../store/stages.js';
import { isPermanent } from '../advance.js';
import { sendTargetOf, type TransportResolver } from '../protocol/job-transport.js';
import { newClaimOwner } from '../protocol/leases.js';
import { queueStage } from '../protocol/queue-stage.js';
import type { SendPolicy } from '../protocol/send.js';

/** A stage found half written, and what this run did about it. */
export interface UnwrittenStageReport {
  jobId: string;
  stage: number;
  expectedTasks: number;
  writtenTasks: number;
  /** A live writer (a submit still running) holds it: left alone. */
  heldByLiveWriter: boolean;
  /** The live writer, when it is a geo process (its host and pid). */
  writer?: StageWriter | null;
  /** Until when the writer's lease holds it. */
  leaseUntil?: Date | null;
  /** Every task is written now. */
  finished: boolean;
  /** Why it could not be finished. */
  stoppedBy?: GeoError;
}

export interface UnwrittenStagesOutcome {
  stages: UnwrittenStageReport[];
  /** Batches written earlier and left pending that finishing the stages sent again. */
  resumedBatches: number;
  /** Tasks finishing the stages put on the queue. */
  sentTasks: number;
}

/**
 * Finishes stages whose writer stopped half-way (a crash or Ctrl-C during a
 * submit of millions of tasks; a dead writer's claim is freed at once by its
 * session): the job type rebuilds the stage's task definitions, ids are
 * deterministic, so only the missing batches are written and sent. A stage
 * with a live writer is left to it.
 */
export async function finishUnwrittenStages(params: {
  db: Pool;
  transportFor: TransportResolver;
  excludeJobs: string[];
  options: {
    jobId?: string;
    transport?: TransportName;
    leaseSeconds: number;
    concurrency: number;
    session?: number | null;
    sendPolicy: SendPolicy;
    signal?: AbortSignal;
  };
}): Promise<UnwrittenStagesOutcome> {
  const { db, options } = params;
  const owner = newClaimOwner(options.session);
  const attempted = new Map<string, { finished: boolean; stoppedBy?: GeoError; expectedTasks: number }>();
  const outcome: UnwrittenStagesOutcome = { stages: [], resumedBatches: 0, sentTasks: 0 };
  while (!options.signal?.aborted) {
    // A stage this run could not finish (its input file is needed, its rebuild failed) is released
    // below and would be claimed again at once: each job is tried once per run.
    const tried = [...attempted.keys()].map((key) => key.split(':')[0]!);
    const [next] = await stagesClaimUnwritten(db, { ...options, owner, limit: 1, excludeJobs: [...params.excludeJobs, ...tried] });
    if (!next) break;
    const result = await finishOne(next.jobId, next.stage);
    attempted.set(`${next.jobId}:${next.stage}`, result);
    await stagesReleaseClaim(db, { jobId: next.jobId, stage: next.stage, claimToken: owner.token });
    if (result.stoppedBy?.kind === 'dependency') break;
  }
  for (const [key, result] of attempted) {
    if (!result.finished) continue;
    const [jobId, stage] = key.split(':');
    const tasks = result.expectedTasks;
    outcome.stages.push({ jobId: jobId!, stage: Number(stage), expectedTasks: tasks, writtenTasks: tasks, heldByLiveWriter: false, finished: true });
  }
  // What is left half written: stages this run could not finish, and those a live writer holds.
  for (const stage of await stagesListUnwritten(db, options)) {
    outcome.stages.push({ ...stage, finished: false, stoppedBy: attempted.get(`${stage.jobId}:${stage.stage}`)?.stoppedBy });
  }
  return outcome;

  async function finishOne(jobId: string, stageNumber: number): Promise<{ finished: boolean; stoppedBy?: GeoError; expectedTasks: number }> {
    const job = (await jobsGet(db, jobId))!;
    const stage = (await stagesGet(db, jobId, stageNumber))!;
    try {
      const transport = await params.transportFor(sendTargetOf(job));
      // Forced: a stage built before its inputs were complete is finished from the inputs ready now.
      const run = await queueStage({
        db,
        transport,
        job,
        stage: stageNumber,
        force: true,
        options: {
          batchSize: stage.batchSize,
          concurrency: options.concurrency,
          leaseSeconds: options.leaseSeconds,
          session: options.session,
          sendPolicy: options.sendPolicy,
          signal: options.signal,
        },
      });
      outcome.resumedBatches += run.resumedBatches;
      outcome.sentTasks += run.sentTasks;
      if (run.stoppedBy && isPermanent(run.stoppedBy)) await failJob(run.stoppedBy);
      return { finished: run.stageWritten, stoppedBy: run.stoppedBy, expectedTasks: run.tasks };
    } catch (err) {
      const stoppedBy = err instanceof GeoError ? err : new GeoError('internal', 'STAGE_REBUILD_FAILED', errorMessage(err), { cause: err });
      if (isPermanent(stoppedBy)) await failJob(stoppedBy);
      return { finished: false, stoppedBy, expectedTasks: stage.taskCount };
    }

    /** The job type cannot build this stage, now or ever: the job ends failed, the error kept on the stage. */
    async function failJob(error: GeoError): Promise<void> {
      await jobsFail(db, { jobId, stage: stageNumber, stageError: error.message, errors: { stage: stageNumber, error: error.message, code: error.code } });
    }
  }
}
