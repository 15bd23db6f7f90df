import { backoffDelay } from '../../concurrency/backoff.js';
import type { TransportName } from '../../config/index.js';
import { DependencyError, type GeoError } from '../../errors.js';
import type { Pool } from '../../store/pool.js';
import { type DueRedelivery, type RedeliveryRecord, redeliveriesClaimDue, redeliveriesRecord } from '../../store/redeliveries.js';
import type { ClaimOwner } from '../../store/stage-completions.js';
import { buildTaskMessage, type TaskMessage } from '../../transports/message.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { TransportResolver } from '../protocol/job-transport.js';
import { type SendPolicy, sendBatchWithRetry } from '../protocol/send.js';

/** Owed messages claimed per statement (one transport batch at most). */
const CHUNK = 100;
/** A delivery whose send failed is tried again after this, doubling up to the cap, for as long as it takes. */
const RETRY_BACKOFF = { baseMs: 5_000, maxMs: 300_000 };

export interface RedeliveryOutcome {
  /** Messages sent (due now, or scheduled for their time). */
  sent: number;
  /** Owed messages found moot: their task moved on meanwhile. */
  notNeeded: number;
  /** Sends that failed this run; tried again by a later sweep. */
  failed: number;
  stoppedBy?: GeoError;
}

/**
 * Sends the messages geo owes (the `redeliveries` outbox): a retry waiting
 * out its delay is scheduled for its time, anything else is sent now, each
 * with a message id unique to its delivery. A delivery is recorded only after
 * its send was acknowledged, so a crash in between sends it again (Service
 * Bus drops the duplicate; elsewhere the claim answers it). A send that fails
 * stays owed and is tried again with backoff: the outbox never gives up on a
 * task, or the task would wait for a message nobody sends.
 */
export async function sendOwedMessages(params: {
  db: Pool;
  transportFor: TransportResolver;
  owner: ClaimOwner;
  leaseSeconds: number;
  policy: SendPolicy;
  jobId?: string;
  excludeJobs: readonly string[];
  signal?: AbortSignal;
}): Promise<RedeliveryOutcome> {
  const { db, owner } = params;
  const outcome: RedeliveryOutcome = { sent: 0, notNeeded: 0, failed: 0 };
  // A failed send is recorded with a next attempt in the future, so this loop never claims it twice.
  while (!params.signal?.aborted && !outcome.stoppedBy) {
    const chunk = await redeliveriesClaimDue(db, {
      limit: CHUNK,
      leaseSeconds: params.leaseSeconds,
      owner,
      jobId: params.jobId,
      excludeJobs: params.excludeJobs,
    });
    if (chunk.length === 0) break;
    const records: RedeliveryRecord[] = [];
    for (const due of chunk.filter((d) => !d.needed)) {
      records.push({ taskId: due.taskId, delivery: due.delivery, done: true });
      outcome.notNeeded++;
    }
    for (const group of groupByDestination(chunk.filter((d) => d.needed)).values()) {
      const first = group[0]!;
      let transport: TransportProducer;
      try {
        transport = await params.transportFor({ transport: first.transport as TransportName, destination: first.destination });
      } catch (err) {
        // Configuration this process lacks: the deliveries stay owed for a process that has it.
        records.push(...group.map((d) => failedRecord(d, err instanceof Error ? err.message : String(err))));
        outcome.failed += group.length;
        continue;
      }
      records.push(...(await sendGroup(transport, group, params.policy, outcome)));
    }
    await redeliveriesRecord(db, { records, token: owner.token });
  }
  return outcome;
}

async function sendGroup(transport: TransportProducer, group: DueRedelivery[], policy: SendPolicy, outcome: RedeliveryOutcome): Promise<RedeliveryRecord[]> {
  const messageOf = (d: DueRedelivery): TaskMessage => buildTaskMessage(d, Number(d.delivery));
  const now = Date.now();
  const dueNow = group.filter((d) => d.deliverAt.getTime() <= now);
  const later = group.filter((d) => d.deliverAt.getTime() > now);
  const records: RedeliveryRecord[] = [];
  const settle = (d: DueRedelivery, acknowledged: Set<string>, error: string | undefined, ref?: string) => {
    if (acknowledged.has(d.taskId)) {
      outcome.sent++;
      records.push({ taskId: d.taskId, delivery: d.delivery, done: true, scheduledRef: ref });
    } else {
      outcome.failed++;
      records.push(failedRecord(d, error ?? 'not acknowledged'));
    }
  };
  if (dueNow.length > 0) {
    const sent = await sendBatchWithRetry({ transport, messages: dueNow.map(messageOf), policy });
    const acknowledged = new Set(sent.acknowledged);
    // A message the broker refuses for good (too large) cannot have grown since its first send; report it.
    const error = sent.error?.message ?? sent.rejected[0]?.reason;
    for (const d of dueNow) settle(d, acknowledged, error);
    if (sent.error && !sent.error.retryable) outcome.stoppedBy ??= new DependencyError(sent.error.code, sent.error.message, { cause: sent.error });
  }
  for (const d of later) {
    const report = await transport.schedule([messageOf(d)], d.deliverAt);
    settle(d, new Set(report.acknowledged), report.error?.message ?? report.rejected[0]?.reason, report.refs.get(d.taskId));
  }
  return records;
}

function failedRecord(d: DueRedelivery, error: string): RedeliveryRecord {
  return { taskId: d.taskId, delivery: d.delivery, done: false, error, retryAfterSeconds: backoffDelay(d.attempts, RETRY_BACKOFF) / 1000 };
}

function groupByDestination(items: DueRedelivery[]): Map<string, DueRedelivery[]> {
  const groups = new Map<string, DueRedelivery[]>();
  for (const item of items) {
    const key = `${item.transport} ${JSON.stringify(item.destination)}`;
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
