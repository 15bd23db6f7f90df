/** A group's handlers should take about this long. */
const TARGET_MS = 250;

/**
 * Sizes the local queue's claim groups from how fast the handlers ran:
 * fast handlers get large groups (one claim and one completion statement
 * per up to `max` tasks: 64-task groups ran at half the rate of 1,000-task
 * ones on this machine), slow handlers small ones, so a worker does not hold
 * claimed tasks that other workers could be running. Never below
 * `min` (the concurrency: every handler slot gets a task).
 */
export class GroupSizer {
  private size: number;

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.size = Math.min(max, Math.max(min, 64));
  }

  next(): number {
    return this.size;
  }

  /** A group of `tasks` had its handlers run in `handlersMs` (wall time, all of them). */
  record(tasks: number, handlersMs: number): void {
    if (tasks === 0) return;
    const perTask = handlersMs / tasks;
    const fit = perTask > 0 ? Math.round(TARGET_MS / perTask) : this.max;
    this.size = Math.min(this.max, Math.max(this.min, fit));
  }
}
