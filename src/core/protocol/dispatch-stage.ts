import { DependencyError, GeoError, errorMessage } from '../../errors.js';
import { batchesClaim, batchesForStage, batchesInsert, batchesPendingTaskIds, type StageBatchState } from '../../store/batches.js';
import { asConnectionLoss, type Pool } from '../../store/pool.js';
import { stagesFinish } from '../../store/completion.js';
import { stagesMarkWritten, stagesReleaseWriting } from '../../store/stages.js';
import { buildTaskMessage, type TaskMessage } from '../../transports/message.js';
import type { TransportProducer } from '../../transports/transport.js';
import { AdaptiveLimiter } from '../../concurrency/limiter.js';
import { alignedBatches, type PlannedBatch } from './plan.js';
import { batchIdFor, taskIdFor } from '../ids.js';
import type { TaskDefinition } from '../job-types/job-type.js';
import { LeaseKeeper } from './leases.js';
import { settleOtherSenders } from './other-senders.js';
import { DEFAULT_SEND_POLICY, recordSentBatches, sendClaimedBatch, type BatchResult, type SendPolicy, type SentBatch } from './send.js';
import { Tally, type StageCounts } from './ledger.js';

/**
 * Batches written by one statement (and recorded by one after sending). A
 * commit that writes costs milliseconds (its WAL flush), more than 100 rows,
 * so one commit per group instead of per batch and step (measurements in
 * docs/architecture.md). Each batch keeps its own row, id, all-or-nothing
 * insert and single transport send.
 */
const BATCHES_PER_STATEMENT = 10;

export interface DispatchProgress extends StageCounts {
  batchesDone: number;
  notWritten: number;
  elapsedMs: number;
}

/**
 * Moments of the batch protocol, for observers (the crash tests stop a
 * process at one of them): `written` after step 1 committed, `sent` after
 * step 2 and before step 3, `resumed` after a pending batch was claimed to be
 * sent again.
 */
export type ProtocolPhase = 'written' | 'sent' | 'resumed';
export type PhaseObserver = (phase: ProtocolPhase, batchIds: string[]) => void | Promise<void>;

export interface DispatchParams {
  db: Pool;
  transport: TransportProducer;
  job: { jobId: string; jobType: string; idPrefix: string };
  stage: { stage: number; taskType: string; taskCount: number; batchSize: number };
  tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>;
  /**
   * Write only the batches the builder produced in full, and leave the stage
   * `queuing` for a later run: set when a stage is built before its inputs
   * are complete (`queue-stage --force`), whose builder skips tasks whose
   * input is not ready.
   */
  partialInputs?: boolean;
  /** Groups of batches in flight; each sends its batches at once. */
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
 * Runs the batch protocol for one stage: streams the task definitions into
 * aligned batches and, for each batch not already done, (1) writes it with
 * its tasks, (2) sends it as one transport batch, (3) marks what was
 * acknowledged. Resumable: batches already queued are skipped, pending ones
 * whose lease expired are re-sent, and batches another live process is
 * sending are left to it, awaited, and taken over if that process dies.
 * Once every batch exists the stage is marked written.
 */
export async function dispatchStage(params: DispatchParams): Promise<DispatchResult> {
  const started = Date.now();
  const { db, transport, job, stage } = params;
  const policy = params.sendPolicy ?? DEFAULT_SEND_POLICY;
  const tally = new Tally(stage.taskCount, Math.ceil(stage.taskCount / stage.batchSize));
  const existing = new Map((await batchesForStage(db, job.jobId, stage.stage)).map((b) => [b.batchIndex, b]));
  for (const batch of existing.values()) {
    if (batch.status !== 'pending_queue') tally.add({ queued: batch.taskCount - batch.failedTasks, failed: batch.failedTasks });
  }

  let built = 0;
  let streamEnded = false;
  const source = alignedBatches(countBuilt(params.tasks, () => built++), stage.batchSize)[Symbol.asyncIterator]();
  const limiter = new AdaptiveLimiter(params.concurrency * BATCHES_PER_STATEMENT);
  const leases = new LeaseKeeper(db, params.leaseSeconds, params.session, params.onNotice);
  leases.holdStage(job.jobId, stage.stage);
  const elsewhere: string[] = [];
  let createdTasks = 0;
  let sentTasks = 0;
  let resumedBatches = 0;
  let notReady = 0;
  let lostBatches = 0;
  let consecutiveFailures = 0;
  let stoppedBy: GeoError | undefined;
  let failure: unknown;
  const report = () => params.onProgress?.({ ...tally.snapshot(), elapsedMs: Date.now() - started });
  const onAbort = () => {
    stoppedBy ??= new GeoError('incomplete', 'INTERRUPTED', 'interrupted; run the same command again to resume');
  };
  params.signal?.addEventListener('abort', onAbort, { once: true });
  if (params.signal?.aborted) onAbort();

  const messagesFor = (batchId: string, tasks: TaskDefinition[]): TaskMessage[] =>
    tasks.map((t) =>
      buildTaskMessage({
        taskId: taskIdFor(job.idPrefix, stage.stage, t.key),
        jobId: job.jobId,
        jobType: job.jobType,
        taskType: stage.taskType,
        stage: stage.stage,
        batchId,
        parameters: t.parameters,
      }),
    );

  const send = (batchId: string, messages: TaskMessage[], carried?: { queued: number; failed: number }) =>
    sendClaimedBatch({ transport, batchId, messages, carried, policy, limiter, leases, shouldStop: () => stoppedBy !== undefined });

  /** Step 1 for new batches (one statement), then step 2 unless the database is the queue. */
  async function writeAndSend(group: PlannedBatch[]): Promise<SentBatch[]> {
    const prepared = group.map((planned) => {
      const batchId = batchIdFor(job.idPrefix, stage.stage, planned.batchIndex);
      return { planned, batchId, messages: messagesFor(batchId, planned.tasks) };
    });
    const inserted = await batchesInsert(db, {
      batches: prepared.map(({ planned, batchId, messages }) => ({
        batchId,
        jobId: job.jobId,
        stage: stage.stage,
        batchIndex: planned.batchIndex,
        taskType: stage.taskType,
        transport: transport.name,
        tasks: messages.map((m, i) => ({ taskId: m.taskId, taskIndex: planned.tasks[i]!.index, parameters: m.parameters })),
      })),
      queued: transport.writesWithTasks,
      leaseSeconds: params.leaseSeconds,
      owner: leases.owner,
    });
    const mine = prepared.filter(({ batchId }) => inserted.has(batchId));
    for (const { batchId } of prepared) if (!inserted.has(batchId)) elsewhere.push(batchId);
    for (const { messages } of mine) createdTasks += messages.length;
    if (transport.writesWithTasks) {
      for (const { messages } of mine) tally.add({ queued: messages.length });
      sentTasks += mine.reduce((n, b) => n + b.messages.length, 0);
      return [];
    }
    for (const { batchId } of mine) leases.hold(batchId);
    await params.onPhase?.('written', mine.map((b) => b.batchId));
    return Promise.all(mine.map(({ batchId, messages }) => send(batchId, messages)));
  }

  /** Resumes a batch an earlier run wrote but did not finish sending, if its lease lapsed. */
  async function resume(planned: PlannedBatch, prior: StageBatchState): Promise<SentBatch | undefined> {
    if (!(await batchesClaim(db, { batchId: prior.batchId, leaseSeconds: params.leaseSeconds, owner: leases.owner }))) {
      elsewhere.push(prior.batchId);
      return undefined;
    }
    leases.hold(prior.batchId);
    resumedBatches++;
    await params.onPhase?.('resumed', [prior.batchId]);
    const pending = new Set(await batchesPendingTaskIds(db, prior.batchId));
    const messages = messagesFor(prior.batchId, planned.tasks);
    const carried = { queued: messages.length - pending.size - prior.failedTasks, failed: prior.failedTasks };
    return send(
      prior.batchId,
      messages.filter((m) => pending.has(m.taskId)),
      carried,
    );
  }

  function account(results: BatchResult[]): void {
    for (const result of results) {
      if (result.lost) {
        lostBatches++;
        elsewhere.push(result.batchId);
        continue;
      }
      tally.add(result);
      if (!result.error) {
        consecutiveFailures = 0;
        continue;
      }
      consecutiveFailures++;
      if (!result.error.retryable) stoppedBy ??= result.error;
      else if (consecutiveFailures >= (params.maxConsecutiveFailures ?? 3)) {
        stoppedBy ??= new DependencyError(
          'TRANSPORT_UNAVAILABLE',
          `${transport.target} kept failing (${result.error.message}); stopped after ${consecutiveFailures} batches in a row could not be sent`,
          { cause: result.error },
        );
      }
    }
  }

  /** The number of tasks batch k must hold to be complete. */
  const expectedSize = (batchIndex: number) => Math.min(stage.batchSize, stage.taskCount - batchIndex * stage.batchSize);

  /** Takes up to BATCHES_PER_STATEMENT batches that still need work from the shared stream. */
  async function nextGroup(): Promise<{ fresh: PlannedBatch[]; resumed: Array<[PlannedBatch, StageBatchState]> } | undefined> {
    const fresh: PlannedBatch[] = [];
    const resumed: Array<[PlannedBatch, StageBatchState]> = [];
    while (fresh.length + resumed.length < BATCHES_PER_STATEMENT) {
      const next = await source.next();
      if (next.done) {
        streamEnded = true;
        break;
      }
      const planned = next.value;
      const prior = existing.get(planned.batchIndex);
      if (!prior && params.partialInputs && planned.tasks.length < expectedSize(planned.batchIndex)) {
        // A batch is written whole or not at all: its id and task count are fixed once written.
        notReady += planned.tasks.length;
        continue;
      }
      if (!prior) fresh.push(planned);
      else if (prior.status === 'pending_queue') resumed.push([planned, prior]);
    }
    return fresh.length + resumed.length > 0 ? { fresh, resumed } : undefined;
  }

  async function worker(): Promise<void> {
    while (stoppedBy === undefined && failure === undefined) {
      try {
        const group = await nextGroup();
        if (!group) return;
        const sent = await Promise.all([
          group.fresh.length > 0 ? writeAndSend(group.fresh) : [],
          Promise.all(group.resumed.map(([planned, prior]) => resume(planned, prior))),
        ]);
        const toRecord = sent.flat().filter((b): b is SentBatch => b !== undefined);
        if (toRecord.length > 0) await params.onPhase?.('sent', toRecord.map((b) => b.batchId));
        const results = await recordSentBatches(db, leases, toRecord);
        for (const b of toRecord) if (!results.find((r) => r.batchId === b.batchId)?.lost) sentTasks += b.acknowledged.length;
        account(results);
        report();
      } catch (err) {
        // A lost database ends the run like a broker outage: what is written stays resumable.
        const lostDatabase = asConnectionLoss(err);
        if (lostDatabase) stoppedBy ??= lostDatabase;
        else failure ??= err;
      }
    }
  }

  let stageWritten = false;
  try {
    await Promise.all(Array.from({ length: params.concurrency }, worker));
    if (failure !== undefined) throw failure;
    if (!stoppedBy) {
      const settled = await settleOtherSenders({
        db,
        transport,
        leases,
        limiter,
        policy,
        leaseSeconds: params.leaseSeconds,
        batchIds: elsewhere,
        shouldStop: () => stoppedBy !== undefined,
      });
      for (const counts of settled) tally.add(counts);
    }
    // Tasks the builder left out because their inputs are not complete yet.
    if (params.partialInputs) notReady += Math.max(0, stage.taskCount - built);
    if (!stoppedBy && streamEnded && notReady === 0) {
      stageWritten = true;
      const marked = await stagesMarkWritten(db, { jobId: job.jobId, stage: stage.stage, taskCount: built });
      // A stage of no tasks, or one whose count just fell to what its tasks already reached, finishes now.
      if (marked) await stagesFinish({ db, jobId: job.jobId, stage: stage.stage, completed: 0, failed: 0 });
      if (marked && built !== stage.taskCount) {
        stoppedBy = new GeoError(
          'incomplete',
          'STAGE_TASK_COUNT_MISMATCH',
          `${job.jobType} stage ${stage.stage} declared ${stage.taskCount} tasks but built ${built}; the stage now counts ${built} so it can finish (a bug in the job type)`,
        );
      }
    }
  } catch (err) {
    const lostDatabase = asConnectionLoss(err);
    if (!lostDatabase) throw err;
    stoppedBy ??= lostDatabase;
  } finally {
    params.signal?.removeEventListener('abort', onAbort);
    leases.stop();
    await source.return?.(undefined);
  }
  if (!stageWritten && !(stoppedBy?.code === 'DATABASE_CONNECTION_LOST')) {
    await stagesReleaseWriting(db, { jobId: job.jobId, stage: stage.stage }).catch((err: unknown) =>
      params.onNotice?.(`could not give up the stage's writer lease (it lapses in ${params.leaseSeconds}s): ${errorMessage(err)}`),
    );
  }
  report();
  const counts = tally.snapshot();
  return {
    ...counts,
    notWritten: stageWritten ? 0 : counts.notWritten,
    notReady,
    createdTasks,
    sentTasks,
    resumedBatches,
    lostBatches,
    stageWritten,
    elapsedMs: Date.now() - started,
    stoppedBy,
  };
}

async function* countBuilt(
  tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>,
  onTask: () => void,
): AsyncGenerator<TaskDefinition> {
  for await (const task of tasks) {
    onTask();
    yield task;
  }
}
