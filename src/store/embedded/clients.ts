import type { Queryable } from '../pool.js';

/** A session connected to a PostgreSQL server, as pg_stat_activity shows it. */
export interface ServerClient {
  pid: number;
  /** What the client called itself (`geo` for geo's own pools); `(none)` when it did not say. */
  applicationName: string;
  database: string | null;
}

/**
 * The client sessions of the server other than the caller's own: background
 * processes (checkpointer, autovacuum, WAL writer) are not clients and never
 * count.
 */
export async function serverClientsList(db: Queryable): Promise<ServerClient[]> {
  const { rows } = await db.query<ServerClient>(
    `SELECT pid,
            coalesce(nullif(application_name, ''), '(none)') AS "applicationName",
            datname AS database
       FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
      ORDER BY 2, pid`,
  );
  return rows;
}

/** `3 (geo: pids 11, 12; psql: pid 13)`: the count, then the pids grouped by application, on one line. */
export function describeClients(clients: ServerClient[]): string {
  const byName = new Map<string, number[]>();
  for (const client of clients) byName.set(client.applicationName, [...(byName.get(client.applicationName) ?? []), client.pid]);
  const groups = [...byName].map(([name, pids]) => `${name}: ${pids.length === 1 ? 'pid' : 'pids'} ${pids.join(', ')}`);
  return `${clients.length} (${groups.join('; ')})`;
}
