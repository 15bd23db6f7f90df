/**
 * How long a prefetched task may wait for a handler slot: the prefetch holds
 * about this much work beyond the running handlers.
 */
const WINDOW_MS = 200;
/** Weight of the newest handler time in the running average. */
const SMOOTHING = 0.2;

/**
 * Sizes the prefetch (claimed tasks held beyond the running handlers) from
 * how long handlers take: none while they take a good part of a second or
 * more, so slow work spreads over workers instead of waiting behind one
 * worker's busy slots; up to `max` for fast handlers, so one claim and one
 * completion statement serve many tasks. Nothing is prefetched until a
 * handler has been timed.
 */
export class Prefetch {
  private averageMs: number | undefined;

  constructor(
    private readonly concurrency: number,
    private readonly max: number,
  ) {}

  /** Claimed tasks to hold beyond the running handlers. */
  size(): number {
    if (this.averageMs === undefined || this.max === 0) return 0;
    const fit = Math.floor((this.concurrency * WINDOW_MS) / Math.max(this.averageMs, 0.001));
    return Math.min(this.max, fit);
  }

  /** A handler ran for `ms`. */
  record(ms: number): void {
    this.averageMs = this.averageMs === undefined ? ms : this.averageMs + SMOOTHING * (ms - this.averageMs);
  }
}
