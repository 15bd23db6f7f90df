// In-memory queue: available messages, peekLock locks, deferral, dead-letter
// sub-queue, scheduled messages and duplicate detection. Every per-message operation is O(1).
import type { Message } from 'rhea';
import type { DecodedMessage } from './codec.js';
import { DuplicateWindow } from './dedupe.js';
import { type Lock, LockTable, type QueuedMessage } from './locks.js';
import { ScheduledMessages, scheduledTimeOf } from './scheduled.js';
import type { PeerQueueOptions } from './types.js';

/** What a queue needs from a receiver link attached to it. */
export interface QueueConsumer {
  fill(): void;
  detach(condition: string, description: string): void;
}

export class PeerQueue {
  readonly locks: LockTable;
  readonly consumers = new Set<QueueConsumer>();
  /** Other links attached to the queue (senders, $management), detached when it is deleted. */
  readonly links = new Map<object, (condition: string, description: string) => void>();
  readonly deadLetter: PeerQueue | undefined;
  private available: QueuedMessage[] = [];
  private head = 0;
  /** Abandoned or expired messages: served before new ones, as the broker does. */
  private returned: QueuedMessage[] = [];
  private readonly deferred = new Map<number, QueuedMessage>();
  /** Sent with a scheduled enqueue time still in the future: not deliverable before it. */
  private readonly scheduled = new ScheduledMessages((m) => {
    this.available.push(m);
    this.schedulePump();
  });
  private readonly dedupe: DuplicateWindow | undefined;
  private dropped = 0;
  private seq = 0;
  private pumpScheduled = false;
  closed = false;
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

  /**
   * Stores an accepted transfer; returns each message's sequence number. A
   * duplicate is acknowledged and dropped, but its number is spent, so a
   * schedule-message reply never names another message.
   */
  enqueue(batch: readonly DecodedMessage[], now: number): number[] {
    const sequenceNumbers: number[] = [];
    let stored = 0;
    for (const decoded of batch) {
      this.seq += 1;
      sequenceNumbers.push(this.seq);
      if (this.dedupe?.check(decoded.messageId, now)) {
        this.dropped += 1;
        continue;
      }
      stored += 1;
      const at = scheduledTimeOf(decoded.msg, now);
      // Service Bus stamps a scheduled message's enqueued time when it becomes active.
      if (at !== undefined) this.scheduled.add({ seq: this.seq, enqueuedAt: at, decoded, deliveryCount: 0 }, at);
      else this.available.push({ seq: this.seq, enqueuedAt: now, decoded, deliveryCount: 0 });
    }
    if (stored > 0) this.schedulePump();
    return sequenceNumbers;
  }

  /**
   * Removes scheduled messages before they become active. A number that names
   * no scheduled message (already active, cancelled, or never scheduled) is
   * ignored: cancelling cannot take back a message that is already deliverable.
   */
  cancelScheduled(sequenceNumbers: readonly number[]): number {
    let removed = 0;
    for (const seq of sequenceNumbers) if (this.scheduled.remove(seq)) removed += 1;
    return removed;
  }

  scheduledIds(): string[] {
    return this.scheduled.messages().map((m) => m.decoded.messageId);
  }

  /** Dead-lettered messages with the reason and description they were dead-lettered with. */
  deadLetters(): Array<{ messageId: string; reason?: string; description?: string }> {
    return (this.deadLetter?.activeMessages() ?? []).map((m) => {
      const props = (m.decoded.msg.application_properties ?? {}) as Record<string, unknown>;
      const text = (key: string) => (typeof props[key] === 'string' ? (props[key] as string) : undefined);
      return { messageId: m.decoded.messageId, reason: text('DeadLetterReason'), description: text('DeadLetterErrorDescription') };
    });
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
    if (annotations) rewrite(lock.message, annotations);
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
    // The dead-letter sub-queue has none of its own: its messages stay where they are.
    if (!dlq) {
      this.returned.push(m);
      this.schedulePump();
      return;
    }
    const props: Record<string, unknown> = {};
    if (reason !== undefined) props.DeadLetterReason = reason;
    if (description !== undefined) props.DeadLetterErrorDescription = description;
    rewrite(m, { 'x-opt-deadletter-source': this.name }, props);
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
    this.scheduled.clear();
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
    for (const detach of this.links.values()) detach(condition, description);
    this.links.clear();
    this.locks.dispose();
    this.scheduled.clear();
    this.deadLetter?.dispose(condition, description);
  }
}

/** Copy-on-write: the decoded message is shared with the transfers() record of its send. */
function rewrite(m: QueuedMessage, annotations: Record<string, unknown>, properties?: Record<string, unknown>): void {
  const msg = m.decoded.msg;
  const next = { ...msg, message_annotations: { ...(msg.message_annotations as Record<string, unknown> | undefined), ...annotations } };
  if (properties) next.application_properties = { ...(msg.application_properties as Record<string, unknown> | undefined), ...properties };
  m.decoded = { ...m.decoded, msg: next as Message };
}
