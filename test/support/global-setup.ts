import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../../src/store/embedded/server.js';

/** GEO_HOME of the test suite's own embedded PostgreSQL (ignored by git). */
export const TEST_HOME = path.resolve(import.meta.dirname, '../../.geo-test');

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

/**
 * Starts one real PostgreSQL for the whole run (embedded, from the project's
 * own dependencies) unless GEO_TEST_DATABASE_URL names one. Each test file
 * then works in a database of its own (test/support/db.ts).
 */
export default async function setup(project: TestProject) {
  const external = process.env.GEO_TEST_DATABASE_URL;
  const url = external ?? (await ensureEmbeddedServer({ home: TEST_HOME })).connectionString;
  project.provide('adminDatabaseUrl', url);
  return async () => {
    if (!external) await stopEmbeddedServer(TEST_HOME);
  };
}
