import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { TransportName } from '../../../src/config/index.js';
import { type Azurite, queueClientFor, startAzurite } from '../../support/azurite.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { type ServiceBusPeer, startServiceBusPeer } from '../../support/servicebus-peer/index.js';

const QUEUE = 'chaos';
/** Service Bus lock length: as short as a test can afford, so a killed receiver's lock lapses soon. */
const LOCK_MS = 5_000;
/**
 * Deliveries before Service Bus dead-letters a message: low, as an operator
 * might set it, so workers killed while holding a message (and `busy`
 * deliveries left to lapse) can poison it; geo's sweep must take it back.
 */
const MAX_DELIVERY_COUNT = 5;

/** A transport's broker, database and job-type module, for `geo` child processes. */
export interface ChaosFixture {
  readonly transport: TransportName;
  readonly db: TestDatabase;
  /** Environment for a `geo` child process: database, home, transport, queue and the `chaos` job type module. */
  env(): Record<string, string>;
  /** Message ids of what sits in the queue's dead-letter (poison) queue. */
  deadLettered(): Promise<string[]>;
}

/**
 * Starts, for one describe block, a database of its own, the broker of
 * `transport` (the Service Bus test peer or Azurite) with a queue, and a
 * folder holding the `chaos` job type module (copied out of the repository,
 * so `geo/job-types` resolves through geo's hook as for a user's module).
 */
export function useChaosFixture(transport: TransportName): ChaosFixture {
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  let peer: ServiceBusPeer | undefined;
  let azurite: Azurite | undefined;
  let env: Record<string, string> = {};

  beforeAll(async () => {
    [db, dir] = await Promise.all([createTestDatabase(), fs.mkdtemp(path.join(os.tmpdir(), `geo-chaos-${transport}-`))]);
    for (const file of ['chaos-job-type.mjs', 'chaos-plan.mjs']) {
      await fs.copyFile(path.join(import.meta.dirname, file), path.join(dir, file));
    }
    env = {
      DATABASE_URL: db.url,
      GEO_HOME: path.join(dir, 'home'),
      GEO_TRANSPORT: transport,
      GEO_JOB_TYPES: path.join(dir, 'chaos-job-type.mjs'),
    };
    if (transport === 'servicebus') {
      peer = await startServiceBusPeer({ queues: {} });
      peer.createQueue(QUEUE, { lockDurationMs: LOCK_MS, duplicateDetection: true, maxDeliveryCount: MAX_DELIVERY_COUNT });
      Object.assign(env, {
        GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(),
        GEO_SERVICEBUS_QUEUE: QUEUE,
        GEO_SERVICEBUS_TIMEOUT_MS: '5000',
      });
    } else if (transport === 'storage-queue') {
      azurite = await startAzurite();
      await queueClientFor(azurite, QUEUE).create();
      Object.assign(env, {
        GEO_STORAGE_CONNECTION_STRING: azurite.connectionString,
        GEO_STORAGE_QUEUE: QUEUE,
        // Azurite on a loaded machine can take seconds to answer; a worker that hears nothing at start-up exits 3.
        GEO_STORAGE_TIMEOUT_MS: '30000',
      });
    }
  });
  afterAll(async () => {
    const results = await Promise.allSettled([db?.drop(), peer?.close(), azurite?.dispose(), dir && fs.rm(dir, { recursive: true, force: true })]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  return {
    transport,
    get db() {
      if (!db) throw new Error('the fixture is used before beforeAll ran');
      return db;
    },
    env: () => ({ ...env }),
    async deadLettered() {
      if (peer) return peer.queue(QUEUE).deadLetterIds();
      if (!azurite) return [];
      const poison = queueClientFor(azurite, `${QUEUE}-poison`);
      if (!(await poison.exists())) return [];
      const [{ peekedMessageItems }, properties] = await Promise.all([poison.peekMessages({ numberOfMessages: 32 }), poison.getProperties()]);
      // A message the sweep is reading is hidden from a peek; the count still has it.
      const hidden = Math.max(0, (properties.approximateMessagesCount ?? 0) - peekedMessageItems.length);
      return [...peekedMessageItems.map((m) => m.messageId), ...Array.from({ length: hidden }, (_, i) => `(hidden message ${i + 1})`)];
    },
  };
}
