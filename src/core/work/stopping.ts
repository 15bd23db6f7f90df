/**
 * The stop sequence of a worker: a stop request (a signal, --max-tasks, idle)
 * ends receiving at once; `grace` later, work still in flight is given up
 * (`givenUp` resolves and `abort` fires, which handlers see in their
 * TaskContext signal) and given back to the queue.
 */
export class Stopping {
  private readonly giveUp = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private requested = false;
  /** Why receiving stopped, once it has. */
  reason: 'signal' | 'max-tasks' | 'idle' | 'error' | undefined;
  /** Resolves when in-flight work is to be given up. */
  readonly givenUp: Promise<void>;

  constructor(private readonly graceMs: number) {
    this.givenUp = new Promise((resolve) => this.giveUp.signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  get stopped(): boolean {
    return this.requested;
  }

  /** Aborted when the grace period is over. */
  get signal(): AbortSignal {
    return this.giveUp.signal;
  }

  /** Stops receiving; the first reason given is kept. */
  request(reason: NonNullable<Stopping['reason']>): void {
    if (this.requested) return;
    this.requested = true;
    this.reason = reason;
    this.timer = setTimeout(() => this.giveUp.abort(), this.graceMs);
    this.timer.unref();
  }

  /** Gives up now (the run is over: nothing left to wait for). */
  end(): void {
    clearTimeout(this.timer);
    this.giveUp.abort();
  }
}
