import { InputError } from '../errors.js';
import type { Pool, PoolClient, Queryable } from './pool.js';

/**
 * The bench's own SQL. Bench rows live in a schema of their own
 * (`geo_bench_<hex>`, created with geo's migrations, dropped afterwards), so
 * no real job's row is ever read, locked or deleted, `retry-pending` never
 * finds a bench batch, and consumers of the local queue never see a bench
 * task. Same database, same server, same table definitions.
 */
export const BENCH_SCHEMA_PREFIX = 'geo_bench_';
const SCHEMA_NAME = /^geo_bench_[0-9a-f]{8,32}$/;
// Session advisory locks (class, hashtext(schema)): a live bench holds its
// schema's lock, so a schema whose lock can be taken was left by a bench that died.
const LOCK_CLASS = 4_250_002;

export interface BenchSchema {
  name: string;
  /** Drops the schema with everything in it and lets go of its lock. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh bench schema, first dropping those that crashed benches
 * left behind. The returned schema holds one connection of `admin` (its lock)
 * until `drop`.
 */
export async function benchSchemaCreate(admin: Pool, name: string): Promise<BenchSchema> {
  if (!SCHEMA_NAME.test(name)) throw new Error(`not a bench schema name: ${name}`);
  await benchSchemasSweep(admin);
  const guard = await admin.connect();
  try {
    await guard.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_CLASS, name]);
    // The name is checked against SCHEMA_NAME above: safe to quote into DDL.
    await guard.query(`CREATE SCHEMA "${name}"`);
  } catch (err) {
    guard.release(true);
    if ((err as { code?: string }).code === '42501') {
      throw new InputError(
        'BENCH_SCHEMA_DENIED',
        'geo bench keeps its rows in a schema of its own and needs the CREATE privilege on the database ' + '(GRANT CREATE ON DATABASE <db> TO <user>)',
        { cause: err },
      );
    }
    throw err;
  }
  return { name, drop: () => dropWith(guard, name) };
}

async function dropWith(guard: PoolClient, name: string): Promise<void> {
  try {
    await guard.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    await guard.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, name]);
    guard.release();
  } catch (err) {
    // Ending the session releases its advisory lock: the next bench then sweeps the schema.
    guard.release(true);
    throw err;
  }
}

/** Drops bench schemas whose bench is gone (no session holds their lock). Returns their names. */
export async function benchSchemasSweep(admin: Pool): Promise<string[]> {
  const { rows } = await admin.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE starts_with(nspname, $1)`, [BENCH_SCHEMA_PREFIX]);
  const dropped: string[] = [];
  for (const { name } of rows.filter((r) => SCHEMA_NAME.test(r.name))) {
    const client = await admin.connect();
    try {
      const { rows: got } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_CLASS, name]);
      if (!got[0]?.ok) continue;
      await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, name]);
      dropped.push(name);
    } finally {
      client.release();
    }
  }
  return dropped;
}

/**
 * Empties the bench tables between runs, so every run starts from the same
 * state. Refuses unless the session's schema is a bench schema: this must
 * never run against geo's real tables.
 */
export async function benchTablesClear(db: Queryable): Promise<void> {
  const { rows } = await db.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  const schema = rows[0]?.schema ?? '';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`refusing to clear tables outside a bench schema (current schema: ${schema || 'none'})`);
  // Every table the migrations made, whatever later migrations add (a fixed
  // list broke when 004 added stage_completions, which references jobs); the
  // names are quoted by the server (%I), never by string building here.
  const tables = await db.query<{ list: string | null }>(
    `SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') AS list
       FROM pg_tables WHERE schemaname = $1 AND tablename <> 'geo_migrations'`,
    [schema],
  );
  const list = tables.rows[0]?.list;
  if (list) await db.query(`TRUNCATE ${list}`);
}

/** The seeds' per-task write: one task row, its own statement (autocommit). */
export async function benchTaskInsert(
  db: Queryable,
  task: { taskId: string; jobId: string; taskIndex: number; batchId: string; taskType: string; parameters: Record<string, unknown> },
): Promise<void> {
  await db.query(
    `INSERT INTO tasks (task_id, job_id, stage, task_index, batch_id, task_type, status, parameters)
     VALUES ($1, $2, 1, $3, $4, $5, 'queued', $6::jsonb)`,
    [task.taskId, task.jobId, task.taskIndex, task.batchId, task.taskType, JSON.stringify(task.parameters)],
  );
}
