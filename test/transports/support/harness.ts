// What the producer and consumer suites run on: one fresh queue per test on
// the real transport (test/support/test-queues.ts), with the transport's own
// producer and consumer opened on it, a database, and the few acts a test
// needs whose form depends on the transport's kind. Where the tasks are the
// messages (the local queue), "putting a message on the queue" is writing its
// task row as the store writes it, and geo's sweep is what brings a lapsed
// claim back; on a broker, the producer sends and the broker redelivers.
import crypto from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { DEFAULT_RETRY_POLICY } from '../../../src/core/job-types/job-type.js';
import { jobsInsert } from '../../../src/store/jobs.js';
import type { Pool } from '../../../src/store/pool.js';
import { tasksRequeueLapsed } from '../../../src/store/redeliveries.js';
import { stagesEnsure } from '../../../src/store/stages.js';
import { createConsumer, createProducer, type TransportKind, type TransportName } from '../../../src/transports/index.js';
import { buildTaskMessage, type TaskMessage } from '../../../src/transports/message.js';
import type { TransportConsumer, TransportProducer } from '../../../src/transports/transport.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { type TestQueue, type TestQueueOptions, useTestQueues } from '../../support/test-queues.js';

/** One test's queue, with the transport's producer and consumer open on it. */
export interface OpenQueue extends TestQueue {
  readonly db: Pool;
  readonly producer: TransportProducer;
  readonly consumer: TransportConsumer;
  /** How long a received message stays locked (a claim leased) without renewal. */
  readonly lockMs: number;
  /** A job of this queue's own (written to the database where the tasks are the messages). */
  readonly jobId: string;
  /** Task messages of this queue's job. */
  messages(count: number, tag?: string): TaskMessage[];
  /** Puts task messages on the queue for consumers: sent by the producer, or written as queued task rows. */
  send(messages: TaskMessage[]): Promise<void>;
  /** Puts task messages on the queue to appear at `at` (a redelivery geo owes): scheduled by the producer, or rows queued until then. */
  schedule(messages: TaskMessage[], at: Date): Promise<void>;
  /** What geo's sweep does for this queue between receives: puts lapsed claims back where the tasks are the messages; nothing for a broker. */
  sweep(): Promise<void>;
  /** A second consumer on the same queue, closed with it. */
  anotherConsumer(): Promise<TransportConsumer>;
}

export interface TransportHarness {
  readonly kind: TransportKind;
  /** A suite's label: the transport, and the queue's variant where a file runs several. */
  readonly label: string;
  open(): Promise<OpenQueue>;
}

const LOCK_SECONDS = 2;
let jobs = 0;

/** A database, and the broker of `transport`, for one test file; each test's queues are closed after it. */
export function useTransportHarness(transport: TransportName, options: Partial<TestQueueOptions> = {}): TransportHarness {
  const queues = useTestQueues(transport);
  const kind = queues.kind;
  let db: TestDatabase | undefined;
  const opened: OpenQueue[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((q) => q.close()));
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function open(): Promise<OpenQueue> {
    const pool = db!.pool;
    const queue = await queues.open(pool, { lockSeconds: LOCK_SECONDS, ...options });
    const jobId = crypto.createHash('sha256').update(`transport-suite-${process.pid}-${++jobs}`).digest('hex');
    if (kind.tasksAreMessages) await writeJob(pool, jobId, kind.name);
    const consumerOptions = { worker: `suite-${jobs}`, leaseSeconds: LOCK_SECONDS, jobTypes: ['hello_world'], db: pool };
    const producer = await createProducer(kind.name, queue.config);
    const consumer = await createConsumer(kind.name, queue.config, consumerOptions);
    const others: TransportConsumer[] = [];
    let rows = 0;
    const writeRows = (messages: TaskMessage[], at?: Date) => writeTaskRows(pool, kind.name, messages, at, () => rows++);
    const q: OpenQueue = {
      ...queue,
      db: pool,
      producer,
      consumer,
      lockMs: LOCK_SECONDS * 1000,
      jobId,
      messages: (count, tag = 't') => taskMessages(jobId, count, tag),
      async send(messages) {
        if (kind.tasksAreMessages) return writeRows(messages);
        const report = await producer.send(messages);
        expect(report.acknowledged).toHaveLength(messages.length);
      },
      async schedule(messages, at) {
        if (kind.tasksAreMessages) return writeRows(messages, at);
        const report = await producer.schedule(messages, at);
        expect(report.acknowledged).toHaveLength(messages.length);
      },
      async sweep() {
        if (kind.tasksAreMessages) await tasksRequeueLapsed(pool, { limit: 1_000 });
      },
      async anotherConsumer() {
        const other = await createConsumer(kind.name, queue.config, { ...consumerOptions, worker: `${consumerOptions.worker}-other-${others.length}` });
        others.push(other);
        return other;
      },
      async close() {
        await Promise.all([consumer.close(), producer.close(), ...others.map((c) => c.close())]);
        // What a test left claimed or queued on the local queue is not the next test's.
        await pool.query(`UPDATE jobs SET status = 'completed' WHERE status = 'processing'`);
        await queue.close();
      },
    };
    opened.push(q);
    return q;
  }

  return { kind, label: options.encoding ? `${kind.name} (${options.encoding})` : kind.name, open };
}

/** `count` task messages of stage 1 of `jobId`, in one batch. */
export function taskMessages(jobId: string, count: number, tag = 't'): TaskMessage[] {
  const prefix = jobId.slice(0, 16);
  return Array.from({ length: count }, (_, i) =>
    buildTaskMessage({
      taskId: `${prefix}-s1-${tag}-${i}`,
      jobId,
      jobType: 'hello_world',
      taskType: 'greeting',
      stage: 1,
      batchId: `${prefix}-s1-b0`,
      parameters: { i },
    }),
  );
}

/** The job and stage rows the local queue's messages belong to (it hands out tasks of running jobs only). */
async function writeJob(db: Pool, jobId: string, transport: TransportName): Promise<void> {
  await jobsInsert(db, {
    jobId,
    jobType: 'hello_world',
    parameters: {},
    processingPath: transport,
    tasksAreMessages: true,
    destination: { transport },
    idPrefix: jobId.slice(0, 16),
    stageCount: 1,
  });
  await stagesEnsure(db, {
    jobId,
    stage: 1,
    name: 'greeting',
    taskCount: 1_000,
    batchSize: 1_000,
    retry: DEFAULT_RETRY_POLICY,
    acceptPartial: false,
    leaseSeconds: 30,
  });
}

/** The messages as queued task rows of their batch, ready at once or from `at`, as the store and a retry write them. */
async function writeTaskRows(db: Pool, transport: TransportName, messages: TaskMessage[], at: Date | undefined, nextIndex: () => number): Promise<void> {
  for (const m of messages) {
    await db.query(
      `INSERT INTO batches (batch_id, job_id, stage, batch_index, task_count, transport, status, attempts, queued_at)
       VALUES ($1, $2, $3, 0, 1000, $4, 'queued', 1, now()) ON CONFLICT DO NOTHING`,
      [m.batchId, m.jobId, m.stage, transport],
    );
    await db.query(
      `INSERT INTO tasks (task_id, job_id, stage, task_index, batch_id, task_type, status, parameters, available_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8)`,
      [m.taskId, m.jobId, m.stage, nextIndex(), m.batchId, m.taskType, JSON.stringify(m.parameters), at ?? null],
    );
  }
}

/** Receives until `count` messages came or `deadlineMs` passed; each receive waits at most `waitMs`. */
export async function receiveAll(consumer: TransportConsumer, count: number, deadlineMs = 10_000, waitMs = 1_000) {
  const got = [];
  const deadline = Date.now() + deadlineMs;
  while (got.length < count && Date.now() < deadline) got.push(...(await consumer.receive(count - got.length, waitMs)));
  return got;
}

/**
 * Receives until `count` messages came or `deadlineMs` passed, completing
 * each receive's messages before the next, so no lock lapses meanwhile and
 * every message seen twice was handed out twice.
 */
export async function receiveCompleting(consumer: TransportConsumer, count: number, deadlineMs = 30_000) {
  const got = [];
  const deadline = Date.now() + deadlineMs;
  while (got.length < count && Date.now() < deadline) {
    const batch = await consumer.receive(Math.min(50, count - got.length), 500);
    got.push(...batch);
    await Promise.all(batch.map((m) => consumer.complete(m)));
  }
  return got;
}
