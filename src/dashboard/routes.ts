import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { jobStatus, jobStatusJson } from '../core/job-status.js';
import { loadJob } from '../core/jobs.js';
import { InputError } from '../errors.js';
import { TASK_STATUSES } from '../statuses.js';
import type { JobRow } from '../store/jobs.js';
import type { Pool } from '../store/pool.js';
import { availableActions, type DashboardActions, isActionName, parseActionBody } from './actions.js';
import type { Assets } from './assets.js';
import { sameOriginWrite } from './auth.js';
import type { ChangeHub } from './events.js';
import { PAGE_SECURITY_HEADERS, type Redact, readJsonBody, sendJson, sendText } from './http.js';
import { problemsDocument, taskDocument, throughputDocument } from './job-details.js';
import { jobsDocument, parseJobsQuery } from './jobs-list.js';
import { mapDocument, parseTilesQuery, writeTiles } from './tiles.js';

export interface RouteDeps {
  db: Pool;
  assets: Assets;
  hub: ChangeHub;
  metrics: Registry;
  redact: Redact;
  allowActions: boolean;
  actions: DashboardActions;
  version: string;
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The path's captures, in order. */
  params: string[];
  deps: RouteDeps;
}

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handle(request: Request): Promise<void>;
}

const JOB = '([0-9A-Fa-f]{8,64})';

/** Every route of the dashboard: the page, its assets, the JSON API, events and metrics (docs/dashboard.md). */
export const ROUTES: Route[] = [
  { method: 'GET', pattern: /^\/$/, handle: page },
  { method: 'GET', pattern: new RegExp(`^/jobs/${JOB}$`), handle: page },
  { method: 'GET', pattern: /^\/assets\/[\w.-]+$/, handle: asset },
  { method: 'GET', pattern: /^\/favicon\.ico$/, handle: ({ deps, res }) => serveAsset(deps.assets, '/assets/favicon.svg', res) },
  {
    method: 'GET',
    pattern: /^\/api\/dashboard$/,
    handle: async ({ res, deps }) =>
      sendJson(res, 200, { version: deps.version, actions: availableActions(deps.allowActions, deps.actions), taskStatuses: TASK_STATUSES }, deps.redact),
  },
  {
    method: 'GET',
    pattern: /^\/api\/jobs$/,
    handle: async ({ res, url, deps }) => sendJson(res, 200, await jobsDocument(deps.db, parseJobsQuery(url.searchParams)), deps.redact),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/api/jobs/${JOB}$`),
    handle: async ({ res, params, deps }) => sendJson(res, 200, jobStatusJson(await jobStatus(deps.db, await job(deps, params[0]!))), deps.redact),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/api/jobs/${JOB}/throughput$`),
    handle: async ({ res, url, params, deps }) =>
      sendJson(res, 200, await throughputDocument(deps.db, await job(deps, params[0]!), url.searchParams), deps.redact),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/api/jobs/${JOB}/problems$`),
    handle: async ({ res, params, deps }) => sendJson(res, 200, await problemsDocument(deps.db, await job(deps, params[0]!)), deps.redact),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/api/jobs/${JOB}/tasks/([^/]+)$`),
    handle: async ({ res, params, deps }) =>
      sendJson(res, 200, await taskDocument(deps.db, await job(deps, params[0]!), decodeURIComponent(params[1]!)), deps.redact),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/api/jobs/${JOB}/map$`),
    handle: async ({ res, params, deps }) => sendJson(res, 200, await mapDocument(deps.db, await job(deps, params[0]!)), deps.redact),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/api/jobs/${JOB}/tiles$`),
    handle: async ({ res, url, params, deps }) => {
      const query = parseTilesQuery(url.searchParams);
      await writeTiles(deps.db, await job(deps, params[0]!), query, res);
    },
  },
  {
    method: 'GET',
    pattern: /^\/api\/events$/,
    handle: async ({ req, res, url, deps }) => {
      const jobParam = url.searchParams.get('job');
      const jobId = jobParam ? (await loadJob(deps.db, jobParam)).jobId : undefined;
      deps.hub.subscribe(req, res, jobId);
    },
  },
  { method: 'POST', pattern: new RegExp(`^/api/jobs/${JOB}/actions/([a-z-]+)$`), handle: action },
  {
    method: 'GET',
    pattern: /^\/metrics$/,
    handle: async ({ res, deps }) => sendText(res, 200, deps.redact(await deps.metrics.metrics()), deps.metrics.contentType),
  },
];

async function job(deps: RouteDeps, id: string): Promise<JobRow> {
  return loadJob(deps.db, id);
}

async function page({ res, deps }: Request): Promise<void> {
  const asset = await deps.assets.page();
  sendText(res, 200, asset.body.toString('utf8'), asset.contentType, PAGE_SECURITY_HEADERS);
}

async function asset({ res, url, deps }: Request): Promise<void> {
  await serveAsset(deps.assets, url.pathname, res);
}

async function serveAsset(assets: Assets, path: string, res: ServerResponse): Promise<void> {
  const found = assets.get(path);
  if (!found) throw new InputError('NOT_FOUND', `no asset ${path}`);
  const { body, contentType } = await found;
  res.writeHead(200, { 'content-type': contentType, 'content-length': body.length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

/**
 * An action on a job: only with --allow-actions and when the core has it
 * (otherwise 404, as if the route did not exist), only from the page's own
 * origin as JSON, and only with the job confirmed by its full id.
 */
async function action({ req, res, params, deps }: Request): Promise<void> {
  const name = params[1]!;
  if (!isActionName(name) || !availableActions(deps.allowActions, deps.actions).includes(name)) {
    throw new InputError('ACTION_NOT_AVAILABLE', `no action ${name} here (actions need --allow-actions and a geo that has them)`);
  }
  if (!sameOriginWrite(req)) throw new InputError('INVALID_QUERY', 'an action must be sent as application/json from the dashboard itself');
  const target = await job(deps, params[0]!);
  const { reason } = parseActionBody(await readJsonBody(req), target.jobId);
  const result = await deps.actions[name]!({ jobId: target.jobId, reason });
  sendJson(res, 200, { action: name, jobId: target.jobId, result }, deps.redact);
}
