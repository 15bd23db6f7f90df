import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface DelayProxy {
  /** Where clients connect instead of the target (loopback). */
  host: string;
  port: number;
  /** What one request/response exchange through the proxy costs on top of the direct path. */
  roundTripMs: number;
  /** Stops listening and cuts every connection. */
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy that makes a local server look like a remote one: it
 * forwards every byte to `target` and holds each chunk for half of
 * `roundTripMs` in each direction, so one request/response exchange (a
 * PostgreSQL statement, an AMQP transfer and its disposition, an HTTP
 * request) costs `roundTripMs` more, while the bytes, their order and the
 * connection's life stay as they were. Like a real long link it adds delay,
 * not a bandwidth limit.
 */
export async function startDelayProxy(params: { targetHost: string; targetPort: number; roundTripMs: number }): Promise<DelayProxy> {
  const oneWayMs = params.roundTripMs / 2;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ host: params.targetHost, port: params.targetPort, allowHalfOpen: true, noDelay: true });
    track(client);
    track(upstream);
    delayedPipe(client, upstream, oneWayMs);
    delayedPipe(upstream, client, oneWayMs);
    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    // Once one side is gone, the other follows after what is in flight toward it has arrived.
    const settle = (other: net.Socket) => () => setTimeout(() => other.destroy(), oneWayMs + 50).unref();
    client.once('close', settle(upstream));
    upstream.once('close', settle(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    roundTripMs: params.roundTripMs,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/**
 * Forwards `from` to `to`, each chunk `delayMs` after it arrived. One timer
 * per direction over a FIFO keeps the order exact even when timers fire
 * late. Backpressure pauses the source.
 */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number): void {
  const queue: Array<{ due: number; chunk: Buffer | null }> = [];
  let flushScheduled = false;
  let waitingForDrain = false;

  const flush = () => {
    flushScheduled = false;
    const now = performance.now();
    // Timers run in whole milliseconds; a chunk due within half of one goes now.
    while (queue.length > 0 && queue[0]!.due <= now + 0.5) {
      const { chunk } = queue.shift()!;
      if (to.destroyed) return;
      if (chunk === null) {
        to.end();
        continue;
      }
      if (!to.write(chunk) && !waitingForDrain) {
        waitingForDrain = true;
        from.pause();
        to.once('drain', () => {
          waitingForDrain = false;
          from.resume();
        });
      }
    }
    if (queue.length > 0) schedule(queue[0]!.due - now);
  };

  const schedule = (inMs: number) => {
    flushScheduled = true;
    setTimeout(flush, Math.max(1, Math.round(inMs)));
  };

  const push = (chunk: Buffer | null) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    if (!flushScheduled) schedule(delayMs);
  };
  from.on('data', (chunk: Buffer) => push(chunk));
  from.on('end', () => push(null));
}
