import { AdaptiveLimiter } from '../../concurrency/limiter.js';
import { errorMessage, type GeoError } from '../../errors.js';
import { batchesForStage } from '../../store/batches.js';
import type { Pool } from '../../store/pool.js';
import { stagesReleaseWriting } from '../../store/stages.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { DispatchEvents } from '../events.js';
import type { TaskDefinition } from '../job-types/job-type.js';
import { BatchSpans } from './batch-spans.js';
import { dispatchGroup, type StageRun } from './dispatch-group.js';
import { LeaseKeeper } from './leases.js';
import { type StageCounts, StageLedger } from './ledger.js';
import { awaitOtherSenders } from './other-senders.js';
import type { PhaseObserver } from './phases.js';
import { BATCHES_PER_GROUP, StagePlan } from './plan.js';
import { recordStageWritten } from './record.js';
import { DEFAULT_SEND_POLICY, type SendPolicy } from './send.js';
import { DispatchStop } from './stop.js';
import { GroupWindow } from './window.js';
import type { StageTarget } from './write.js';

export interface DispatchProgress extends StageCounts {
  batchesDone: number;
  notWritten: number;
  elapsedMs: number;
}

export interface DispatchParams extends StageTarget {
  db: Pool;
  transport: TransportProducer;
  tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>;
  /**
   * Write only the batches the builder produced in full, and leave the stage
   * `queuing` for a later run: set when a stage is built before its inputs
   * are complete (`queue-stage --force`), whose builder skips tasks whose
   * input is not ready.
   */
  partialInputs?: boolean;
  /**
   * Groups of batches in flight; each sends its batches at once. The floor:
   * a long round trip to the broker widens it (window.ts).
   */
  concurrency: number;
  leaseSeconds: number;
  /** The process's session: its claims are freed at once if it dies. */
  session?: number | null;
  sendPolicy?: SendPolicy;
  /** Consecutive batches that exhaust their retries before the run stops (the broker is down). */
  maxConsecutiveFailures?: number;
  onProgress?: (progress: DispatchProgress) => void;
  onPhase?: PhaseObserver;
  /** Told about trouble that does not stop the run (a failed lease renewal). */
  onNotice?: (message: string) => void;
  /** Aborting stops taking new batches; batches in flight finish, so the run stays resumable. */
  signal?: AbortSignal;
  /** Observers: a trace span per batch and step. */
  events?: DispatchEvents;
}

export interface DispatchResult extends StageCounts {
  notWritten: number;
  /** Tasks left out because their inputs are not complete yet (partialInputs). */
  notReady: number;
  createdTasks: number;
  /** Tasks this run put on the queue: acknowledged sends (written rows, for a transport whose rows are its messages). */
  sentTasks: number;
  /** Batches an earlier run left pending that this run claimed and sent again. */
  resumedBatches: number;
  /** Batches another process took over from this run (their outcome is that process's). */
  lostBatches: number;
  /** Whether every task of the stage is now written (the stage left `queuing`). */
  stageWritten: boolean;
  elapsedMs: number;
  /** Why the run stopped early (a permanent or persistent transport error, an interruption, a lost database). */
  stoppedBy?: GeoError;
}

/**
 * Runs the batch protocol for one stage: plans the task definitions into
 * aligned batches and, for each batch not already done, (1) writes it with
 * its tasks, (2) sends it as one transport batch, (3) records what was
 * acknowledged (dispatch-group.ts). Resumable: batches already queued are
 * skipped, pending ones whose lease expired are taken over and sent again,
 * and batches another live process is sending are left to it, awaited, and
 * taken over if that process dies. Once every batch exists the stage is
 * recorded written.
 */
export async function dispatchStage(params: DispatchParams): Promise<DispatchResult> {
  const started = Date.now();
  const existing = await batchesForStage(params.db, params.job.jobId, params.stage.stage);
  const run = openRun(params);
  run.ledger.addFinished(existing);
  const plan = new StagePlan(params.tasks, params.stage, new Map(existing.map((b) => [b.batchIndex, b])), params.partialInputs ?? false);
  const report = () => params.onProgress?.({ ...run.ledger.snapshot(), elapsedMs: Date.now() - started });
  const unwatch = run.stop.watch(params.signal);
  let stageWritten = false;
  try {
    await runSenders(run, plan, report);
    if (run.stop.failure !== undefined) throw run.stop.failure;
    if (!run.stop.stopped) await awaitHeldElsewhere(run);
    plan.countUnbuilt();
    if (!run.stop.stopped && plan.ended && plan.notReady === 0) {
      stageWritten = true;
      const mismatch = await recordStageWritten(run.db, run.target, plan.built);
      // The stage's count is now what was built: that is the run's outcome, whatever else stopped it meanwhile.
      if (mismatch) run.stop.reason = mismatch;
    }
  } catch (err) {
    run.stop.stopIfDatabaseLost(err);
  } finally {
    unwatch();
    run.spans.endAll(run.stop.failure === undefined ? run.stop.reason?.message : errorMessage(run.stop.failure));
    run.leases.stop();
    await plan.close();
  }
  if (!stageWritten && run.stop.reason?.code !== 'DATABASE_CONNECTION_LOST') await releaseStage(run, params.onNotice);
  report();
  const counts = run.ledger.snapshot();
  const { createdTasks, sentTasks, resumedBatches, lostBatches } = run.ledger;
  return {
    ...counts,
    notWritten: stageWritten ? 0 : counts.notWritten,
    notReady: plan.notReady,
    createdTasks,
    sentTasks,
    resumedBatches,
    lostBatches,
    stageWritten,
    elapsedMs: Date.now() - started,
    stoppedBy: run.stop.reason,
  };
}

/** The run's shared state; its lease keeper also keeps the stage's writer lease fresh from here on. */
function openRun(params: DispatchParams): StageRun {
  const leases = new LeaseKeeper(params.db, params.leaseSeconds, params.session, params.onNotice);
  leases.holdStage(params.job.jobId, params.stage.stage);
  const window = new GroupWindow(params.concurrency);
  return {
    db: params.db,
    transport: params.transport,
    target: { job: params.job, stage: params.stage },
    leaseSeconds: params.leaseSeconds,
    policy: params.sendPolicy ?? DEFAULT_SEND_POLICY,
    limiter: new AdaptiveLimiter(window.max * BATCHES_PER_GROUP),
    // Never throttled: a plain count of the statements running.
    statements: new AdaptiveLimiter(params.concurrency),
    leases,
    ledger: new StageLedger(params.stage),
    stop: new DispatchStop(params.transport.target, params.maxConsecutiveFailures ?? 3),
    spans: new BatchSpans(params.events?.startSpan, {
      'geo.job_id': params.job.jobId,
      'geo.job_type': params.job.jobType,
      'geo.stage': params.stage.stage,
      'geo.transport': params.transport.name,
    }),
    onPhase: params.onPhase,
    window,
  };
}

/**
 * The run's concurrent senders, sharing the plan: `--concurrency` of them,
 * and more while the window is wider (a long round trip to the broker); a
 * sender past the window's size stops after its group. Resolves when every
 * sender has stopped.
 */
function runSenders(run: StageRun, plan: StagePlan, report: () => void): Promise<void> {
  return new Promise((resolve) => {
    let running = 0;
    const start = (): void => {
      running++;
      let narrowed = false;
      const next = (): boolean => {
        while (running < run.window.size && !run.stop.ended && !plan.ended) start();
        // Counted out here, not when its promise settles, so two senders ending together cannot both leave.
        narrowed = running > run.window.size;
        if (narrowed) running--;
        return narrowed;
      };
      void sendGroups(run, plan, report, next).finally(() => {
        if (!narrowed) running--;
        if (running === 0) resolve();
      });
    };
    for (let i = 0; i < run.window.base; i++) start();
  });
}

/** One of the run's concurrent senders: takes groups from the shared plan until none is left, the run stops, or `narrowed` says the window no longer has room for it. */
async function sendGroups(run: StageRun, plan: StagePlan, report: () => void, narrowed: () => boolean): Promise<void> {
  while (!run.stop.ended) {
    try {
      const group = await plan.nextGroup();
      if (!group) return;
      await dispatchGroup(run, group);
      report();
    } catch (err) {
      run.stop.noteError(err);
    }
    if (narrowed()) return;
  }
}

/** Batches other processes wrote or took over: their final counts, once their senders are done (or dead). */
async function awaitHeldElsewhere(run: StageRun): Promise<void> {
  const settled = await awaitOtherSenders({
    db: run.db,
    transport: run.transport,
    leases: run.leases,
    limiter: run.limiter,
    policy: run.policy,
    leaseSeconds: run.leaseSeconds,
    batchIds: run.ledger.heldElsewhere,
    shouldStop: () => run.stop.stopped,
  });
  for (const counts of settled) run.ledger.add(counts);
}

/** A stage this run did not finish writing is given up at once, so the sweep need not wait out the lease. */
async function releaseStage(run: StageRun, onNotice: DispatchParams['onNotice']): Promise<void> {
  const { job, stage } = run.target;
  await stagesReleaseWriting(run.db, { jobId: job.jobId, stage: stage.stage }).catch((err: unknown) =>
    onNotice?.(`could not give up the stage's writer lease (it lapses in ${run.leaseSeconds}s): ${errorMessage(err)}`),
  );
}

export type { PhaseObserver, ProtocolPhase } from './phases.js';
