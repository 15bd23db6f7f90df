// Duplicate detection history for one queue, as Service Bus keeps it: an id
// accepted within the window makes later messages with that id duplicates.

export class DuplicateWindow {
  // Map insertion order is first-seen order, so pruning stops at the first fresh entry.
  private readonly seen = new Map<string, number>();
  private lastPrune = 0;

  constructor(private readonly windowMs: number) {}

  /** True when the id was first seen within the window; otherwise records it. */
  check(id: string, now: number): boolean {
    const cutoff = now - this.windowMs;
    const at = this.seen.get(id);
    if (at !== undefined && at > cutoff) return true;
    // An expired id starts a new window: re-insert so insertion order stays time order.
    if (at !== undefined) this.seen.delete(id);
    this.seen.set(id, now);
    // Pruning at most once a second keeps the per-message cost O(1) amortised.
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
