import { afterAll, afterEach, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from './db.js';
import { type ServiceBusPeer, startServiceBusPeer } from './servicebus-peer/index.js';

/**
 * A test file's own database and Service Bus peer (no queues: each test
 * creates its own), started before its tests and closed after them; faults
 * are cleared after every test.
 */
export function useServiceBusFixture(): { readonly db: TestDatabase; readonly peer: ServiceBusPeer } {
  let db: TestDatabase | undefined;
  let peer: ServiceBusPeer | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    peer = await startServiceBusPeer({ queues: {} });
  });
  afterEach(() => peer?.faults.clear());
  afterAll(async () => {
    await peer?.close();
    await db?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error('the fixture is used before beforeAll ran');
      return db;
    },
    get peer() {
      if (!peer) throw new Error('the fixture is used before beforeAll ran');
      return peer;
    },
  };
}
