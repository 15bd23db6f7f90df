import { DependencyError, GeoError, InputError } from '../errors.js';
import { batchesClaim, batchesForStage, batchesInsert, batchesPendingTaskIds, batchesStatus, type StageBatchState } from '../store/batches.js';
import type { Pool } from '../store/pool.js';
import type { TaskMessage } from '../transports/message.js';
import type { Transport } from '../transports/transport.js';
import { sleep } from './backoff.js';
import { alignedBatches, type PlannedBatch } from './batching.js';
import { batchIdFor, taskIdFor } from './ids.js';
import type { TaskDefinition } from './job-types/job-type.js';
import { LeaseKeeper } from './leases.js';
import { AdaptiveLimiter } from '../concurrency/limiter.js';
import {
  DEFAULT_SEND_POLICY,
  recordSentBatches,
  sendClaimedBatch,
  type BatchResult,
  type SendPolicy,
  type SentBatch,
} from './send-batch.js';
import { Tally, type StageCounts } from './tally.js';

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

export interface DispatchParams {
  db: Pool;
  transport: Transport;
  job: { jobId: string; jobType: string; idPrefix: string };
  stage: { stage: number; taskType: string; taskCount: number; batchSize: number };
  tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>;
  /** Groups of batches in flight; each sends its batches at once. */
  concurrency: number;
  leaseSeconds: number;
  sendPolicy?: SendPolicy;
  /** Consecutive batches that exhaust their retries before the run stops (the broker is down). */
  maxConsecutiveFailures?: number;
  onProgress?: (progress: DispatchProgress) => void;
  /** Aborting stops taking new batches; batches in flight finish, so the run stays resumable. */
  signal?: AbortSignal;
}

export interface DispatchResult extends StageCounts {
  notWritten: number;
  createdTasks: number;
  elapsedMs: number;
  /** Why the run stopped early (a permanent or persistent transport error, an interruption). */
  stoppedBy?: GeoError;
}

/**
 * Runs the batch protocol for one stage: streams the task definitions into
 * aligned batches and, for each batch not already done, (1) writes it with
 * its tasks, (2) sends it as one transport batch, (3) marks what was
 * acknowledged. Resumable: batches already queued are skipped, pending ones
 * whose lease expired are re-sent, and batches another live process is
 * sending are left to it and awaited.
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

  const source = alignedBatches(params.tasks, stage.batchSize)[Symbol.asyncIterator]();
  const limiter = new AdaptiveLimiter(params.concurrency * BATCHES_PER_STATEMENT);
  const leases = transport.inDatabase ? undefined : new LeaseKeeper(db, params.leaseSeconds);
  const elsewhere: string[] = [];
  let createdTasks = 0;
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
    tasks.map((t) => ({
      taskId: taskIdFor(job.idPrefix, stage.stage, t.key),
      jobId: job.jobId,
      jobType: job.jobType,
      taskType: stage.taskType,
      stage: stage.stage,
      batchId,
      parameters: t.parameters,
      attempt: 0,
    }));

  const send = (batchId: string, messages: TaskMessage[], carried?: { queued: number; failed: number }) =>
    sendClaimedBatch({ transport, batchId, messages, carried, policy, limiter, leases, shouldStop: () => stoppedBy !== undefined });

  /** Step 1 for new batches (one statement), then steps 2 and 3 unless the database is the queue. */
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
      queued: transport.inDatabase,
      leaseSeconds: params.leaseSeconds,
    });
    const mine = prepared.filter(({ batchId }) => inserted.has(batchId));
    for (const { batchId } of prepared) if (!inserted.has(batchId)) elsewhere.push(batchId);
    for (const { messages } of mine) createdTasks += messages.length;
    if (transport.inDatabase) {
      for (const { messages } of mine) tally.add({ queued: messages.length });
      return [];
    }
    return Promise.all(mine.map(({ batchId, messages }) => send(batchId, messages)));
  }

  /** Resumes a batch an earlier run wrote but did not finish sending, if its lease lapsed. */
  async function resume(planned: PlannedBatch, prior: StageBatchState): Promise<SentBatch | undefined> {
    if (!(await batchesClaim(db, { batchId: prior.batchId, leaseSeconds: params.leaseSeconds }))) {
      elsewhere.push(prior.batchId);
      return undefined;
    }
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

  /** Takes up to BATCHES_PER_STATEMENT batches that still need work from the shared stream. */
  async function nextGroup(): Promise<{ fresh: PlannedBatch[]; resumed: Array<[PlannedBatch, StageBatchState]> } | undefined> {
    const fresh: PlannedBatch[] = [];
    const resumed: Array<[PlannedBatch, StageBatchState]> = [];
    while (fresh.length + resumed.length < BATCHES_PER_STATEMENT) {
      const next = await source.next();
      if (next.done) break;
      const prior = existing.get(next.value.batchIndex);
      if (!prior) fresh.push(next.value);
      else if (prior.status === 'pending_queue') resumed.push([next.value, prior]);
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
        account(await recordSentBatches(db, toRecord));
        report();
      } catch (err) {
        failure ??= err;
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: params.concurrency }, worker));
    if (failure !== undefined) throw failure;
    await awaitOthers(db, job.jobId, elsewhere, tally, params.leaseSeconds);
  } finally {
    params.signal?.removeEventListener('abort', onAbort);
    leases?.stop();
    await source.return?.(undefined);
  }
  report();
  return { ...tally.snapshot(), createdTasks, elapsedMs: Date.now() - started, stoppedBy };
}

/**
 * Batches another live process was sending (a concurrent submit of the same
 * job): wait until they leave pending_queue or their sender's lease lapses,
 * so both submits report the same final state.
 */
async function awaitOthers(db: Pool, jobId: string, batchIds: string[], tally: Tally, leaseSeconds: number): Promise<void> {
  let waiting = batchIds;
  const deadline = Date.now() + leaseSeconds * 1000 + 1_000;
  while (waiting.length > 0) {
    const rows = await batchesStatus(db, waiting);
    const foreign = rows.find((r) => r.jobId !== jobId);
    if (foreign) {
      // Ids carry only 8 hex digits of the job id: another job holds this one.
      throw new InputError('ID_COLLISION', `batch id ${foreign.batchId} is already used by job ${foreign.jobId}`);
    }
    const now = Date.now();
    const settled = rows.filter(
      (r) => r.status !== 'pending_queue' || r.claimedUntil === null || r.claimedUntil.getTime() < now || now > deadline,
    );
    for (const row of settled) {
      if (row.status === 'pending_queue') tally.add({ pendingQueue: row.taskCount });
      else tally.add({ queued: row.taskCount - row.failedTasks, failed: row.failedTasks });
    }
    const settledIds = new Set(settled.map((r) => r.batchId));
    waiting = waiting.filter((id) => !settledIds.has(id) && rows.some((r) => r.batchId === id));
    if (waiting.length > 0) await sleep(200);
  }
}
