import http from 'node:http';
import type net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendBatchWithRetry } from '../../../src/core/protocol/send.js';
import { DependencyError, InputError, TransportError } from '../../../src/errors.js';
import type { TaskMessage } from '../../../src/transports/message.js';
import { createStorageQueueProducer } from '../../../src/transports/storage-queue.js';
import type { StorageConfig } from '../../../src/transports/storage-queue-connect.js';
import { DEV_KEY } from '../../support/azurite.js';

/**
 * A scripted stand-in for the queue service, so every failure the service
 * can answer with reaches the real SDK exactly as it would from Azure.
 */
type Reply = { status: number; code?: string; message?: string } | 'hang' | 'reset';

let server: http.Server;
let port: number;
let onSend: (text: string, n: number) => Reply | undefined = () => undefined;
let onPreflight: () => Reply | undefined = () => undefined;
let received: string[] = [];
let posts = 0;
let active = 0;
let maxActive = 0;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') return reply(res, onPreflight() ?? { status: 200 });
      active++;
      maxActive = Math.max(maxActive, active);
      const text = /<MessageText>([\s\S]*)<\/MessageText>/.exec(body)?.[1] ?? '';
      const scripted = onSend(text, posts++);
      setTimeout(() => {
        active--;
        if (scripted === undefined) {
          received.push(text);
          return reply(res, { status: 201 });
        }
        reply(res, scripted);
      }, 2);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

afterEach(() => {
  onSend = () => undefined;
  onPreflight = () => undefined;
  received = [];
  posts = 0;
  maxActive = 0;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

function reply(res: http.ServerResponse, r: Reply): void {
  if (r === 'hang') return;
  if (r === 'reset') return void res.socket?.destroy();
  const headers: Record<string, string> = { 'x-ms-request-id': 'test', 'content-type': 'application/xml' };
  if (r.status >= 300) {
    headers['x-ms-error-code'] = r.code ?? 'Unknown';
    res
      .writeHead(r.status, headers)
      .end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${r.code}</Code><Message>${r.message ?? 'scripted'}\nRequestId:test</Message></Error>`);
  } else if (r.status === 201) {
    const t = new Date().toUTCString();
    res
      .writeHead(201, headers)
      .end(
        `<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage><MessageId>m</MessageId><InsertionTime>${t}</InsertionTime>` +
          `<ExpirationTime>${t}</ExpirationTime><PopReceipt>p</PopReceipt><TimeNextVisible>${t}</TimeNextVisible></QueueMessage></QueueMessagesList>`,
      );
  } else {
    res.writeHead(r.status, headers).end();
  }
}

function config(overrides: Partial<StorageConfig> = {}): StorageConfig {
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
    queue: 'scripted-queue',
    createQueue: false,
    messageEncoding: 'base64',
    timeoutMs: 30_000,
    ...overrides,
  };
}

function messages(count: number, from = 0): TaskMessage[] {
  return Array.from({ length: count }, (_, k) => ({
    taskId: `t-${from + k}`,
    jobId: 'a'.repeat(64),
    jobType: 'hello_world',
    taskType: 'greeting',
    stage: 1,
    batchId: 'b',
    parameters: { i: from + k },
    delivery: 0,
  }));
}

const taskIdOf = (text: string) => (JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as TaskMessage).taskId;

describe('storage-queue send outcomes', () => {
  it.each([
    [
      { status: 503, code: 'ServerBusy' },
      { code: 'STORAGE_BUSY', retryable: true, throttled: true },
    ],
    [
      { status: 500, code: 'OperationTimedOut' },
      { code: 'STORAGE_BUSY', retryable: true, throttled: true },
    ],
    [
      { status: 500, code: 'InternalError' },
      { code: 'STORAGE_SERVER_ERROR', retryable: true, throttled: false },
    ],
    [
      { status: 408, code: 'OperationTimedOut' },
      { code: 'STORAGE_SERVER_ERROR', retryable: true, throttled: false },
    ],
    ['reset', { code: 'STORAGE_CONNECTION', retryable: true, throttled: false }],
    [
      { status: 403, code: 'AuthorizationPermissionMismatch' },
      { code: 'STORAGE_FORBIDDEN', retryable: false, throttled: false },
    ],
    [
      { status: 404, code: 'QueueNotFound' },
      { code: 'QUEUE_NOT_FOUND', retryable: false, throttled: false },
    ],
  ] as Array<[Reply, Partial<TransportError>]>)('reports %j as %j, naming account and queue', async (scripted, expected) => {
    const transport = await createStorageQueueProducer(config());
    onSend = (_text, n) => (n % 2 === 0 ? undefined : scripted);
    const report = await transport.send(messages(10));
    expect(report.acknowledged.length).toBeGreaterThan(0);
    expect(report.acknowledged.length).toBeLessThan(10);
    expect(report.error).toBeInstanceOf(TransportError);
    expect(report.error).toMatchObject(expected);
    expect(report.error!.message).toContain('storage queue scripted-queue in account devstoreaccount1');
    if (typeof scripted === 'object') expect(report.error!.message).toContain(`${scripted.status} ${scripted.code}`);
  });

  it('times out a send the service never answers, as retryable', async () => {
    const transport = await createStorageQueueProducer(config(), { requestTimeoutMs: 300 });
    onSend = () => 'hang';
    const started = Date.now();
    const report = await transport.send(messages(3));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(report).toMatchObject({ acknowledged: [], error: { code: 'STORAGE_TIMEOUT', retryable: true } });
  });

  it('once a request times out, the requests queued behind it fail unsent instead of each waiting out a timeout', async () => {
    const transport = await createStorageQueueProducer(config(), { requestTimeoutMs: 300, maxInFlight: 4 });
    onSend = () => 'hang';
    const report = await transport.send(messages(40));
    expect(report).toMatchObject({ acknowledged: [], error: { code: 'STORAGE_TIMEOUT', retryable: true } });
    // Only the first four (the bound in flight) reached the service.
    expect(posts).toBe(4);
    // A send begun after the timeout tries the service again.
    onSend = () => undefined;
    expect((await transport.send(messages(8))).acknowledged).toHaveLength(8);
    expect(posts).toBe(12);
  });

  it('re-sends only the unacknowledged part of a partly sent batch', async () => {
    const transport = await createStorageQueueProducer(config());
    const failedOnce = new Set<string>();
    onSend = (text) => {
      const id = taskIdOf(text);
      if (Number(id.slice(2)) % 3 !== 0 || failedOnce.has(id)) return undefined;
      failedOnce.add(id);
      return { status: 503, code: 'ServerBusy' };
    };
    const outcome = await sendBatchWithRetry({ transport, messages: messages(100), policy: { maxAttempts: 3, baseMs: 1, maxMs: 5 } });
    expect(outcome.unsent).toEqual([]);
    expect(outcome.acknowledged).toHaveLength(100);
    expect(received.map(taskIdOf).sort()).toEqual(
      messages(100)
        .map((m) => m.taskId)
        .sort(),
    );
  });

  it('keeps requests in flight under the global bound across concurrent batches', async () => {
    const transport = await createStorageQueueProducer(config(), { maxInFlight: 16 });
    const reports = await Promise.all([0, 1, 2].map((b) => transport.send(messages(100, b * 100))));
    expect(reports.flatMap((r) => r.acknowledged)).toHaveLength(300);
    expect(maxActive).toBeLessThanOrEqual(16);
    expect(maxActive).toBeGreaterThan(1);
  });

  it('never puts the account key into an error, whatever the service echoes', async () => {
    const transport = await createStorageQueueProducer(config());
    onSend = () => ({ status: 400, code: 'InvalidInput', message: `scripted AccountKey=${DEV_KEY} sig=abc%2Bdef` });
    const report = await transport.send(messages(1));
    expect(report.error).toMatchObject({ retryable: false });
    expect(report.error!.message).not.toContain(DEV_KEY);
    expect(report.error!.message).not.toContain('abc%2Bdef');
    expect(report.error!.message).toContain('AccountKey=[redacted]');
  });
});

describe('storage-queue preflight', () => {
  it('lets an identity that may only send pass (it cannot read queue properties)', async () => {
    onPreflight = () => ({ status: 403, code: 'AuthorizationPermissionMismatch' });
    const transport = await createStorageQueueProducer(config());
    expect(transport.target).toBe('storage queue scripted-queue in account devstoreaccount1');
    expect((await transport.send(messages(2))).acknowledged).toHaveLength(2);
  });

  it('reports an unreachable service as a dependency error naming the queue', async () => {
    const unreachable = config({ connectionString: config().connectionString!.replace(`:${port}/`, ':1/') });
    const err = await createStorageQueueProducer(unreachable).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ code: 'STORAGE_UNREACHABLE' });
    expect((err as Error).message).toContain('storage queue scripted-queue in account devstoreaccount1');
  });

  it('gives up on a service that never answers within the request timeout', async () => {
    onPreflight = () => 'hang';
    const err = await createStorageQueueProducer(config(), { requestTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORAGE_UNREACHABLE' });
  });

  it('rejects an invalid queue name as input', async () => {
    const err = await createStorageQueueProducer(config({ queue: 'Bad_Name' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain('GEO_STORAGE_QUEUE');
  });
});
