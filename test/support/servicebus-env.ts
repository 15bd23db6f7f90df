import os from 'node:os';
import path from 'node:path';
import type { TestDatabase } from './db.js';
import type { ServiceBusPeer } from './servicebus-peer/index.js';

/** Environment for a geo child process sending to `queue` on the test peer. */
export function serviceBusEnv(db: TestDatabase, peer: ServiceBusPeer, queue: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    GEO_HOME: path.join(os.tmpdir(), 'geo-sb-test-unused'),
    GEO_TRANSPORT: 'servicebus',
    GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(),
    GEO_SERVICEBUS_QUEUE: queue,
    GEO_SERVICEBUS_TIMEOUT_MS: '2000',
    GEO_LEASE_SECONDS: '1',
    ...extra,
  };
}

/** Per-batch task counts that disagree with their batch row: must always be empty. */
export const PARTIAL_BATCHES_SQL = `
  SELECT b.batch_id FROM batches b
  LEFT JOIN (SELECT batch_id, count(*) AS n FROM tasks WHERE job_id = $1 GROUP BY batch_id) t ON t.batch_id = b.batch_id
  WHERE b.job_id = $1 AND coalesce(t.n, 0) <> b.task_count`;
