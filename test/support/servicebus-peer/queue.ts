// In-memory queue: available messages, peekLock locks, deferral, dead-letter
// sub-queue and duplicate detection. Every per-message operation is O(1).
import type { DecodedMessage } from './codec.js';
import { LockTable, type Lock, type QueuedMessage } from './locks.js';
import type { PeerQueueOptions } from './types.js';

/** What a queue needs from a receiver link attached to it. */
export interface QueueConsumer {
  fill(): void;
  detach(condition: string, description: string): void;
}

class DuplicateWindow {
  // Map insertion order is first-seen order, so pruning stops at the first fresh entry.
  private readonly seen = new Map<string, number>();
  private lastPrune = 0;
  constructor(private readonly windowMs: number) {}

  /** True when the id was first seen within the window; otherwise records it. */
  check(id: string, now: number): boolean {
    const cutoff = now - this.windowMs;
    const at = this.seen.get(id);
    if (at !== undefined && at > cutoff) return true;
    if (at !== undefined) this.seen.delete(id);
    this.seen.set(id, now);
    if (now - this.lastPrune > 1000) this.prune(cutoff, now);
    return false;
  }

  private prune(cutoff: number, now: number): void {
    this.lastPrune = now;
    for (const [id, at] of this.seen) {
      if (at > cutoff) break;
      this.seen.delete(id);
    }
  }
}

export class PeerQueue {
  readonly locks: LockTable;
  readonly consumers = new Set<QueueConsumer>();
  readonly deadLetter: PeerQueue | undefined;
  private available: QueuedMessage[] = [];
  private head = 0;
  /** Abandoned or expired messages: served before new ones, as the broker does. */
  private returned: QueuedMessage[] = [];
  private readonly deferred = new Map<number, QueuedMessage>();
  private readonly dedupe: DuplicateWindow | undefined;
  private dropped = 0;
  private seq = 0;
  private pumpScheduled = false;
  private closed = false;
  private readonly maxDeliveryCount: number;

  constructor(
    readonly name: string,
    opts: PeerQueueOptions,
    isDeadLetterQueue = false,
  ) {
    this.maxDeliveryCount = isDeadLetterQueue ? Infinity : (opts.maxDeliveryCount ?? 10);
    this.locks = new LockTable(opts.lockDurationMs ?? 30_000, (lock) => this.returnMessage(lock.message));
    this.dedupe = opts.duplicateDetection ? new DuplicateWindow(opts.duplicateWindowMs ?? 600_000) : undefined;
    this.deadLetter = isDeadLetterQueue ? undefined : new PeerQueue(`${name}/$DeadLetterQueue`, opts, true);
  }

  /** Stores an accepted transfer; returns how many messages were duplicates. */
  enqueue(batch: readonly DecodedMessage[], now: number): number {
    let duplicates = 0;
    for (const decoded of batch) {
      if (this.dedupe?.check(decoded.messageId, now)) {
        duplicates += 1;
        continue;
      }
      this.seq += 1;
      this.available.push({ seq: this.seq, enqueuedAt: now, decoded, deliveryCount: 0 });
    }
    this.dropped += duplicates;
    if (batch.length > duplicates) this.schedulePump();
    return duplicates;
  }

  hasAvailable(): boolean {
    return this.returned.length > 0 || this.head < this.available.length;
  }

  /** Removes the next message to deliver; the caller locks it or (receiveAndDelete) drops it. */
  take(): QueuedMessage | undefined {
    if (this.returned.length > 0) return this.returned.shift();
    if (this.head >= this.available.length) return undefined;
    const m = this.available[this.head];
    this.head += 1;
    if (this.head > 4096 && this.head * 2 > this.available.length) {
      this.available = this.available.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  complete(lock: Lock): void {
    this.locks.release(lock);
  }

  abandon(lock: Lock, annotations?: Record<string, unknown>): void {
    this.locks.release(lock);
    if (annotations) mergeAnnotations(lock.message, annotations);
    this.returnMessage(lock.message);
  }

  defer(lock: Lock): void {
    this.locks.release(lock);
    this.deferred.set(lock.message.seq, lock.message);
  }

  deadLetterLocked(lock: Lock, reason?: string, description?: string): void {
    this.locks.release(lock);
    this.moveToDeadLetter(lock.message, reason, description);
  }

  /** Back to the queue after abandon or lock expiry, or to the dead-letter list once delivered too often. */
  returnMessage(m: QueuedMessage): void {
    if (this.closed) return;
    if (m.deliveryCount >= this.maxDeliveryCount) {
      this.moveToDeadLetter(m, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${m.deliveryCount} delivery attempts.`);
      return;
    }
    let i = this.returned.length;
    while (i > 0 && (this.returned[i - 1]?.seq ?? 0) > m.seq) i -= 1;
    this.returned.splice(i, 0, m);
    this.schedulePump();
  }

  private moveToDeadLetter(m: QueuedMessage, reason?: string, description?: string): void {
    const dlq = this.deadLetter;
    if (!dlq) return;
    const props = { ...(m.decoded.msg.application_properties as Record<string, unknown> | undefined) };
    if (reason !== undefined) props.DeadLetterReason = reason;
    if (description !== undefined) props.DeadLetterErrorDescription = description;
    m.decoded.msg.application_properties = props;
    mergeAnnotations(m, { 'x-opt-deadletter-source': this.name });
    dlq.available.push(m);
    dlq.schedulePump();
  }

  activeCount(): number {
    return this.available.length - this.head + this.returned.length + this.locks.size + this.deferred.size;
  }

  /** Sorted on demand: only tests and $management peek ask for this. */
  activeMessages(): QueuedMessage[] {
    const all = [...this.available.slice(this.head), ...this.returned, ...this.locks.messages(), ...this.deferred.values()];
    return all.sort((a, b) => a.seq - b.seq);
  }

  messageIds(): string[] {
    return this.activeMessages().map((m) => m.decoded.messageId);
  }

  duplicatesDropped(): number {
    return this.dropped;
  }

  resetStats(): void {
    this.dropped = 0;
  }

  purge(): void {
    this.available = [];
    this.head = 0;
    this.returned = [];
    this.deferred.clear();
    this.locks.clear();
    this.deadLetter?.purge();
  }

  schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  pump(): void {
    if (this.closed || this.consumers.size === 0) return;
    for (const consumer of this.consumers) consumer.fill();
    // Rotate so competing receivers share the queue instead of the first taking everything.
    if (this.consumers.size > 1) {
      const [first] = this.consumers;
      if (first) {
        this.consumers.delete(first);
        this.consumers.add(first);
      }
    }
  }

  dispose(condition: string, description: string): void {
    this.closed = true;
    for (const consumer of [...this.consumers]) consumer.detach(condition, description);
    this.consumers.clear();
    this.locks.dispose();
    this.deadLetter?.dispose(condition, description);
  }
}

function mergeAnnotations(m: QueuedMessage, extra: Record<string, unknown>): void {
  const msg = m.decoded.msg;
  msg.message_annotations = { ...(msg.message_annotations as Record<string, unknown> | undefined), ...extra };
}
