import { DependencyError, GeoError } from '../../errors.js';
import { asConnectionLoss } from '../../store/pool.js';
import type { BatchResult } from './record.js';

/**
 * When one dispatch stops early, and why. Its concurrent senders check it
 * before each group, and a send checks it between retries. A stop keeps what
 * was written resumable and ends the run with `reason`; an unexpected error
 * (`failure`) is thrown once the senders have stopped.
 */
export class DispatchStop {
  reason: GeoError | undefined;
  failure: unknown;
  private consecutiveFailures = 0;

  constructor(
    /** The transport's target, named in the error when it keeps failing. */
    private readonly target: string,
    /** Consecutive batches that exhaust their retries before the run stops (the broker is down). */
    private readonly maxConsecutiveFailures: number,
  ) {}

  get stopped(): boolean {
    return this.reason !== undefined;
  }

  /** Stopped, or failed: no sender takes another group. */
  get ended(): boolean {
    return this.reason !== undefined || this.failure !== undefined;
  }

  stop(reason: GeoError): void {
    this.reason ??= reason;
  }

  /** Aborting the signal stops taking new batches; batches in flight finish. Returns the unsubscribe. */
  watch(signal: AbortSignal | undefined): () => void {
    const onAbort = () => this.stop(new GeoError('incomplete', 'INTERRUPTED', 'interrupted; run the same command again to resume'));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    return () => signal?.removeEventListener('abort', onAbort);
  }

  /** An error out of a group: a lost database ends the run like a broker outage; anything else fails it. */
  noteError(err: unknown): void {
    const lostDatabase = asConnectionLoss(err);
    if (lostDatabase) this.stop(lostDatabase);
    else this.failure ??= err;
  }

  /** A lost database stops the run; any other error is thrown on. */
  stopIfDatabaseLost(err: unknown): void {
    const lostDatabase = asConnectionLoss(err);
    if (!lostDatabase) throw err;
    this.stop(lostDatabase);
  }

  /** A permanent send error stops the run at once; retryable ones after enough batches in a row. */
  noteSends(results: BatchResult[]): void {
    for (const result of results) {
      if (result.lost) continue;
      if (!result.error) {
        this.consecutiveFailures = 0;
        continue;
      }
      this.consecutiveFailures++;
      if (!result.error.retryable) this.stop(result.error);
      else if (this.consecutiveFailures >= this.maxConsecutiveFailures) {
        this.stop(
          new DependencyError(
            'TRANSPORT_UNAVAILABLE',
            `${this.target} kept failing (${result.error.message}); stopped after ${this.consecutiveFailures} batches in a row could not be sent`,
            { cause: result.error },
          ),
        );
      }
    }
  }
}
