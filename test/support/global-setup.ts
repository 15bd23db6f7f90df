import fs from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { processAlive } from '../../src/store/embedded/file-lock.js';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../../src/store/embedded/server.js';

/** Parent of each test run's own GEO_HOME (ignored by git). */
const TEST_ROOT = path.resolve(import.meta.dirname, '../../.geo-test');

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

/**
 * Starts one real PostgreSQL for the whole run (embedded, from the project's
 * own dependencies) unless GEO_TEST_DATABASE_URL names one. Each run has its
 * own server, so two runs at once never stop each other's; each test file
 * then works in a database of its own (test/support/db.ts).
 */
export default async function setup(project: TestProject) {
  const external = process.env.GEO_TEST_DATABASE_URL;
  if (external) {
    project.provide('adminDatabaseUrl', external);
    return;
  }
  await removeAbandonedRuns();
  const home = path.join(TEST_ROOT, `run-${process.pid}`);
  const server = await ensureEmbeddedServer({ home });
  project.provide('adminDatabaseUrl', server.connectionString);
  return async () => {
    await stopEmbeddedServer(home, { force: true });
    await fs.rm(home, { recursive: true, force: true });
  };
}

/** Servers of earlier runs that were killed before their teardown. */
async function removeAbandonedRuns(): Promise<void> {
  const entries = await fs.readdir(TEST_ROOT).catch(() => [] as string[]);
  for (const entry of entries) {
    const pid = Number(/^run-(\d+)$/.exec(entry)?.[1]);
    if (!pid || processAlive(pid)) continue;
    const home = path.join(TEST_ROOT, entry);
    await stopEmbeddedServer(home, { force: true }).catch(() => undefined);
    await fs.rm(home, { recursive: true, force: true });
  }
}
