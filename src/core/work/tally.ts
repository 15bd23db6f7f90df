import type { Advancement } from '../advance.js';

/** What a worker run did, counted as it goes (the `--json` summary of `geo work`). */
export interface WorkCounts {
  /** Tasks this worker claimed and ran a handler for. */
  tasks: number;
  completed: number;
  /** Attempts that ended the task as failed (permanent error, or out of retries). */
  failed: number;
  /** Attempts that failed and were scheduled again. */
  retried: number;
  /** Deliveries moved to the dead-letter (poison) queue: malformed, unknown task, failed. */
  deadLettered: number;
  /** Deliveries whose body was not a task message. */
  malformed: number;
  /** Deliveries of tasks that were already finished (acknowledged, nothing run). */
  duplicates: number;
  /** Deliveries of tasks another live worker held (left to come back when their lock lapses). */
  busy: number;
  /** Attempts whose report found the task taken over (geo_fail_task `stale`). */
  stale: number;
  /** Settlements or renewals refused because the message's lock was lost. */
  lockLost: number;
  /** Tasks whose lease was taken over while their handler ran. */
  leaseLost: number;
  /** Tasks given back unfinished at shutdown. */
  released: number;
}

export function emptyCounts(): WorkCounts {
  return { tasks: 0, completed: 0, failed: 0, retried: 0, deadLettered: 0, malformed: 0, duplicates: 0, busy: 0, stale: 0, lockLost: 0, leaseLost: 0, released: 0 };
}

/** The counts of a run plus the stage advancements it made. */
export class Tally {
  readonly counts = emptyCounts();
  readonly advanced: Advancement[] = [];

  add(key: keyof WorkCounts, n = 1): void {
    this.counts[key] += n;
  }
}
