import type { PoolClient, Queryable } from './pool.js';

/**
 * geo's processes and their liveness (migrations/006: `sessions` and an
 * advisory lock per session, held on a connection the process keeps).
 */

export interface SessionInfo {
  sessionId: number;
  worker: string | null;
  host: string;
  pid: number;
  command: string;
}

/** Starts a session on `client`, which must stay open (and be used for nothing else) while the session lives. */
export async function sessionsStart(client: PoolClient, params: { worker: string | null; host: string; pid: number; command: string }): Promise<number> {
  const { rows } = await client.query<{ id: number }>(`SELECT geo_session_start($1, $2, $3, $4) AS id`, [
    params.worker,
    params.host,
    params.pid,
    params.command,
  ]);
  return rows[0]!.id;
}

/** Ends a session cleanly: its row goes, then its lock (the order a sweep expects: no row without a lock). */
export async function sessionsEnd(client: PoolClient, sessionId: number): Promise<void> {
  await client.query(`DELETE FROM sessions WHERE session_id = $1`, [sessionId]);
  await client.query(`SELECT pg_advisory_unlock(4250002, $1)`, [sessionId]);
}

/** Claims of processes that died, freed by sessionsReapDead. */
export interface ReapedSession extends SessionInfo {
  tasks: number;
  batches: number;
  stages: number;
  stageCompletions: number;
  redeliveries: number;
}

/**
 * Frees at once every claim held by a geo process whose session is gone (its
 * lock was dropped with its connection): their leases are moved into the
 * past, so the usual lapsed-lease handling takes them over, and the session
 * rows are removed. SKIP LOCKED: two sweeps reap disjoint sessions.
 */
export async function sessionsReapDead(db: Queryable): Promise<ReapedSession[]> {
  const { rows } = await db.query<ReapedSession>(
    `WITH dead AS (
       SELECT s.* FROM sessions s
       WHERE s.session_id NOT IN (SELECT geo_live_sessions())
       FOR UPDATE SKIP LOCKED
     ), tasks_freed AS (
       UPDATE tasks t SET lease_until = now() - interval '1 second', updated_at = now()
       FROM dead d
       WHERE t.status = 'processing' AND t.lease_until >= now() - interval '1 second' AND t.worker = d.worker
       RETURNING d.session_id
     ), batches_freed AS (
       UPDATE batches b SET claimed_until = now() - interval '1 second'
       FROM dead d
       WHERE b.status = 'pending_queue' AND b.claimed_until >= now() - interval '1 second' AND b.claim_session = d.session_id
       RETURNING d.session_id
     ), stages_freed AS (
       UPDATE stages s SET claimed_until = now() - interval '1 second'
       FROM dead d
       WHERE s.status = 'queuing' AND s.claimed_until >= now() - interval '1 second' AND s.claim_session = d.session_id
       RETURNING d.session_id
     ), completions_freed AS (
       UPDATE stage_completions sc SET claimed_until = now() - interval '1 second'
       FROM dead d
       WHERE sc.handled_at IS NULL AND sc.claimed_until >= now() - interval '1 second' AND sc.claim_session = d.session_id
       RETURNING d.session_id
     ), redeliveries_freed AS (
       UPDATE redeliveries r SET claimed_until = now() - interval '1 second'
       FROM dead d
       WHERE r.claimed_until >= now() - interval '1 second' AND r.claim_session = d.session_id
       RETURNING d.session_id
     ), removed AS (
       DELETE FROM sessions s USING dead d WHERE s.session_id = d.session_id
     )
     SELECT d.session_id AS "sessionId", d.worker, d.host, d.pid, d.command,
            (SELECT count(*) FROM tasks_freed f WHERE f.session_id = d.session_id)::int AS tasks,
            (SELECT count(*) FROM batches_freed f WHERE f.session_id = d.session_id)::int AS batches,
            (SELECT count(*) FROM stages_freed f WHERE f.session_id = d.session_id)::int AS stages,
            (SELECT count(*) FROM completions_freed f WHERE f.session_id = d.session_id)::int AS "stageCompletions",
            (SELECT count(*) FROM redeliveries_freed f WHERE f.session_id = d.session_id)::int AS redeliveries
     FROM dead d`,
  );
  return rows;
}

/** The live sessions, for reports that name who holds what. */
export async function sessionsListLive(db: Queryable): Promise<SessionInfo[]> {
  const { rows } = await db.query<SessionInfo>(
    `SELECT session_id AS "sessionId", worker, host, pid, command FROM sessions
     WHERE session_id IN (SELECT geo_live_sessions()) ORDER BY session_id`,
  );
  return rows;
}

/**
 * Sessions whose process is gone but which no sweep has reaped yet: what
 * they held (tasks, batches, stages) is freed by the next sweep.
 */
export async function sessionsCountDead(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM sessions WHERE session_id NOT IN (SELECT geo_live_sessions())`);
  return rows[0]!.n;
}
