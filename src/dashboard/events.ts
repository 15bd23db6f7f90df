import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BackoffPolicy, backoffDelay } from '../concurrency/backoff.js';
import { errorMessage } from '../errors.js';
import { type ChangeListener, type ChangeNotification, changesListen, type DashboardChannel } from '../store/dashboard-listen.js';
import type { Pool } from '../store/pool.js';
import { commonHeaders, type Redact } from './http.js';

/** The SSE event name of each channel (docs/dashboard.md, "Events"). */
const EVENT_NAMES: Record<DashboardChannel, string> = {
  geo_progress: 'progress',
  geo_stage_completed: 'stage-completed',
  geo_stage_changed: 'stage',
  geo_job_changed: 'job',
};

/** A comment line this often keeps proxies and browsers from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
/** A client this far behind is cut off (it reconnects and reloads) rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1_048_576;
const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 10_000, jitter: 'none' };
/**
 * The database sends `geo_progress` at most once a second per stage, on the
 * first completions of each second (geo_stage_finish): completions later in
 * that second send nothing. So each one heard is sent again this long after
 * the last, when those completions have committed; a client that connected
 * after the first, or missed it, still reads them.
 */
const PROGRESS_TRAILING_MS = 1_500;

interface Client {
  res: ServerResponse;
  /** Only this job's events; all when unset. */
  jobId?: string;
}

/**
 * Server-sent events driven by PostgreSQL NOTIFY: one LISTEN connection for
 * the whole dashboard, each notification passed on to the pages that follow
 * its job. No table is read to find changes. When the LISTEN connection is
 * lost, a new one is opened (with backoff) and every page is told to `reset`
 * (reload what it shows), since changes in between were not heard.
 */
export class ChangeHub {
  private readonly clients = new Set<Client>();
  private listener?: ChangeListener;
  private heartbeat?: NodeJS.Timeout;
  private reconnect?: NodeJS.Timeout;
  private closed = false;
  private failedReconnects = 0;
  /** The trailing `progress` of each stage that had one lately, by `<jobId>:<stage>`. */
  private readonly trailing = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly pool: Pool,
    private readonly redact: Redact,
    private readonly onNotice: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    this.listener = await changesListen(
      this.pool,
      (change) => this.publish(change),
      (err) => this.lost(err),
    );
    this.heartbeat = setInterval(() => this.broadcast(': ping\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Starts an event stream on `res` for one job's events, or every job's. */
  subscribe(req: IncomingMessage, res: ServerResponse, jobId: string | undefined): void {
    res.writeHead(200, {
      ...commonHeaders(),
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      // A reverse proxy must pass events on as they come.
      'x-accel-buffering': 'no',
    });
    const client: Client = { res, jobId };
    this.clients.add(client);
    res.write(`retry: 2000\nevent: ready\ndata: ${JSON.stringify({ jobId: jobId ?? null })}\n\n`);
    const drop = () => this.clients.delete(client);
    req.on('close', drop);
    res.on('close', drop);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnect);
    for (const timer of this.trailing.values()) clearTimeout(timer);
    this.trailing.clear();
    for (const client of this.clients) client.res.end();
    this.clients.clear();
    await this.listener?.close();
  }

  private publish(change: ChangeNotification): void {
    this.send(change);
    if (change.channel !== 'geo_progress') return;
    const key = `${change.jobId}:${change.stage}`;
    clearTimeout(this.trailing.get(key));
    const timer = setTimeout(() => {
      this.trailing.delete(key);
      this.send(change);
    }, PROGRESS_TRAILING_MS);
    timer.unref();
    this.trailing.set(key, timer);
  }

  private send(change: ChangeNotification): void {
    const data = { jobId: change.jobId, ...(change.stage === undefined ? {} : { stage: change.stage }) };
    const message = `event: ${EVENT_NAMES[change.channel]}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of this.clients) {
      if (client.jobId === undefined || client.jobId === change.jobId) this.write(client, message);
    }
  }

  private broadcast(message: string): void {
    for (const client of this.clients) this.write(client, message);
  }

  private write(client: Client, message: string): void {
    if (client.res.writableLength > MAX_BUFFERED_BYTES) {
      this.clients.delete(client);
      client.res.destroy();
      return;
    }
    client.res.write(message);
  }

  private lost(err: Error): void {
    if (this.closed) return;
    this.onNotice(`lost the LISTEN connection (${this.redact(errorMessage(err))}); reconnecting`);
    const old = this.listener;
    this.listener = undefined;
    void old?.close().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.reconnect = setTimeout(
      async () => {
        try {
          this.listener = await changesListen(
            this.pool,
            (change) => this.publish(change),
            (err) => this.lost(err),
          );
          this.failedReconnects = 0;
          // Whatever changed while nobody listened was not heard: every page reloads.
          this.broadcast(`event: reset\ndata: {}\n\n`);
        } catch {
          this.failedReconnects++;
          this.scheduleReconnect();
        }
      },
      backoffDelay(this.failedReconnects + 1, RECONNECT_BACKOFF),
    );
    this.reconnect.unref();
  }
}
