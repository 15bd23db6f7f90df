import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig, type GeoConfig, type TransportName } from '../../../src/config/index.js';
import { createProducer } from '../../../src/transports/index.js';
import type { TransportProducer } from '../../../src/transports/transport.js';
import { queueClientFor, startAzurite, type Azurite } from '../../support/azurite.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { startServiceBusPeer, type ServiceBusPeer } from '../../support/servicebus-peer/index.js';

/** How long a received message stays locked (hidden) without renewal, and the task lease: short, so a dead worker's task comes back soon. */
export const LOCK_SECONDS = 2;

/** One test's queue on the transport under test, and how to look at the broker's side. */
export interface Lane {
  transport: TransportName;
  /** Environment for a `geo` child process on this queue. */
  env(extra?: Record<string, string>): Record<string, string>;
  config(): GeoConfig;
  /** The producer for submitting and advancing (opened once, closed with the lane). */
  producer(): Promise<TransportProducer>;
  /** Puts a body geo would never produce on the queue (brokers only). */
  sendRaw?(body: string): Promise<void>;
  /** What was dead-lettered (moved to the poison queue), with reasons (brokers only). */
  deadLettered?(): Promise<Array<{ body: string; reason?: string; description?: string }>>;
  /** Messages still on the queue: available, locked or scheduled (Service Bus only: the peer knows exactly). */
  queuedMessages?(): Promise<number>;
  /** Messages the broker accepted for a stage's tasks, by task id (Service Bus only: the peer counts every send). */
  acceptedMessages?(jobId: string, stage: number): Map<string, number>;
  close(): Promise<void>;
}

export interface WorkHarness {
  readonly db: TestDatabase;
  lane(): Promise<Lane>;
}

/** A test file's database, home folder and broker (for `transport`), started before its tests and stopped after. */
export function useWorkHarness(transport: TransportName): WorkHarness {
  let db: TestDatabase | undefined;
  let home: string | undefined;
  let peer: ServiceBusPeer | undefined;
  let azurite: Azurite | undefined;
  let queues = 0;
  beforeAll(async () => {
    [db, home] = await Promise.all([createTestDatabase(), fs.mkdtemp(path.join(os.tmpdir(), 'geo-work-'))]);
    if (transport === 'servicebus') peer = await startServiceBusPeer({ queues: {} });
    if (transport === 'storage-queue') azurite = await startAzurite();
  });
  afterAll(async () => {
    const results = await Promise.allSettled([db?.drop(), peer?.close(), azurite?.dispose(), home && fs.rm(home, { recursive: true, force: true })]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  return {
    get db() {
      return db!;
    },
    async lane() {
      const queue = `work-${++queues}`;
      const base: Record<string, string> = { DATABASE_URL: db!.url, GEO_HOME: home!, GEO_TRANSPORT: transport };
      const closers: Array<() => Promise<void>> = [];
      if (transport === 'servicebus') {
        peer!.createQueue(queue, { lockDurationMs: LOCK_SECONDS * 1000, duplicateDetection: true, maxDeliveryCount: 100 });
        Object.assign(base, { GEO_SERVICEBUS_CONNECTION_STRING: peer!.connectionString(), GEO_SERVICEBUS_QUEUE: queue, GEO_SERVICEBUS_TIMEOUT_MS: '5000' });
      } else if (transport === 'storage-queue') {
        await queueClientFor(azurite!, queue).create();
        Object.assign(base, { GEO_STORAGE_CONNECTION_STRING: azurite!.connectionString, GEO_STORAGE_QUEUE: queue, GEO_STORAGE_TIMEOUT_MS: '15000' });
      }
      const config = loadConfig(base);
      let producer: Promise<TransportProducer> | undefined;
      const lane: Lane = {
        transport,
        env: (extra = {}) => ({ ...base, ...extra }),
        config: () => config,
        producer() {
          producer ??= createProducer(transport, config);
          return producer;
        },
        async close() {
          await (await producer)?.close();
          for (const close of closers) await close();
          if (transport === 'servicebus') peer!.deleteQueue(queue);
          if (transport === 'storage-queue') {
            await queueClientFor(azurite!, queue).deleteIfExists();
            await queueClientFor(azurite!, `${queue}-poison`).deleteIfExists();
          }
        },
      };
      if (transport === 'servicebus') {
        const raw = new ServiceBusClient(peer!.connectionString());
        const sender = raw.createSender(queue);
        closers.push(async () => {
          await sender.close();
          await raw.close();
        });
        lane.sendRaw = (body) => sender.sendMessages({ body: Buffer.from(body), contentType: 'application/octet-stream' });
        lane.queuedMessages = async () => peer!.queue(queue).activeCount() + peer!.queue(queue).scheduledIds().length;
        lane.deadLettered = async () =>
          peer!.queue(queue).deadLetters().map((d) => ({ body: d.messageId, reason: d.reason, description: d.description }));
        lane.acceptedMessages = (jobId, stage) => {
          const counts = new Map<string, number>();
          const prefix = `${jobId.slice(0, 16)}-s${stage}-`;
          for (const t of peer!.transfers()) {
            if (t.queue !== queue || t.outcome !== 'accepted') continue;
            for (const m of t.messages) {
              const taskId = m.messageId.split(':')[0]!;
              if (taskId.startsWith(prefix)) counts.set(taskId, (counts.get(taskId) ?? 0) + 1);
            }
          }
          return counts;
        };
      }
      if (transport === 'storage-queue') {
        const client = queueClientFor(azurite!, queue);
        lane.sendRaw = async (body) => {
          await client.sendMessage(Buffer.from(body).toString('base64'));
        };
        lane.deadLettered = async () => {
          const poison = queueClientFor(azurite!, `${queue}-poison`);
          if (!(await poison.exists())) return [];
          const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
          return peekedMessageItems.map((item) => {
            const doc = JSON.parse(Buffer.from(item.messageText, 'base64').toString('utf8')) as { deadLetter: { reason?: string; description?: string } };
            return { body: item.messageText, reason: doc.deadLetter.reason, description: doc.deadLetter.description };
          });
        };
      }
      return lane;
    },
  };
}
