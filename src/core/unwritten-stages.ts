import type { TransportName } from '../config/index.js';
import { GeoError, errorMessage } from '../errors.js';
import { jobsGet } from '../store/jobs.js';
import type { Pool } from '../store/pool.js';
import { stagesClaimUnwritten, stagesGet, stagesListUnwritten, stagesReleaseClaim } from '../store/stages.js';
import { newClaimToken } from './leases.js';
import type { SendPolicy } from './send-batch.js';
import { queueStage } from './stage.js';
import type { TransportResolver } from './targets.js';

/** A stage found half written, and what this run did about it. */
export interface UnwrittenStageReport {
  jobId: string;
  stage: number;
  expectedTasks: number;
  writtenTasks: number;
  /** A live writer (a submit still running) holds it: left alone. */
  heldByLiveWriter: boolean;
  /** Every task is written now. */
  finished: boolean;
  /** Why it could not be finished. */
  stoppedBy?: GeoError;
}

/**
 * Finishes stages whose writer stopped half-way (a crash or Ctrl-C during a
 * submit of millions of tasks): the job type rebuilds the stage's task
 * definitions, ids are deterministic, so only the missing batches are
 * written and sent. A stage with a live writer is left to it.
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
    sendPolicy: SendPolicy;
    signal?: AbortSignal;
  };
}): Promise<UnwrittenStageReport[]> {
  const { db, options } = params;
  const token = newClaimToken();
  const attempted = new Map<string, { finished: boolean; stoppedBy?: GeoError; expectedTasks: number }>();
  while (!options.signal?.aborted) {
    // A stage this run could not finish (its input file is needed, its rebuild failed) is released
    // below and would be claimed again at once: each job is tried once per run.
    const tried = [...attempted.keys()].map((key) => key.split(':')[0]!);
    const [next] = await stagesClaimUnwritten(db, { ...options, claimToken: token, limit: 1, excludeJobs: [...params.excludeJobs, ...tried] });
    if (!next) break;
    const outcome = await finishOne(next.jobId, next.stage);
    attempted.set(`${next.jobId}:${next.stage}`, outcome);
    await stagesReleaseClaim(db, { jobId: next.jobId, stage: next.stage, claimToken: token });
    if (outcome.stoppedBy?.kind === 'dependency') break;
  }
  const reports: UnwrittenStageReport[] = [];
  for (const [key, outcome] of attempted) {
    if (!outcome.finished) continue;
    const [jobId, stage] = key.split(':');
    const tasks = outcome.expectedTasks;
    reports.push({ jobId: jobId!, stage: Number(stage), expectedTasks: tasks, writtenTasks: tasks, heldByLiveWriter: false, finished: true });
  }
  // What is left half written: stages this run could not finish, and those a live writer holds.
  for (const stage of await stagesListUnwritten(db, options)) {
    reports.push({ ...stage, finished: false, stoppedBy: attempted.get(`${stage.jobId}:${stage.stage}`)?.stoppedBy });
  }
  return reports;

  async function finishOne(jobId: string, stageNumber: number): Promise<{ finished: boolean; stoppedBy?: GeoError; expectedTasks: number }> {
    const job = (await jobsGet(db, jobId))!;
    const stage = (await stagesGet(db, jobId, stageNumber))!;
    try {
      const transport = await params.transportFor({ transport: job.processingPath as TransportName, destination: job.destination });
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
          sendPolicy: options.sendPolicy,
          signal: options.signal,
        },
      });
      return { finished: run.stageWritten, stoppedBy: run.stoppedBy, expectedTasks: run.tasks };
    } catch (err) {
      const stoppedBy = err instanceof GeoError ? err : new GeoError('internal', 'STAGE_REBUILD_FAILED', errorMessage(err), { cause: err });
      return { finished: false, stoppedBy, expectedTasks: stage.taskCount };
    }
  }
}
