import crypto from 'node:crypto';
import os from 'node:os';
import type { Pool, PoolClient } from '../store/pool.js';
import { sessionsEnd, sessionsStart } from '../store/sessions.js';
import type { ClaimOwner } from '../store/stage-completions.js';

/**
 * A geo process's liveness in the database: a session row and an advisory
 * lock held on a connection kept for the process's life. Every claim the
 * process takes names the session, so when the process dies (its connection
 * closes and PostgreSQL drops the lock) other processes free its claims at
 * once instead of waiting out a lease.
 */
export interface Session {
  readonly id: number;
  /** The name its task claims carry (tasks.worker). */
  readonly worker: string;
  /** A fresh owner for the claims of one run (its own token, this session). */
  owner(): ClaimOwner;
  /** True once the session's connection was lost: its claims are then judged by their leases alone. */
  readonly lost: boolean;
  close(): Promise<void>;
}

/** A name unique to this process: host, pid, and a random tag (pids are reused across hosts and restarts). */
export function processName(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
}

/** Starts this process's session on a connection taken from `pool` for as long as it lives. */
export async function startSession(pool: Pool, params: { command: string; worker?: string }): Promise<Session> {
  const worker = params.worker ?? processName();
  const client: PoolClient = await pool.connect();
  let lost = false;
  // A connection that fails takes the lock with it; the pool must not hand it out again.
  client.on('error', () => {
    lost = true;
  });
  let id: number;
  try {
    id = await sessionsStart(client, { worker, host: os.hostname(), pid: process.pid, command: params.command });
  } catch (err) {
    client.release(true);
    throw err;
  }
  let closed = false;
  return {
    id,
    worker,
    owner: () => ({ token: crypto.randomUUID(), session: lost ? null : id }),
    get lost() {
      return lost;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        if (!lost) await sessionsEnd(client, id);
      } finally {
        // Destroyed, not returned: the pooled connection must not keep a session's lock.
        client.release(true);
      }
    },
  };
}
