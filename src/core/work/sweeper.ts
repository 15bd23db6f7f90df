import { errorMessage } from '../../errors.js';
import type { Pool } from '../../store/pool.js';
import { plural } from '../../words.js';
import type { NoticeDetail, Notify } from '../events.js';
import type { TransportResolver } from '../protocol/job-transport.js';
import type { SendPolicy } from '../protocol/send.js';
import { openDestinations } from '../sweep/destinations.js';
import { type SweepReport, sweep } from '../sweep/sweep.js';

/**
 * Dead-letter queues are read at most this often: a host poisons a message
 * only after its own retries, and reading an empty queue waits on the broker.
 */
const DEAD_LETTER_INTERVAL_MS = 30_000;

/**
 * Runs the sweep (core/sweep/sweep.ts) inside a worker, one pass at a time:
 * on a timer, and soon after the database says a task is owed a message (a
 * retry, a release). So a deployment of workers alone, with no cron, still
 * delivers retries, takes over dead workers' tasks and finishes what crashes
 * left. Advancing stages is the Advancer's; the sweep skips it.
 */
export class Sweeper {
  private current: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  /** Problems already told, so a persistent one is told once. */
  private readonly told = new Set<string>();
  private deadLettersReadAt = 0;

  constructor(
    private readonly params: {
      db: Pool;
      transportFor: TransportResolver;
      options: { leaseSeconds: number; concurrency: number; session?: number | null; sendPolicy: SendPolicy; signal?: AbortSignal };
      intervalMs: number;
      notice: Notify;
    },
  ) {
    // A tick while a pass runs is dropped, not folded in: a pass slower than the timer must not run back to back forever.
    this.timer = setInterval(() => {
      if (!this.current) this.request();
    }, params.intervalMs);
    this.timer.unref();
  }

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

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    while (this.current) await this.current;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        this.report(await this.pass());
      } catch (err) {
        this.tell(`sweeping failed (tried again in a few seconds): ${errorMessage(err)}`, { event: 'sweep_failed' });
      }
    } while (this.again && !this.closed && !this.params.options.signal?.aborted);
  }

  private async pass(): Promise<SweepReport> {
    const { db, options } = this.params;
    const destinations = await openDestinations(db, this.params.transportFor, { includeFailed: false });
    for (const u of destinations.unreachable) {
      this.tell(`job ${u.jobId.slice(0, 16)} (${u.destination}) cannot be reached from here: ${u.reason}`, {
        event: 'destination_unreachable',
        jobId: u.jobId,
      });
    }
    const readDeadLetters = Date.now() - this.deadLettersReadAt >= DEAD_LETTER_INTERVAL_MS;
    if (readDeadLetters) this.deadLettersReadAt = Date.now();
    return sweep({
      db,
      transportFor: destinations.transportFor,
      deadLetterTransports: destinations.opened,
      unreachable: destinations.unreachable,
      skip: { advance: true, deadLetters: !readDeadLetters },
      options: {
        ...options,
        olderThanSeconds: 0,
        limit: 1_000_000,
        maxAttempts: 10,
        includeFailed: false,
        retryBackoff: { baseMs: 10_000, maxMs: 900_000 },
      },
    });
  }

  private report(r: SweepReport): void {
    for (const s of r.reaped) {
      this.params.notice(
        `${s.command} (pid ${s.pid} on ${s.host}) is gone: freed ${plural(s.tasks, 'task')} and ${plural(s.batches, 'batch', 'batches')} it held`,
        { event: 'dead_worker_found', command: s.command, worker: s.worker ?? undefined, pid: s.pid, host: s.host, tasks: s.tasks, batches: s.batches },
      );
    }
    if (r.lapsed.requeued + r.lapsed.failed > 0) {
      this.params.notice(`tasks whose worker stopped renewing its claim: ${r.lapsed.requeued} delivered again, ${r.lapsed.failed} failed (no attempts left)`, {
        event: 'lapsed_claims_taken_over',
        requeued: r.lapsed.requeued,
        failed: r.lapsed.failed,
      });
    }
    if (r.redelivered.failed > 0) {
      this.tell(`${plural(r.redelivered.failed, 'owed message')} could not be sent; tried again later`, { event: 'redelivery_failed' });
    }
    for (const st of r.stages.stages) {
      if (st.stoppedBy) {
        this.tell(`stage ${st.stage} of job ${st.jobId.slice(0, 16)}: ${st.stoppedBy.message}`, {
          event: 'stage_not_finished',
          jobId: st.jobId,
          stage: st.stage,
          code: st.stoppedBy.code,
        });
      }
    }
    if (r.stoppedBy) this.tell(r.stoppedBy.message, { event: 'sweep_stopped', code: r.stoppedBy.code });
  }

  private tell(message: string, detail: NoticeDetail): void {
    if (this.told.has(message)) return;
    this.told.add(message);
    this.params.notice(message, detail);
  }
}
