import type { GeoError } from '../../errors.js';
import { type TaskHolder, tasksHolders } from '../../store/holders.js';
import type { Pool } from '../../store/pool.js';
import { batchesCountFailed, batchesListDue, type DueBatch, pendingSummary } from '../../store/recovery.js';
import { type LapsedOutcome, type RedeliverySummary, redeliveriesSummary, tasksCountLapsed } from '../../store/redeliveries.js';
import type { ReapedSession } from '../../store/sessions.js';
import { stageCompletionsListFailing } from '../../store/stage-completions.js';
import { stagesListUnwritten } from '../../store/stages.js';
import type { Advancement } from '../advance.js';
import type { TransportResolver } from '../protocol/job-transport.js';
import type { DeadLetterOutcome } from './dead-letters.js';
import { openDestinations, type UnreachableJob } from './destinations.js';
import type { RedeliveryOutcome } from './redeliver.js';
import { type SweepOptions, sweep } from './sweep.js';
import type { UnwrittenStageReport } from './unwritten-stages.js';

export type RetryPendingOptions = SweepOptions & { dryRun: boolean };

/** An advancement that keeps failing, with why and when it is tried next. */
export interface FailingAdvancement {
  jobId: string;
  stage: number;
  attempts: number;
  lastError: string;
  retryAt: Date | null;
}

export interface RetryPendingResult {
  /** Pending batches claimed and sent again: by the batch recovery and while finishing stages. */
  claimedBatches: number;
  /** Tasks of those batches put on the queue. */
  requeuedTasks: number;
  /** Every task this run put on a queue: pending batches, finished stages, redeliveries, next stages. */
  sentTasks: number;
  /** Tasks in pending batches after this run, whoever holds them. */
  stillPending: number;
  /** Pending batches, and their tasks, under another process's live claim (it is sending them). */
  heldByOthers: { batches: number; tasks: number };
  /** Of those tasks, the ones a live geo process provably holds (its session): work in progress, not left behind. */
  heldByLiveSessions: number;
  /** Batches moved to `failed` by this run. */
  failed: number;
  failedTasks: number;
  /** Tasks whose claim had lapsed, put back and owed a message. */
  staleProcessingRequeued: number;
  /** Tasks whose claim lapsed on their last attempt: failed. */
  staleProcessingFailed: number;
  lapsed: LapsedOutcome;
  resetFailedBatches: number;
  /** geo processes found dead, whose claims this run freed. */
  reapedSessions: ReapedSession[];
  redelivered: RedeliveryOutcome;
  deadLetters: DeadLetterOutcome;
  /** Stages found half written: finished by this run, or still missing tasks. */
  stages: UnwrittenStageReport[];
  /** Tasks of those stages still not written after this run. */
  notWritten: number;
  /** Workers holding running tasks under live leases: work that only waiting finishes. */
  heldTasks: TaskHolder[];
  /** Owed messages not sent yet (their sends keep failing). */
  owed: RedeliverySummary;
  /** Finished stages whose advancement keeps failing. */
  failingAdvancements: FailingAdvancement[];
  /** Jobs left alone because their destination is not configured here. */
  unreachable: UnreachableJob[];
  /** Finished stages this run advanced (next stage queued, or job ended). */
  advanced: Advancement[];
  /** With dryRun: what a real run would claim (nothing was changed). */
  wouldClaim?: DueBatch[];
  wouldRequeueStale?: number;
  failedBatchesWaiting?: number;
  elapsedMs: number;
  stoppedBy?: GeoError;
}

/**
 * `geo retry-pending`: one sweep (core/sweep/sweep.ts) over every
 * unfinished thing, as cron runs it, then what is left and why. Every
 * destination is opened (configuration and reachability checked) before
 * anything is claimed. Safe in any number of copies next to live submits and
 * workers.
 */
export async function retryPending(params: { db: Pool; transportFor: TransportResolver; options: RetryPendingOptions }): Promise<RetryPendingResult> {
  const started = Date.now();
  const { db, options } = params;
  const filter = { jobId: options.jobId, transport: options.transport, olderThanSeconds: options.olderThanSeconds };
  const result = emptyResult();

  if (options.dryRun) {
    result.wouldClaim = await batchesListDue(db, { ...filter, limit: options.limit });
    result.wouldRequeueStale = await tasksCountLapsed(db, { jobId: options.jobId });
    result.failedBatchesWaiting = await batchesCountFailed(db, filter);
    return addWhatIsLeft(db, options, result, started);
  }

  // Configuration and reachability of every destination first: a run that
  // cannot send claims nothing, so the next run is not locked out.
  const destinations = await openDestinations(db, params.transportFor, { ...filter, includeFailed: options.includeFailed });
  result.unreachable = destinations.unreachable;
  const swept = await sweep({
    db,
    transportFor: destinations.transportFor,
    deadLetterTransports: destinations.opened,
    unreachable: destinations.unreachable,
    options,
  });
  const { batches, stages } = swept;
  result.claimedBatches = batches.claimedBatches + stages.resumedBatches;
  result.requeuedTasks = batches.requeuedTasks + stages.sentTasks;
  result.failed = batches.failed;
  result.failedTasks = batches.failedTasks;
  result.resetFailedBatches = batches.resetFailedBatches;
  result.lapsed = swept.lapsed;
  result.staleProcessingRequeued = swept.lapsed.requeued;
  result.staleProcessingFailed = swept.lapsed.failed;
  result.reapedSessions = swept.reaped;
  result.redelivered = swept.redelivered;
  result.deadLetters = swept.deadLetters;
  result.stages = stages.stages;
  result.advanced = swept.advanced;
  result.sentTasks =
    result.requeuedTasks + swept.redelivered.sent + swept.advanced.reduce((n, a) => n + (a.action === 'queued-next-stage' ? (a.queuedTasks ?? 0) : 0), 0);
  result.stoppedBy = swept.stoppedBy;
  return addWhatIsLeft(db, options, result, started);
}

function emptyResult(): RetryPendingResult {
  return {
    claimedBatches: 0,
    requeuedTasks: 0,
    sentTasks: 0,
    stillPending: 0,
    heldByOthers: { batches: 0, tasks: 0 },
    heldByLiveSessions: 0,
    failed: 0,
    failedTasks: 0,
    staleProcessingRequeued: 0,
    staleProcessingFailed: 0,
    lapsed: { requeued: 0, failed: 0, cancelled: 0 },
    resetFailedBatches: 0,
    reapedSessions: [],
    redelivered: { sent: 0, notNeeded: 0, failed: 0 },
    deadLetters: { redelivered: 0, removed: 0 },
    stages: [],
    notWritten: 0,
    heldTasks: [],
    owed: { unsent: 0, failing: 0, lastError: null, scheduled: 0 },
    failingAdvancements: [],
    unreachable: [],
    advanced: [],
    elapsedMs: 0,
  };
}

/** What is left after the run (or, dry, before it), and by whom it is held. */
async function addWhatIsLeft(db: Pool, options: RetryPendingOptions, result: RetryPendingResult, started: number): Promise<RetryPendingResult> {
  const jobFilter = { jobId: options.jobId, transport: options.transport };
  const [pending, holders, owed, failing] = await Promise.all([
    pendingSummary(db, jobFilter),
    tasksHolders(db, jobFilter),
    redeliveriesSummary(db, { jobId: options.jobId }),
    stageCompletionsListFailing({ db, jobId: options.jobId }),
  ]);
  result.stillPending = pending.pendingTasks;
  result.heldByOthers = { batches: pending.heldBatches, tasks: pending.heldTasks };
  result.heldByLiveSessions = pending.sessionTasks;
  result.heldTasks = holders;
  result.owed = owed;
  result.failingAdvancements = failing;
  if (result.stages.length === 0) result.stages = (await stagesListUnwritten(db, jobFilter)).map((s) => ({ ...s, finished: false }));
  result.notWritten = result.stages.reduce((sum, s) => sum + Math.max(0, s.expectedTasks - s.writtenTasks), 0);
  result.elapsedMs = Date.now() - started;
  return result;
}

/**
 * What a run left that no live geo process is working on: retry-pending's
 * exit 1. Work a live geo process provably holds (its session: a submit
 * still writing, another retry-pending sending, a geo work running tasks) is
 * reported but is its work in progress; work held only under a lease (a
 * worker that is not geo, which may be dead) or not held at all is left.
 */
export function workLeft(result: RetryPendingResult): number {
  return (
    result.stillPending -
    result.heldByLiveSessions +
    result.failed +
    result.unreachable.length +
    result.stages.filter((s) => !s.finished && !s.writer).length +
    result.heldTasks.filter((h) => !h.session).reduce((n, h) => n + h.tasks, 0) +
    result.owed.unsent +
    result.failingAdvancements.length
  );
}
