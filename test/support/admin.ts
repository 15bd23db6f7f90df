import pg from 'pg';

/**
 * One statement on its own connection (CREATE and DROP DATABASE cannot share
 * a transaction); the first column of its first row, as text, if any.
 */
export async function admin(url: string, sql: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<Record<string, unknown>>(sql);
    const first = rows[0];
    return first ? String(Object.values(first)[0]) : undefined;
  } finally {
    await client.end();
  }
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
