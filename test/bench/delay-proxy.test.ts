import crypto from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DelayProxy, startDelayProxy } from '../../src/bench/delay-proxy.js';

let echo: net.Server;
let echoPort: number;
const proxies: DelayProxy[] = [];

beforeAll(async () => {
  // Echoes every byte and ends when the client ends.
  echo = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
  echoPort = (echo.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

async function proxy(roundTripMs: number): Promise<DelayProxy> {
  const started = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: echoPort, roundTripMs });
  proxies.push(started);
  return started;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Median time of `count` one-byte request/response exchanges on one connection. */
async function medianRoundTrip(port: number, count = 15): Promise<number> {
  const socket = await connect(port);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write('x');
      await answered;
      times.push(performance.now() - started);
    }
  } finally {
    socket.destroy();
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

describe('the latency proxy', () => {
  it('adds the round-trip time it claims (within timer granularity)', async () => {
    const direct = await medianRoundTrip(echoPort);
    for (const claimed of [10, 40]) {
      const added = (await medianRoundTrip((await proxy(claimed)).port)) - direct;
      expect(added).toBeGreaterThanOrEqual(claimed - 1);
      expect(added).toBeLessThan(claimed + 8);
    }
  });

  it('forwards every byte in order, both ways, and passes the end of the stream on', async () => {
    const { port } = await proxy(4);
    const payload = crypto.randomBytes(2 * 1024 * 1024);
    const socket = await connect(port);
    const received: Buffer[] = [];
    const ended = new Promise<void>((resolve) => socket.on('end', () => resolve()));
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    for (let offset = 0; offset < payload.length; offset += 64 * 1024) socket.write(payload.subarray(offset, offset + 64 * 1024));
    socket.end();
    await ended;
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });

  it('cuts its connections when closed', async () => {
    const started = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: echoPort, roundTripMs: 2 });
    const socket = await connect(started.port);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    await started.close();
    await closed;
    await expect(connect(started.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
