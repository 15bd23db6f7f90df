import type { Advancement } from '../advance.js';

/** What a worker run did, counted as it goes (the `--json` summary of `geo work`). */
export interface WorkCounts {
  /** Tasks this worker claimed and ran a handler for. */
  tasks: number;
  completed: number;
  /** Attempts that ended the task as failed (permanent error, or out of retries). */
  failed: number;
  /** Attempts that failed and will run again (geo delivers them at their retry time). */
  retried: number;
  /** Deliveries moved to the dead-letter (poison) queue: only bodies that are not task messages. */
  deadLettered: number;
  /** Deliveries whose body was not a task message. */
  malformed: number;
  /** Deliveries of tasks that were already finished (acknowledged, nothing run). */
  duplicates: number;
  /** Deliveries of tasks another live claim held (acknowledged: the holder reports, or geo delivers again). */
  busy: number;
  /** Deliveries of tasks whose job or stage had ended (acknowledged, nothing run), and failed attempts not retried for that reason. */
  cancelled: number;
  /** Deliveries of tasks no longer in the database (acknowledged, nothing run). */
  missing: number;
  /** Tasks of job types this worker cannot run, given back for a worker that can. */
  notServed: number;
  /** Reports that found the claim no longer held the task (taken over): nothing recorded. */
  stale: number;
  /** Settlements or renewals refused because the message's lock was lost. */
  lockLost: number;
  /** Tasks whose claim was taken over while their handler ran. */
  leaseLost: number;
  /** Tasks given back unfinished at shutdown. */
  released: number;
}

export function emptyCounts(): WorkCounts {
  return {
    tasks: 0,
    completed: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    malformed: 0,
    duplicates: 0,
    busy: 0,
    cancelled: 0,
    missing: 0,
    notServed: 0,
    stale: 0,
    lockLost: 0,
    leaseLost: 0,
    released: 0,
  };
}

/** The counts of a run plus the stage advancements it made. */
export class WorkTally {
  readonly counts = emptyCounts();
  readonly advanced: Advancement[] = [];

  add(key: keyof WorkCounts, n = 1): void {
    this.counts[key] += n;
  }
}
