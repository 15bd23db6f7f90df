import type { Destination } from '../config/destinations.js';
import type { Queryable } from './pool.js';

/** Tasks one worker holds under live leases. */
export interface TaskHolder {
  worker: string | null;
  tasks: number;
  /** When the last of its leases ends, unless renewed. */
  leaseUntil: Date;
  /** The worker's live geo session (host and pid), or null for a worker that is not geo (judged by its lease alone). */
  session: { host: string; pid: number } | null;
}

/**
 * Who holds running tasks (status `processing` under a live lease), per
 * worker: what the sweep and `geo work --until-idle` report as work they
 * must wait for. The partial index over processing tasks serves it.
 */
export async function tasksHolders(db: Queryable, params: { jobId?: string; transport?: string } = {}): Promise<TaskHolder[]> {
  const { rows } = await db.query<TaskHolder>(
    `SELECT h.worker, h.tasks, h."leaseUntil",
            CASE WHEN s.session_id IS NOT NULL THEN json_build_object('host', s.host, 'pid', s.pid) END AS session
     FROM (SELECT t.worker, count(*)::int AS tasks, max(t.lease_until) AS "leaseUntil"
           FROM tasks t JOIN jobs j ON j.job_id = t.job_id
           WHERE t.status = 'processing' AND t.lease_until >= now()
             AND ($1::text IS NULL OR t.job_id = $1) AND ($2::text IS NULL OR j.processing_path = $2)
           GROUP BY t.worker) h
     LEFT JOIN sessions s ON s.worker = h.worker AND s.session_id IN (SELECT geo_live_sessions())
     ORDER BY h.tasks DESC, h.worker`,
    [params.jobId ?? null, params.transport ?? null],
  );
  return rows;
}

/** What still waits, of the running jobs a worker serves: the `--until-idle` question "is anything left?". */
export interface Remaining {
  /** Tasks ready now (queued, due): a message is on its way or the local queue holds them. */
  ready: number;
  /** Tasks waiting out a retry delay. */
  waiting: number;
  /** When the first of those is due. */
  nextDueAt: Date | null;
  /** Tasks written but whose batch is not sent yet, or owed a message not sent yet. */
  unsent: number;
}

/**
 * The unfinished, unclaimed tasks of running jobs on `transport`. Counted
 * through the partial indexes (ready, pending batches), so proportional to
 * what is left, not to the tasks table.
 */
export async function tasksRemaining(db: Queryable, params: { transport?: string; jobTypes?: readonly string[] }): Promise<Remaining> {
  const { rows } = await db.query<Remaining>(
    `WITH running AS (
       SELECT j.job_id FROM jobs j
       WHERE j.status = 'processing' AND j.paused_at IS NULL AND ($1::text IS NULL OR j.processing_path = $1)
         AND ($2::text[] IS NULL OR j.job_type = ANY($2::text[]))
     )
     SELECT count(*) FILTER (WHERE t.available_at IS NULL OR t.available_at <= now())::int AS ready,
            count(*) FILTER (WHERE t.available_at > now())::int AS waiting,
            min(t.available_at) FILTER (WHERE t.available_at > now()) AS "nextDueAt",
            ((SELECT count(*) FROM batches b JOIN running r ON r.job_id = b.job_id WHERE b.status = 'pending_queue')
             + (SELECT count(*) FROM redeliveries rd JOIN running r ON r.job_id = rd.job_id WHERE rd.sent_at IS NULL))::int AS unsent
     FROM tasks t JOIN running r ON r.job_id = t.job_id
     WHERE t.status = 'queued'`,
    [params.transport ?? null, params.jobTypes ?? null],
  );
  return rows[0]!;
}

/** A running job this worker has no module for: its tasks wait for a worker that has. */
export interface UnservedJob {
  jobId: string;
  jobType: string;
  /** Its unfinished tasks, by its stage counters. */
  tasks: number;
}

/** Running jobs on `transport` whose job type is not among `jobTypes`, with what is left of them. */
export async function jobsNotServed(db: Queryable, params: { transport: string; jobTypes: readonly string[] }): Promise<UnservedJob[]> {
  const { rows } = await db.query<UnservedJob>(
    `SELECT j.job_id AS "jobId", j.job_type AS "jobType",
            coalesce((SELECT sum(s.task_count - s.completed_count - s.failed_count) FROM stages s WHERE s.job_id = j.job_id), 0)::int AS tasks
     FROM jobs j
     WHERE j.status = 'processing' AND j.paused_at IS NULL AND j.processing_path = $1 AND NOT (j.job_type = ANY($2::text[]))
     ORDER BY j.created_at`,
    [params.transport, params.jobTypes],
  );
  return rows;
}

/** A running job with tasks that are neither finished, held under a live lease, nor waiting out a retry delay. */
export interface AwaitingJob {
  jobId: string;
  /**
   * Those tasks: queued or written and sent, so a message of each is on the
   * queue (visible, or hidden by a receive that will lapse), plus claims
   * whose lease lapsed, which the sweep puts back.
   */
  tasks: number;
}

/**
 * The running jobs sent to `destination` (of `jobTypes`) whose tasks still
 * wait for a receive: what a quiet worker on that queue must not take for
 * done while a message may come back. From the open stages' counters less
 * the tasks held under live leases and those waiting out a retry, so it reads
 * the stages of running jobs and the partial indexes over processing and
 * queued tasks: proportional to what is left, not to the tasks table.
 */
export async function jobsAwaiting(db: Queryable, params: { destination: Destination; jobTypes: readonly string[] }): Promise<AwaitingJob[]> {
  const { destination } = params;
  const { rows } = await db.query<AwaitingJob>(
    `WITH unfinished AS (
       SELECT s.job_id, sum(s.task_count - s.completed_count - s.failed_count) AS n
       FROM jobs j JOIN stages s ON s.job_id = j.job_id
       WHERE j.status = 'processing' AND j.paused_at IS NULL AND j.processing_path = $1 AND j.job_type = ANY($2::text[])
         AND j.destination->>'queue' IS NOT DISTINCT FROM $3 AND lower(j.destination->>'host') IS NOT DISTINCT FROM lower($4)
         AND s.status = 'processing'
       GROUP BY s.job_id
     ), held AS (
       SELECT t.job_id, count(*) AS n FROM tasks t
       WHERE t.status = 'processing' AND t.lease_until >= now() AND t.job_id IN (SELECT job_id FROM unfinished)
       GROUP BY t.job_id
     ), waiting AS (
       SELECT t.job_id, count(*) AS n FROM tasks t
       WHERE t.status = 'queued' AND t.available_at > now() AND t.job_id IN (SELECT job_id FROM unfinished)
       GROUP BY t.job_id
     )
     SELECT u.job_id AS "jobId", (u.n - coalesce(h.n, 0) - coalesce(w.n, 0))::int AS tasks
     FROM unfinished u LEFT JOIN held h ON h.job_id = u.job_id LEFT JOIN waiting w ON w.job_id = u.job_id
     WHERE u.n - coalesce(h.n, 0) - coalesce(w.n, 0) > 0
     ORDER BY u.job_id`,
    [destination.transport, params.jobTypes, destination.queue ?? null, destination.host ?? null],
  );
  return rows;
}
