// Every transport's queue as a test sees it: one fresh queue per test on the
// real thing (the local queue in the test's database, the Service Bus test
// peer, Azurite), with what a test can look at from the queue's side. The
// transport suites (test/transports) and the work suite (test/work) run on
// these, so each transport is set up once, here.
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, expect } from 'vitest';
import { type GeoConfig, loadConfig } from '../../src/config/index.js';
import type { Pool } from '../../src/store/pool.js';
import { type MessageEncoding, type TransportKind, type TransportName, transportKind } from '../../src/transports/index.js';
import { messageIdOf, type TaskMessage } from '../../src/transports/message.js';
import { type Azurite, queueClientFor, startAzurite } from './azurite.js';
import { type ServiceBusPeer, startServiceBusPeer } from './servicebus-peer/index.js';

/** A message the queue moved to its dead-letter (poison) queue. */
export interface DeadLettered {
  /** The task id of a task message; undefined for a body that is not one. */
  taskId?: string;
  reason?: string;
  description?: string;
}

/** One test's queue. */
export interface TestQueue {
  readonly kind: TransportKind;
  /** The queue's name (the local queue's is its table's). */
  readonly name: string;
  /** Environment for geo on this queue: GEO_TRANSPORT and the transport's own variables (not DATABASE_URL or GEO_HOME). */
  readonly env: Record<string, string>;
  readonly config: GeoConfig;
  /**
   * Puts a body geo would never produce where consumers read. On the local
   * queue that is a task row made of the body, which the database refuses.
   */
  sendRaw(body: string): Promise<void>;
  /**
   * Messages on the queue in any state (available, locked, scheduled),
   * dead-lettered ones excluded. On the local queue: task rows that are
   * queued or claimed, of jobs it still hands out.
   */
  held(): Promise<number>;
  /** The message id a delivery of `sent` carries: the task id (local), geo's own id (Service Bus), a matcher for the id the broker picks (Storage Queue). */
  messageIdOf(sent: TaskMessage): unknown;
  /** What was moved to the dead-letter (poison) queue. The local queue has none: always empty. */
  deadLettered(): Promise<DeadLettered[]>;
  /** For a transport's own tests, not the suites: the Service Bus test peer, and its view of the queue. */
  readonly peer?: ServiceBusPeer;
  readonly peerQueue?: PeerQueue;
  /** For a transport's own tests, not the suites: the Azurite the queue is on. */
  readonly azurite?: Azurite;
  close(): Promise<void>;
}

type PeerQueue = ReturnType<ServiceBusPeer['queue']>;

export interface TestQueueOptions {
  /** Lock (visibility) duration of a broker queue. */
  lockSeconds: number;
  /** The queue's message encoding, where the transport has a choice. */
  encoding?: MessageEncoding;
}

export interface TestQueues {
  readonly kind: TransportKind;
  /** A fresh queue; the local queue lives in `db`, the one database the caller tests against. */
  open(db: Pool, options: TestQueueOptions): Promise<TestQueue>;
}

/** The broker of `transport`, started before the file's tests and stopped after them. */
export function useTestQueues(transport: TransportName): TestQueues {
  const opener = OPENERS[transport]();
  beforeAll(() => opener.start(), 60_000);
  afterAll(() => opener.stop());
  return { kind: transportKind(transport), open: (db, options) => opener.open(db, options) };
}

interface Opener {
  start(): Promise<void>;
  stop(): Promise<void>;
  open(db: Pool, options: TestQueueOptions): Promise<TestQueue>;
}

let queueNumber = 0;

const OPENERS: Record<TransportName, () => Opener> = {
  local: () => ({
    async start() {},
    async stop() {},
    async open(db) {
      return {
        kind: transportKind('local'),
        name: 'tasks',
        env: { GEO_TRANSPORT: 'local' },
        config: loadConfig({ GEO_TRANSPORT: 'local' }),
        async sendRaw(body) {
          // The body as a task row: the table's types and constraints are the queue's schema.
          await db.query('INSERT INTO tasks SELECT * FROM jsonb_populate_record(NULL::tasks, $1::jsonb)', [body]);
        },
        async held() {
          const { rows } = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM tasks t JOIN jobs j ON j.job_id = t.job_id
             WHERE t.status IN ('queued', 'processing') AND j.status = 'processing' AND j.tasks_are_messages`,
          );
          return rows[0]!.n;
        },
        messageIdOf: (sent) => sent.taskId,
        deadLettered: async () => [],
        async close() {},
      };
    },
  }),

  servicebus: () => {
    let peer: ServiceBusPeer | undefined;
    return {
      async start() {
        peer = await startServiceBusPeer({ queues: {} });
      },
      async stop() {
        await peer?.close();
      },
      async open(_db, { lockSeconds }) {
        const queue = `test-${++queueNumber}`;
        // Duplicate detection on, as the README asks: a redelivery must not be dropped as a duplicate of its first message.
        peer!.createQueue(queue, { lockDurationMs: lockSeconds * 1000, duplicateDetection: true, maxDeliveryCount: 100 });
        const env = {
          GEO_TRANSPORT: 'servicebus',
          GEO_SERVICEBUS_CONNECTION_STRING: peer!.connectionString(),
          GEO_SERVICEBUS_QUEUE: queue,
          GEO_SERVICEBUS_TIMEOUT_MS: '5000',
        };
        const raw = new ServiceBusClient(peer!.connectionString());
        const sender = raw.createSender(queue);
        const view = peer!.queue(queue);
        return {
          name: queue,
          kind: transportKind('servicebus'),
          peer,
          peerQueue: view,
          env,
          config: loadConfig(env),
          sendRaw: (body) => sender.sendMessages({ body: Buffer.from(body), contentType: 'application/octet-stream' }),
          held: async () => view.activeCount() + view.scheduledIds().length,
          messageIdOf,
          deadLettered: async () =>
            view
              .deadLetters()
              .map((d) => ({ taskId: /-s\d+-/.test(d.messageId) ? d.messageId.split(':')[0] : undefined, reason: d.reason, description: d.description })),
          async close() {
            await sender.close();
            await raw.close();
            peer!.deleteQueue(queue);
          },
        };
      },
    };
  },

  'storage-queue': () => {
    let azurite: Azurite | undefined;
    return {
      async start() {
        azurite = await startAzurite();
      },
      async stop() {
        await azurite?.dispose();
      },
      async open(_db, { encoding = 'base64' }) {
        const queue = `test-${encoding}-${++queueNumber}`;
        const client = queueClientFor(azurite!, queue);
        const poison = queueClientFor(azurite!, `${queue}-poison`);
        await client.create();
        const env = {
          GEO_TRANSPORT: 'storage-queue',
          GEO_STORAGE_CONNECTION_STRING: azurite!.connectionString,
          GEO_STORAGE_QUEUE: queue,
          GEO_STORAGE_MESSAGE_ENCODING: encoding,
          GEO_STORAGE_TIMEOUT_MS: '15000',
        };
        const encode = (text: string) => (encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text);
        const decode = (text: string) => (encoding === 'base64' ? Buffer.from(text, 'base64').toString('utf8') : text);
        return {
          kind: transportKind('storage-queue'),
          name: queue,
          azurite,
          env,
          config: loadConfig(env),
          async sendRaw(body) {
            await client.sendMessage(encode(body));
          },
          held: async () => (await client.getProperties()).approximateMessagesCount ?? 0,
          messageIdOf: () => expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
          async deadLettered() {
            if (!(await poison.exists())) return [];
            const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
            return peekedMessageItems.map((item) => {
              const doc = JSON.parse(decode(item.messageText)) as { taskId?: unknown; deadLetter: { reason?: string; description?: string } };
              return {
                taskId: typeof doc.taskId === 'string' ? doc.taskId : undefined,
                reason: doc.deadLetter.reason,
                description: doc.deadLetter.description,
              };
            });
          },
          async close() {
            await Promise.all([client.deleteIfExists(), poison.deleteIfExists()]);
          },
        };
      },
    };
  },
};
