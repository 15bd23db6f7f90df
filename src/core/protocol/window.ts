/** How far past `--concurrency` a long round trip may widen the groups in flight (memory: up to this many times as many batches held). */
export const MAX_WIDENING = 4;

/** Weight of the newest group in the running averages: a few groups settle it, one slow group does not swing it. */
const SMOOTHING = 0.25;

/** What one group's steps took: the two statements (steps 1 and 3) and the wait for the broker (step 2). */
export interface GroupTiming {
  databaseMs: number;
  sendMs: number;
}

/**
 * How many groups a dispatch keeps in flight. A group holds a database
 * connection only for its write and its record and waits for the broker in
 * between, so `--concurrency` groups keep the database busy only while the
 * broker answers fast. With groups spending `d` ms in statements and `s` ms
 * waiting for the broker, concurrency x (d + s) / d groups keep as many
 * statements running as `--concurrency` would with no wait: the window
 * grows to that from measured round trips, up to MAX_WIDENING times. A
 * database that becomes the bottleneck shows as longer statements (they
 * queue for the pool's connections), which narrows it again.
 */
export class GroupWindow {
  private databaseMs: number | undefined;
  private sendMs = 0;

  constructor(
    /** `--concurrency`: the window never goes below it. */
    readonly base: number,
    readonly max = base * MAX_WIDENING,
  ) {}

  /** A group whose batches were sent (a group with nothing to send says nothing about the broker). */
  observe(timing: GroupTiming): void {
    if (this.databaseMs === undefined) {
      this.databaseMs = timing.databaseMs;
      this.sendMs = timing.sendMs;
      return;
    }
    this.databaseMs += SMOOTHING * (timing.databaseMs - this.databaseMs);
    this.sendMs += SMOOTHING * (timing.sendMs - this.sendMs);
  }

  /** Groups to keep in flight now. */
  get size(): number {
    if (this.databaseMs === undefined) return this.base;
    const wanted = Math.round((this.base * (this.databaseMs + this.sendMs)) / Math.max(this.databaseMs, 1));
    return Math.min(this.max, Math.max(this.base, wanted));
  }
}
