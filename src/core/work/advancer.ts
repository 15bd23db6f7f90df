import { errorMessage } from '../../errors.js';
import type { Pool } from '../../store/pool.js';
import { type Advancement, type AdvanceOptions, advanceStages } from '../advance.js';
import type { TransportResolver } from '../protocol/job-transport.js';

/**
 * Runs advanceStages one call at a time, whenever asked: after a completion
 * that finished a stage, on a `geo_stage_completed` notification, and on a
 * backstop timer (a notification can be missed while the listening
 * connection is down, or the finishing worker can die before advancing).
 * Requests that arrive during a call are folded into one more call.
 */
export class Advancer {
  private current: Promise<void> | undefined;
  private again = false;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** When the last call handled a stage (ms), for idle detection. */
  lastAdvancedAt = 0;

  constructor(
    private readonly params: {
      db: Pool;
      transportFor: TransportResolver;
      options: AdvanceOptions;
      backstopMs: number;
      onAdvanced: (a: Advancement) => void;
      onError: (message: string) => void;
    },
  ) {
    // A tick while a call runs is dropped, not folded in (see Sweeper).
    this.timer = setInterval(() => {
      if (!this.current) this.request();
    }, params.backstopMs);
    this.timer.unref();
  }

  /** True while a call runs or one is due. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  request(): void {
    if (this.closed) return;
    if (this.current) {
      this.again = true;
      return;
    }
    this.current = this.loop().finally(() => (this.current = undefined));
  }

  /** Waits for the call in progress (and any folded into it). */
  async idle(): Promise<void> {
    while (this.current) await this.current;
  }

  /** Stops the timer and waits for the call in progress. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.idle();
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        const done = await advanceStages({ db: this.params.db, transportFor: this.params.transportFor, options: this.params.options });
        if (done.length > 0) this.lastAdvancedAt = Date.now();
        for (const a of done) this.params.onAdvanced(a);
      } catch (err) {
        this.params.onError(`advancing stages failed (tried again in a few seconds): ${errorMessage(err)}`);
      }
    } while (this.again && !this.closed && !this.params.options.signal?.aborted);
  }
}
