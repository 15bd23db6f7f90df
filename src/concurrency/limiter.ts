/**
 * A concurrency limit that halves when the broker says it is busy and grows
 * back by one after a run of successes (additive increase, multiplicative
 * decrease), so a throttled namespace gets fewer batches in flight.
 */
export class AdaptiveLimiter {
  private active = 0;
  private successes = 0;
  private readonly waiters: Array<() => void> = [];
  private current: number;

  constructor(private readonly max: number) {
    this.current = max;
  }

  get limit(): number {
    return this.current;
  }

  async acquire(): Promise<void> {
    if (this.active < this.current) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    this.active--;
    this.pump();
  }

  throttled(): void {
    this.current = Math.max(1, Math.floor(this.current / 2));
    this.successes = 0;
  }

  succeeded(): void {
    if (this.current >= this.max) return;
    if (++this.successes >= this.current) {
      this.current++;
      this.successes = 0;
      this.pump();
    }
  }

  private pump(): void {
    while (this.active < this.current && this.waiters.length > 0) {
      this.active++;
      this.waiters.shift()!();
    }
  }
}
