import type { Pool, PoolClient } from '../../src/store/pool.js';
import { waitFor } from './wait.js';

/**
 * A real start line for concurrent work: a transaction holding ACCESS
 * EXCLUSIVE on a table, so every session that touches the table queues
 * behind it. Start the contenders, `waitForBlocked` until PostgreSQL shows
 * each of them waiting on this lock, then `release`: they all get the table
 * in the same instant.
 */
export class TableBarrier {
  private released = false;

  private constructor(
    private readonly pool: Pool,
    private readonly client: PoolClient,
    /** The backend pid that holds the lock. */
    readonly pid: number,
  ) {}

  static async hold(pool: Pool, table: 'batches'): Promise<TableBarrier> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`LOCK TABLE ${client.escapeIdentifier(table)} IN ACCESS EXCLUSIVE MODE`);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      return new TableBarrier(pool, client, rows[0]!.pid);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      throw err;
    }
  }

  /**
   * The sessions waiting on this barrier's lock, by application name and
   * backend pid (pg_stat_activity with pg_blocking_pids).
   */
  async blocked(): Promise<Array<{ pid: number; applicationName: string }>> {
    // From another session: inside the lock's transaction pg_stat_activity is a snapshot taken once.
    const { rows } = await this.pool.query<{ pid: number; applicationName: string }>(
      `SELECT pid, application_name AS "applicationName" FROM pg_stat_activity
       WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))`,
      [this.pid],
    );
    return rows;
  }

  /**
   * Polls until `isReady` accepts the blocked sessions; throws with what it
   * saw at the deadline (a contender that never reached the table).
   */
  async waitForBlocked(
    isReady: (blocked: Array<{ pid: number; applicationName: string }>) => boolean,
    opts: { timeoutMs?: number; alive?: () => void } = {},
  ): Promise<void> {
    let blocked: Array<{ pid: number; applicationName: string }> = [];
    // A contender that died ends the wait at once, with its own error.
    let died: unknown;
    await waitFor(
      () => `contenders to all reach the barrier: blocked ${JSON.stringify(blocked)}`,
      async () => {
        blocked = await this.blocked();
        if (isReady(blocked)) return true;
        try {
          opts.alive?.();
        } catch (err) {
          died = err;
          return true;
        }
        return false;
      },
      { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 10 },
    );
    if (died !== undefined) throw died;
  }

  /** Commits the lock's transaction (idempotent), letting every waiter in at once. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.client.query('COMMIT');
    } finally {
      this.client.release();
    }
  }
}
