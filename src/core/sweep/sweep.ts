import type { TransportName } from '../../config/index.js';
import { GeoError } from '../../errors.js';
import type { Pool } from '../../store/pool.js';
import { type LapsedOutcome, redeliveriesPruneDelivered, tasksRequeueLapsed } from '../../store/redeliveries.js';
import { type ReapedSession, sessionsReapDead } from '../../store/sessions.js';
import { type Advancement, advanceStages } from '../advance.js';
import type { TransportResolver } from '../protocol/job-transport.js';
import { newClaimOwner } from '../protocol/leases.js';
import { MAX_BATCH_SIZE } from '../protocol/plan.js';
import type { SendPolicy } from '../protocol/send.js';
import { type DeadLetterOutcome, drainDeadLetters } from './dead-letters.js';
import type { UnreachableJob } from './destinations.js';
import { type PendingBatchOptions, type PendingBatchOutcome, recoverPendingBatches } from './pending-batches.js';
import { type RedeliveryOutcome, sendOwedMessages } from './redeliver.js';
import { finishUnwrittenStages, type UnwrittenStagesOutcome } from './unwritten-stages.js';

/** Lapsed claims put back per statement. */
const LAPSED_CHUNK = 1_000;

export interface SweepOptions extends PendingBatchOptions {
  jobId?: string;
  transport?: TransportName;
  session?: number | null;
  sendPolicy: SendPolicy;
  signal?: AbortSignal;
}

export interface SweepReport {
  /** geo processes found dead: their claims were freed. */
  reaped: ReapedSession[];
  /** Tasks whose claim lapsed, by what became of them. */
  lapsed: LapsedOutcome;
  redelivered: RedeliveryOutcome;
  deadLetters: DeadLetterOutcome;
  batches: PendingBatchOutcome;
  stages: UnwrittenStagesOutcome;
  advanced: Advancement[];
  stoppedBy?: GeoError;
}

/**
 * One pass over everything unfinished, so that no task waits for a message
 * nobody will send (docs/architecture.md, "Nothing waits forever"):
 *  1. claims of geo processes that died are freed at once (their sessions);
 *  2. tasks whose claim lapsed are put back, owed a message (or fail, when
 *     that was their last attempt);
 *  3. owed messages are sent (retries scheduled for their time);
 *  4. geo's messages a host dead-lettered are taken back, their tasks owed one;
 *  5. stages whose writer died are finished;
 *  6. batches a crash or an outage left unsent are sent;
 *  7. finished stages are advanced.
 * Every step claims what it works on (SKIP LOCKED, leases, fenced claims), so
 * any number of sweeps (every `geo work`, cron's `retry-pending`) run at once.
 */
export async function sweep(params: {
  db: Pool;
  transportFor: TransportResolver;
  /** The transports whose dead-letter queues to read (the destinations opened for this run). */
  deadLetterTransports: () => Parameters<typeof drainDeadLetters>[0]['transports'];
  unreachable: readonly UnreachableJob[];
  options: SweepOptions;
  /** Steps a caller does itself or less often (geo work advances on its own, and reads dead letters now and then). */
  skip?: { advance?: boolean; deadLetters?: boolean };
}): Promise<SweepReport> {
  const { db, options } = params;
  const excludeJobs = params.unreachable.map((u) => u.jobId);
  const owner = newClaimOwner(options.session);
  let stoppedBy: GeoError | undefined;
  const interrupted = () => {
    if (options.signal?.aborted) stoppedBy ??= new GeoError('incomplete', 'INTERRUPTED', 'interrupted; run retry-pending again to go on');
    return stoppedBy;
  };

  const reaped = await sessionsReapDead(db);
  const lapsed: LapsedOutcome = { requeued: 0, failed: 0, cancelled: 0 };
  while (!interrupted()) {
    const chunk = await tasksRequeueLapsed(db, { limit: LAPSED_CHUNK, jobId: options.jobId, excludeJobs });
    lapsed.requeued += chunk.requeued;
    lapsed.failed += chunk.failed;
    lapsed.cancelled += chunk.cancelled;
    if (chunk.requeued + chunk.failed + chunk.cancelled < LAPSED_CHUNK) break;
  }
  const redelivered = await sendOwedMessages({
    db,
    transportFor: params.transportFor,
    owner,
    leaseSeconds: options.leaseSeconds,
    policy: options.sendPolicy,
    jobId: options.jobId,
    excludeJobs,
    signal: options.signal,
  });
  stoppedBy ??= redelivered.stoppedBy;
  await redeliveriesPruneDelivered(db);
  const deadLetters =
    interrupted() || params.skip?.deadLetters
      ? { redelivered: 0, removed: 0 }
      : await drainDeadLetters({ db, transports: params.deadLetterTransports(), signal: options.signal });
  // Owed deliveries from the dead-letter queues go out in this pass too.
  if (deadLetters.redelivered > 0 && !interrupted()) {
    const more = await sendOwedMessages({
      db,
      transportFor: params.transportFor,
      owner,
      leaseSeconds: options.leaseSeconds,
      policy: options.sendPolicy,
      jobId: options.jobId,
      excludeJobs,
      signal: options.signal,
    });
    redelivered.sent += more.sent;
    redelivered.notNeeded += more.notNeeded;
    redelivered.failed += more.failed;
    stoppedBy ??= more.stoppedBy;
  }

  const stages = interrupted()
    ? { stages: [], resumedBatches: 0, sentTasks: 0 }
    : await finishUnwrittenStages({ db, transportFor: params.transportFor, excludeJobs, options });
  stoppedBy ??= stages.stages.find((s) => s.stoppedBy?.kind === 'dependency')?.stoppedBy;

  const batches = interrupted()
    ? { claimedBatches: 0, requeuedTasks: 0, failed: 0, failedTasks: 0, resetFailedBatches: 0 }
    : await recoverPendingBatches({ db, transportFor: params.transportFor, excludeJobs, options, stopped: interrupted });
  stoppedBy ??= batches.stoppedBy;

  let advanced: Advancement[] = [];
  if (!params.skip?.advance && !interrupted()) {
    advanced = await advanceStages({
      db,
      transportFor: params.transportFor,
      options: {
        leaseSeconds: options.leaseSeconds,
        concurrency: options.concurrency,
        batchSize: MAX_BATCH_SIZE,
        sendPolicy: options.sendPolicy,
        session: options.session,
        signal: options.signal,
        excludeJobs,
      },
    });
    stoppedBy ??= advanced.find((a) => a.action === 'retry-later' && a.error?.kind === 'dependency')?.error;
  }
  interrupted();
  return { reaped, lapsed, redelivered, deadLetters, batches, stages, advanced, stoppedBy };
}
