import type { AdaptiveLimiter } from '../../concurrency/limiter.js';
import type { Pool } from '../../store/pool.js';
import type { TaskMessage } from '../../transports/message.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { BatchSpans } from './batch-spans.js';
import type { LeaseKeeper } from './leases.js';
import type { StageLedger } from './ledger.js';
import type { PhaseObserver } from './phases.js';
import type { BatchGroup, PlannedBatch } from './plan.js';
import { recordSentBatches } from './record.js';
import { type SendPolicy, type SentBatch, sendClaimedBatch } from './send.js';
import type { DispatchStop } from './stop.js';
import { claimBatch, unsentOfPlannedBatch } from './take-over.js';
import type { GroupTiming, GroupWindow } from './window.js';
import { prepareBatches, type StageTarget, writeBatches } from './write.js';

/** What the steps of one dispatch share: its connections, its claims, its ledger and its stop. */
export interface StageRun {
  db: Pool;
  transport: TransportProducer;
  target: StageTarget;
  leaseSeconds: number;
  policy: SendPolicy;
  /** Batches in flight across the run's senders, lowered while the broker throttles. */
  limiter: AdaptiveLimiter;
  leases: LeaseKeeper;
  ledger: StageLedger;
  stop: DispatchStop;
  /** A trace span per batch and step (nothing without a startSpan hook). */
  spans: BatchSpans;
  /** Groups in flight, widened by long round trips to the broker. */
  window: GroupWindow;
  /**
   * The groups' statements (steps 1 and 3) running at once: `--concurrency`
   * however wide the window, so the extra groups wait here rather than for
   * the pool, and a lease renewal always finds a connection.
   */
  statements: AdaptiveLimiter;
  onPhase?: PhaseObserver;
}

/**
 * Steps 1 to 3 for one group of the plan: new batches are written (one
 * statement) and sent while pending ones an earlier run left are claimed and
 * sent again; then every batch sent is recorded (one statement).
 */
export async function dispatchGroup(run: StageRun, group: BatchGroup): Promise<void> {
  const timing: GroupTiming = { databaseMs: 0, sendMs: 0 };
  const [fresh, resumed] = await Promise.all([writeAndSend(run, group.fresh, timing), Promise.all(group.pending.map((p) => resumeBatch(run, p)))]);
  const sent = [...fresh, ...resumed.filter((b): b is SentBatch => b !== undefined)];
  if (sent.length > 0)
    await run.onPhase?.(
      'sent',
      sent.map((b) => b.batchId),
    );
  const recording = performance.now();
  const results = await run.spans.step(
    'record',
    sent.map((b) => b.batchId),
    () => withStatement(run, () => recordSentBatches(run.db, run.leases, sent)),
  );
  timing.databaseMs += performance.now() - recording;
  if (fresh.length > 0) run.window.observe(timing);
  run.spans.endRecorded(results);
  run.ledger.addRecorded(sent, results);
  run.stop.noteSends(results);
}

/** Step 1 for new batches, then step 2 unless the transport's rows are its messages; `timing` gets how long each took. */
async function writeAndSend(run: StageRun, batches: PlannedBatch[], timing: GroupTiming): Promise<SentBatch[]> {
  if (batches.length === 0) return [];
  const prepared = prepareBatches(run.target, batches);
  const writing = performance.now();
  for (const b of prepared) run.spans.begin(b.batchId, { 'geo.batch_index': b.planned.batchIndex, 'geo.tasks': b.messages.length });
  const { written, heldElsewhere } = await run.spans.step(
    'write',
    prepared.map((b) => b.batchId),
    () =>
      withStatement(run, () =>
        writeBatches({
          db: run.db,
          transport: run.transport,
          target: run.target,
          batches: prepared,
          leaseSeconds: run.leaseSeconds,
          owner: run.leases.owner,
        }),
      ),
  );
  timing.databaseMs += performance.now() - writing;
  for (const batchId of heldElsewhere) {
    run.ledger.leaveToHolder(batchId);
    run.spans.end(batchId, undefined, { 'geo.outcome': 'written-by-another' });
  }
  run.ledger.addWritten(written, run.transport.writesWithTasks);
  if (run.transport.writesWithTasks) {
    for (const b of written) run.spans.end(b.batchId, undefined, { 'geo.outcome': 'queued', 'geo.queued': b.messages.length });
    return [];
  }
  for (const { batchId } of written) run.leases.hold(batchId);
  await run.onPhase?.(
    'written',
    written.map((b) => b.batchId),
  );
  const sending = performance.now();
  const sent = await Promise.all(written.map((b) => send(run, b.batchId, b.messages)));
  timing.sendMs = performance.now() - sending;
  return sent;
}

/** Takes over a batch an earlier run wrote but did not finish sending, if its lease lapsed, and sends what is left. */
async function resumeBatch(run: StageRun, pending: BatchGroup['pending'][number]): Promise<SentBatch | undefined> {
  const { batchId } = pending.prior;
  if (!(await claimBatch({ db: run.db, leases: run.leases, leaseSeconds: run.leaseSeconds, batchId }))) {
    run.ledger.leaveToHolder(batchId);
    return undefined;
  }
  run.ledger.resumedBatches++;
  run.spans.begin(batchId, { 'geo.batch_index': pending.planned.batchIndex, 'geo.resumed': true });
  await run.onPhase?.('resumed', [batchId]);
  const { messages, carried } = await unsentOfPlannedBatch({ db: run.db, target: run.target, ...pending });
  return send(run, batchId, messages, carried);
}

async function withStatement<T>(run: StageRun, statement: () => Promise<T>): Promise<T> {
  await run.statements.acquire();
  try {
    return await statement();
  } finally {
    run.statements.release();
  }
}

/** Step 2 for one batch this run holds. */
function send(run: StageRun, batchId: string, messages: TaskMessage[], carried?: { queued: number; failed: number }): Promise<SentBatch> {
  return run.spans.step('send', [batchId], () =>
    sendClaimedBatch({
      transport: run.transport,
      batchId,
      messages,
      carried,
      policy: run.policy,
      limiter: run.limiter,
      leases: run.leases,
      shouldStop: () => run.stop.stopped,
    }),
  );
}
