import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { GeoConfig, TransportName } from '../../../src/config/index.js';
import { createProducer, type TransportKind } from '../../../src/transports/index.js';
import type { TransportProducer } from '../../../src/transports/transport.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { type DeadLettered, type TestQueue, useTestQueues } from '../../support/test-queues.js';

/** How long a received message stays locked (hidden) without renewal, and the task lease: short, so a dead worker's task comes back soon. */
export const LOCK_SECONDS = 2;

/** One test's queue on the transport under test, and how to look at the queue's side. */
export interface Lane {
  transport: TransportName;
  kind: TransportKind;
  /** Environment for a `geo` child process on this queue. */
  env(extra?: Record<string, string>): Record<string, string>;
  config(): GeoConfig;
  /** The producer for submitting and advancing (opened once, closed with the lane). */
  producer(): Promise<TransportProducer>;
  /** Puts a body geo would never produce where consumers read (the local queue's database refuses it as a task row). */
  sendRaw(body: string): Promise<void>;
  /** What was dead-lettered (moved to the poison queue), with reasons; the local queue has no dead-letter queue. */
  deadLettered(): Promise<DeadLettered[]>;
  /**
   * Messages the queue accepted for a stage's tasks, by task id: what the
   * Service Bus peer counted, what Storage Queue acknowledged to this lane's
   * producer, the task rows of the local queue.
   */
  acceptedMessages(jobId: string, stage: number): Promise<Map<string, number>>;
  /** Messages still on the queue: available, locked or scheduled (where the test broker knows exactly: the Service Bus peer). */
  queuedMessages?(): Promise<number>;
  close(): Promise<void>;
}

export interface WorkHarness {
  readonly db: TestDatabase;
  lane(): Promise<Lane>;
}

/** A test file's database, home folder and broker (for `transport`), started before its tests and stopped after. */
export function useWorkHarness(transport: TransportName): WorkHarness {
  const queues = useTestQueues(transport);
  let db: TestDatabase | undefined;
  let home: string | undefined;
  beforeAll(async () => {
    [db, home] = await Promise.all([createTestDatabase(), fs.mkdtemp(path.join(os.tmpdir(), 'geo-work-'))]);
  });
  afterAll(async () => {
    const results = await Promise.allSettled([db?.drop(), home && fs.rm(home, { recursive: true, force: true })]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  return {
    get db() {
      return db!;
    },
    async lane() {
      const queue = await queues.open(db!.pool, { lockSeconds: LOCK_SECONDS });
      const acknowledged = new Map<string, number>();
      let producer: Promise<TransportProducer> | undefined;
      return {
        transport,
        kind: queue.kind,
        env: (extra = {}) => ({ DATABASE_URL: db!.url, GEO_HOME: home!, ...queue.env, ...extra }),
        config: () => queue.config,
        producer() {
          producer ??= createProducer(transport, queue.config).then((p) => counting(p, acknowledged));
          return producer;
        },
        sendRaw: (body) => queue.sendRaw(body),
        deadLettered: () => queue.deadLettered(),
        queuedMessages: queue.peer ? () => queue.held() : undefined,
        acceptedMessages: (jobId, stage) => acceptedMessages(db!, queue, acknowledged, jobId, stage),
        async close() {
          await (await producer)?.close();
          await queue.close();
        },
      };
    },
  };
}

/** The producer, counting every message it had acknowledged, by task id. */
function counting(producer: TransportProducer, acknowledged: Map<string, number>): TransportProducer {
  const count = <T extends { acknowledged: string[] }>(report: T): T => {
    for (const taskId of report.acknowledged) acknowledged.set(taskId, (acknowledged.get(taskId) ?? 0) + 1);
    return report;
  };
  return Object.assign(Object.create(producer) as TransportProducer, {
    send: async (...args: Parameters<TransportProducer['send']>) => count(await producer.send(...args)),
    schedule: async (...args: Parameters<TransportProducer['schedule']>) => count(await producer.schedule(...args)),
  });
}

/** The best view of what reached the queue: the broker's own count where the test broker keeps one, else the producer's acknowledgements. */
async function acceptedMessages(db: TestDatabase, queue: TestQueue, acknowledged: Map<string, number>, jobId: string, stage: number) {
  const prefix = `${jobId.slice(0, 16)}-s${stage}-`;
  const counts = new Map<string, number>();
  const add = (taskId: string, n = 1) => taskId.startsWith(prefix) && counts.set(taskId, (counts.get(taskId) ?? 0) + n);
  if (queue.kind.tasksAreMessages) {
    // The task rows are the messages: one each.
    const { rows } = await db.pool.query<{ taskId: string }>('SELECT task_id AS "taskId" FROM tasks WHERE job_id = $1 AND stage = $2', [jobId, stage]);
    for (const r of rows) add(r.taskId);
  } else if (queue.peer) {
    for (const t of queue.peer.transfers()) {
      if (t.queue === queue.name && t.outcome === 'accepted') for (const m of t.messages) add(m.messageId.split(':')[0]!);
    }
  } else {
    for (const [taskId, n] of acknowledged) add(taskId, n);
  }
  return counts;
}
