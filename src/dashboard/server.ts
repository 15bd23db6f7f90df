import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, GeoError, InputError } from '../errors.js';
import { redactor, urlSecrets } from '../secrets/redact.js';
import type { Pool } from '../store/pool.js';
import type { DashboardActions } from './actions.js';
import { Assets } from './assets.js';
import { hostAllowed, isLoopbackHost, tokenAuth } from './auth.js';
import { ChangeHub } from './events.js';
import { sendBare, sendError } from './http.js';
import { dashboardMetrics } from './metrics.js';
import { ROUTES, type RouteDeps } from './routes.js';

export interface DashboardOptions {
  db: Pool;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** GEO_DASHBOARD_TOKEN: required of every request when set, and required off loopback. */
  token?: string;
  allowActions: boolean;
  actions: DashboardActions;
  /** Connection strings and keys no answer may contain (URL passwords are taken out of each). */
  secrets: Array<string | undefined>;
  version: string;
  /** Things an operator should know (a lost LISTEN connection, an internal error). */
  onNotice: (message: string) => void;
}

export interface Dashboard {
  /** Where it listens, e.g. http://127.0.0.1:8080/ (never with the token). */
  url: string;
  host: string;
  port: number;
  readOnly: boolean;
  close(): Promise<void>;
}

/**
 * Serves the dashboard: the page, its JSON API, server-sent events and
 * Prometheus metrics over node:http, on the pool every command uses. A host
 * other than loopback needs a token (refused before anything listens).
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  if (!isLoopbackHost(options.host) && options.token === undefined) {
    throw new InputError(
      'DASHBOARD_TOKEN_REQUIRED',
      `serving the dashboard on ${options.host} (not loopback) needs GEO_DASHBOARD_TOKEN: every request must then carry it`,
    );
  }
  const poolUrl = (options.db as unknown as { options?: { connectionString?: string } }).options?.connectionString;
  const secrets = [...options.secrets, poolUrl, options.token].flatMap((s) => (s ? [s, ...urlSecrets(s)] : []));
  const redact = redactor(secrets);
  const hub = new ChangeHub(options.db, redact, options.onNotice);
  await hub.start();
  const deps: RouteDeps = {
    db: options.db,
    assets: new Assets(),
    hub,
    metrics: dashboardMetrics(options.db, () => hub.clientCount),
    redact,
    allowActions: options.allowActions,
    actions: options.actions,
    version: options.version,
  };
  const auth = tokenAuth(options.token);
  const checkHost = options.token === undefined;
  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!(err instanceof GeoError)) options.onNotice(`dashboard: ${redact(errorMessage(err))}`);
      sendError(res, err, redact);
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    if (checkHost && !hostAllowed(req)) return sendBare(res, 403);
    const verdict = auth(req, url);
    if (!verdict.ok) return sendBare(res, 401, { 'www-authenticate': 'Bearer' });
    if (verdict.setCookie && req.method === 'GET' && !url.pathname.startsWith('/api/')) {
      // The first visit with ?token=: keep a session cookie and take the token out of the address bar.
      url.searchParams.delete('token');
      return sendBare(res, 303, { 'set-cookie': verdict.setCookie, location: url.pathname + url.search });
    }
    const matches = ROUTES.filter((r) => r.pattern.test(url.pathname));
    const route = matches.find((r) => r.method === req.method);
    if (!route) {
      if (matches.length > 0) throw new InputError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`);
      throw new InputError('NOT_FOUND', `no such page or API route: ${url.pathname}`);
    }
    const params = route.pattern.exec(url.pathname)!.slice(1);
    await route.handle({ req, res, url, params, deps });
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await hub.close();
    throw listenError(err, options.host, options.port);
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    host: address.address,
    port: address.port,
    readOnly: !options.allowActions,
    async close() {
      // Event streams never end by themselves: end them first, or close() waits forever.
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listenError(err: unknown, host: string, port: number): GeoError {
  const code = (err as { code?: string }).code;
  if (code === 'EADDRINUSE') {
    return new InputError('DASHBOARD_ADDRESS_IN_USE', `${host}:${port} is already in use; pick another --port (0 takes a free one)`, { cause: err });
  }
  return new InputError('DASHBOARD_LISTEN_FAILED', `cannot listen on ${host}:${port}: ${errorMessage(err)}`, { cause: err });
}
