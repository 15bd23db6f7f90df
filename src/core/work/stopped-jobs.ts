import { errorMessage } from '../../errors.js';
import { jobsGet } from '../../store/jobs.js';
import type { Queryable } from '../../store/pool.js';
import type { Notify, WorkEvents } from '../events.js';

/**
 * The jobs whose tasks this worker must not start: ended (cancelled, failed,
 * completed) or paused since it claimed them. The database says so on
 * geo_job_changed; the claims a worker holds for later (its prefetch) are
 * dropped when it does, so a cancel or a pause stops handlers from starting
 * as soon as the worker hears of it, not when its buffer runs dry.
 */
export class StoppedJobs {
  private readonly stopped = new Set<string>();
  private onStop: (jobId: string) => void = () => undefined;

  constructor(
    private readonly db: Queryable,
    private readonly notice: Notify,
    private readonly events: WorkEvents,
  ) {}

  has(jobId: string): boolean {
    return this.stopped.has(jobId);
  }

  /** Called with each job that stops running while this worker runs. */
  whenStopped(callback: (jobId: string) => void): void {
    this.onStop = callback;
  }

  /**
   * A job was created, ended, paused or resumed. Of those, only a job that
   * stopped can have tasks held here (a new or resumed one has none yet), so
   * the job counts as stopped at once, without waiting for the read that
   * tells which it was: a handler of a cancelled job starts only in the
   * moment before the notification arrives.
   */
  async changed(jobId: string): Promise<void> {
    this.stopped.add(jobId);
    this.onStop(jobId);
    this.events.jobChangeHeard?.(jobId);
    try {
      const job = await jobsGet(this.db, jobId);
      if (job && job.status === 'processing' && job.pausedAt === null) this.stopped.delete(jobId);
    } catch (err) {
      // Held back for good, a running job's tasks would be claimed and given back in a loop;
      // its claims answer for a stopped job anyway.
      this.stopped.delete(jobId);
      this.notice(`cannot read job ${jobId.slice(0, 16)} after it changed (${errorMessage(err)}); its claimed tasks start as claimed`, {
        event: 'job_change_unread',
      });
    }
  }
}
