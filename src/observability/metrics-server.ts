import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage, InputError } from '../errors.js';

export interface MetricsServer {
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves a registry at GET /metrics over node:http (nothing else: any other
 * path is 404, any other method 405). A scrape that fails (the database, for
 * the backlog) answers 500 with the reason, redacted.
 */
export async function serveMetrics(params: {
  registry: Registry;
  host: string;
  /** 0 picks a free port. */
  port: number;
  redact: (text: string) => string;
  onError: (message: string) => void;
}): Promise<MetricsServer> {
  const { registry } = params;
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics.invalid').pathname;
    if (path !== '/metrics') return answer(res, 404, 'not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'GET /metrics\n', { allow: 'GET, HEAD' });
    registry.metrics().then(
      (text) => answer(res, 200, text, { 'content-type': registry.contentType }),
      (err: unknown) => {
        const message = params.redact(errorMessage(err));
        params.onError(`metrics scrape failed: ${message}`);
        answer(res, 500, `${message}\n`);
      },
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(params.port, params.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const where = `${params.host}:${params.port}`;
    if (code === 'EADDRINUSE') {
      throw new InputError('METRICS_ADDRESS_IN_USE', `${where} is already in use; pick another --metrics-port (0 takes a free one)`, { cause: err });
    }
    throw new InputError('METRICS_LISTEN_FAILED', `cannot serve metrics on ${where}: ${errorMessage(err)}`, { cause: err });
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    port: address.port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answer(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(body);
}
