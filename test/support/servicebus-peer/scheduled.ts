// Scheduled messages: held back until their scheduled enqueue time, then
// handed to the queue, as Service Bus does for `scheduledEnqueueTimeUtc`
// (the x-opt-scheduled-enqueue-time annotation on a send, or $management
// schedule-message). Kept in due order; one timer for the earliest.
import type { Message } from 'rhea';
import type { QueuedMessage } from './locks.js';

export const SCHEDULED_ENQUEUE_TIME = 'x-opt-scheduled-enqueue-time';

/** The scheduled enqueue time a message asks for, in ms, or undefined when none (or not in the future). */
export function scheduledTimeOf(msg: Message, now: number): number | undefined {
  const value: unknown = (msg.message_annotations as Record<string, unknown> | undefined)?.[SCHEDULED_ENQUEUE_TIME];
  const at = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : undefined;
  return at !== undefined && at > now ? at : undefined;
}

export class ScheduledMessages {
  private readonly waiting: Array<{ at: number; message: QueuedMessage }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly release: (message: QueuedMessage) => void) {}

  get size(): number {
    return this.waiting.length;
  }

  add(message: QueuedMessage, at: number): void {
    let i = this.waiting.length;
    while (i > 0 && this.waiting[i - 1]!.at > at) i -= 1;
    this.waiting.splice(i, 0, { at, message });
    if (i === 0) this.arm();
  }

  /** Drops the message with this sequence number; false when none is waiting. */
  remove(seq: number): boolean {
    const i = this.waiting.findIndex((w) => w.message.seq === seq);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    if (i === 0) this.arm();
    return true;
  }

  messages(): QueuedMessage[] {
    return this.waiting.map((w) => w.message);
  }

  clear(): void {
    this.waiting.length = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    clearTimeout(this.timer);
    const first = this.waiting[0];
    if (!first) return;
    this.timer = setTimeout(() => this.releaseDue(), Math.max(0, first.at - Date.now()));
    this.timer.unref();
  }

  private releaseDue(): void {
    const now = Date.now();
    while (this.waiting.length > 0 && this.waiting[0]!.at <= now) this.release(this.waiting.shift()!.message);
    this.arm();
  }
}
