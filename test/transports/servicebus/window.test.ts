import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { MAX_WIDENING } from '../../../src/core/protocol/window.js';
import { createServiceBusProducer } from '../../../src/transports/servicebus.js';
import type { TransportProducer } from '../../../src/transports/transport.js';
import { useServiceBusFixture } from '../../support/servicebus-fixture.js';
import { submitHelloWorld, taskStatusCounts } from '../../support/submit.js';

const fixture = useServiceBusFixture();
let queue: string;
let queueNumber = 0;

beforeEach(() => {
  queue = `window-${++queueNumber}`;
  fixture.peer.createQueue(queue, { duplicateDetection: true });
  fixture.peer.resetStats();
});

function openProducer(): Promise<TransportProducer> {
  const config = loadConfig({ GEO_SERVICEBUS_CONNECTION_STRING: fixture.peer.connectionString(), GEO_SERVICEBUS_QUEUE: queue });
  return createServiceBusProducer(config.servicebus);
}

/** The most transfers the peer held unsettled at once: each is settled `latencyMs` after it arrived. */
function mostInFlight(arrivals: number[], latencyMs: number): number {
  const sorted = [...arrivals].sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let i = 0; i < sorted.length; i++) {
    while (sorted[first]! <= sorted[i]! - latencyMs) first++;
    most = Math.max(most, i - first + 1);
  }
  return most;
}

describe('groups in flight sized from the round trip to the broker', () => {
  it('a 150 ms round trip widens --concurrency 1 past its 10 batches in flight, and every task arrives once', async () => {
    const { peer } = fixture;
    peer.faults.setLatencyMs(150);
    const producer = await openProducer();
    try {
      const result = await submitHelloWorld(fixture.db.pool, producer, { n: 8_000, name: 'wide' }, { concurrency: 1 });
      expect(result).toMatchObject({ queued: 8_000, pendingQueue: 0, failed: 0 });
      const accepted = peer.transfers().filter((t) => t.outcome === 'accepted');
      expect(accepted).toHaveLength(80);
      const most = mostInFlight(
        accepted.map((t) => t.at),
        150,
      );
      expect(most).toBeGreaterThan(10);
      expect(most).toBeLessThanOrEqual(10 * MAX_WIDENING);
      expect(peer.queue(queue).activeCount()).toBe(8_000);
      expect(await taskStatusCounts(fixture.db.pool, result.jobId)).toEqual({ queued: 8_000 });
    } finally {
      await producer.close();
    }
  });

  it('with the window widened, no batch reaches the broker before the transaction that wrote it has committed', async () => {
    const { db, peer } = fixture;
    peer.faults.setLatencyMs(100);
    // A deferred trigger runs at commit, after the statement: it notes the time and then holds the commit for a moment,
    // so a send that did not wait for the commit would arrive before the noted time.
    await db.pool.query(`
      CREATE TABLE IF NOT EXISTS window_commits (batch_id text PRIMARY KEY, committing_at timestamptz NOT NULL);
      CREATE OR REPLACE FUNCTION window_note_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO window_commits VALUES (NEW.batch_id, clock_timestamp());
        IF NEW.batch_index % 10 = 0 THEN PERFORM pg_sleep(0.03); END IF;
        RETURN NULL;
      END $$;
      DROP TRIGGER IF EXISTS window_note_commit ON batches;
      CREATE CONSTRAINT TRIGGER window_note_commit AFTER INSERT ON batches
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION window_note_commit();`);
    const producer = await openProducer();
    try {
      const result = await submitHelloWorld(fixture.db.pool, producer, { n: 6_000, name: 'committed-first' }, { concurrency: 1 });
      expect(result).toMatchObject({ queued: 6_000, failed: 0 });
      const { rows } = await db.pool.query<{ batchId: string; committingAt: Date }>(
        `SELECT batch_id AS "batchId", committing_at AS "committingAt" FROM window_commits`,
      );
      const committing = new Map(rows.map((r) => [r.batchId, r.committingAt.getTime()]));
      const accepted = peer.transfers().filter((t) => t.outcome === 'accepted');
      expect(accepted).toHaveLength(60);
      expect(
        mostInFlight(
          accepted.map((t) => t.at),
          100,
        ),
      ).toBeGreaterThan(10);
      for (const transfer of accepted) {
        const batchId = String(transfer.messages[0]!.applicationProperties.batchId);
        const noted = committing.get(batchId);
        expect(noted, batchId).toBeDefined();
        expect(transfer.at, batchId).toBeGreaterThanOrEqual(noted!);
      }
    } finally {
      await db.pool.query(`DROP TRIGGER IF EXISTS window_note_commit ON batches`);
      await producer.close();
    }
  });
});
