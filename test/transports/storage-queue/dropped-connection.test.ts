import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { GeoError } from '../../../src/errors.js';
import { createStorageQueueConsumer } from '../../../src/transports/storage-queue-consumer.js';
import type { TransportConsumer } from '../../../src/transports/transport.js';
import { type Azurite, DEV_ACCOUNT, DEV_KEY, queueClientFor, startAzurite } from '../../support/azurite.js';
import { receiveAll } from '../support/harness.js';

/**
 * A TCP proxy in front of Azurite that can do to kept-alive connections what
 * a service's keep-alive timeout does while the client is busy: the client
 * has not seen them closed, so its next request on one goes nowhere.
 */
interface DroppingProxy {
  port: number;
  /** Every connection open now drops the next request sent on it (reset, nothing forwarded); returns how many there are. */
  staleAll(): number;
  /** The next answer Azurite gives is not returned (the connection is reset after Azurite acted). */
  dropNextAnswer(): void;
  /** Requests and answers dropped so far. */
  dropped: number;
  close(): Promise<void>;
}

async function startDroppingProxy(targetPort: number): Promise<DroppingProxy> {
  let dropAnswer = false;
  const connections = new Map<net.Socket, { stale: boolean }>();
  const sockets = new Set<net.Socket>();
  const proxy = {
    port: 0,
    dropped: 0,
    staleAll() {
      for (const c of connections.values()) c.stale = true;
      return connections.size;
    },
    dropNextAnswer() {
      dropAnswer = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const state = { stale: false };
    connections.set(client, state);
    client.on('close', () => connections.delete(client));
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const cut = () => {
      proxy.dropped++;
      connections.delete(client);
      upstream.destroy();
      client.resetAndDestroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (state.stale) return cut();
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (dropAnswer) {
        dropAnswer = false;
        return cut();
      }
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}

let azurite: Azurite;
let proxy: DroppingProxy;
let consumer: TransportConsumer;
let queueNo = 0;
let queue: string;

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startDroppingProxy(azurite.port);
});

afterAll(async () => {
  await consumer?.close();
  await proxy?.close();
  await azurite?.dispose();
});

beforeEach(async () => {
  await consumer?.close();
  queue = `dropped-${++queueNo}`;
  const endpoint = `http://127.0.0.1:${proxy.port}/${DEV_ACCOUNT}`;
  const config = loadConfig({
    GEO_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};QueueEndpoint=${endpoint};`,
    GEO_STORAGE_QUEUE: queue,
    GEO_STORAGE_MESSAGE_ENCODING: 'text',
    GEO_STORAGE_TIMEOUT_MS: '10000',
  });
  consumer = await createStorageQueueConsumer({ ...config.storage, createQueue: true }, { worker: 'dropped', leaseSeconds: 30, jobTypes: [] });
});

async function receiveOne() {
  await queueClientFor(azurite, queue).sendMessage(JSON.stringify({ body: 'not a task' }));
  const [m] = await receiveAll(consumer, 1);
  return m!;
}

/** Every message on the queue, hidden or not (Azurite's approximate count is exact). */
async function onQueue(): Promise<number> {
  return (await queueClientFor(azurite, queue).getProperties()).approximateMessagesCount ?? -1;
}

describe('Storage Queue connections the service dropped between requests', () => {
  it('a delete sent on them goes out again until a live connection takes it, and removes the message', async () => {
    const m = await receiveOne();
    const other = await receiveOne();
    // Two requests at once: the consumer keeps two connections open.
    await Promise.all([consumer.renew(m), consumer.renew(other)]);
    expect(proxy.staleAll(), 'the connections kept open').toBe(2);
    const before = proxy.dropped;
    await consumer.complete(m);
    expect(proxy.dropped - before, 'the delete went out on both dropped connections first').toBe(2);
    expect(await onQueue()).toBe(1);
  });

  it('a renew sent on one goes out again and keeps the message hidden under a new pop receipt', async () => {
    const m = await receiveOne();
    const receipt = m.receipt;
    expect(proxy.staleAll()).toBeGreaterThanOrEqual(1);
    const before = proxy.dropped;
    const until = await consumer.renew(m);
    expect(proxy.dropped - before).toBeGreaterThanOrEqual(1);
    expect(m.receipt).not.toBe(receipt);
    expect(until.getTime()).toBeGreaterThan(Date.now() + 20_000);
    await consumer.complete(m);
    expect(await onQueue()).toBe(0);
  });

  it('a delete whose answer was lost after the service took it reports a lost lock on the repeat, not a failure', async () => {
    const m = await receiveOne();
    const before = proxy.dropped;
    proxy.dropNextAnswer();
    const err = await consumer.complete(m).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(proxy.dropped - before, 'the answer to the delete was dropped').toBe(1);
    expect(err).toBeInstanceOf(GeoError);
    expect((err as GeoError).code).toBe('LOCK_LOST');
    expect(await onQueue()).toBe(0);
  });
});
