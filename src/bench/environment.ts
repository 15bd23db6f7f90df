import crypto from 'node:crypto';
import type { GeoConfig, TransportName } from '../config/index.js';
import { GeoError, InputError } from '../errors.js';
import { benchSchemaCreate } from '../store/bench.js';
import { ensureEmbeddedServer } from '../store/embedded/server.js';
import { openStore } from '../store/index.js';
import { openPool, type Pool } from '../store/pool.js';
import { type QueueEmptier, transportKind } from '../transports/index.js';
import { startDelayProxy } from './delay-proxy.js';
import * as ep from './endpoints.js';
import type { BenchPath } from './run.js';

export interface BenchEnvironmentOptions {
  config: GeoConfig;
  paths: TransportName[];
  /** Skip paths that are not configured instead of failing (`--path all`). */
  skipUnconfigured: boolean;
  dbLatencyMs: number;
  queueLatencyMs: number;
  /** The bench queue; default `<configured queue>-bench`. */
  queue?: string;
  poolSize: number;
  onNotice?: (message: string) => void;
}

export interface BenchEnvironment {
  db: Pool;
  schema: string;
  nonce: string;
  paths: BenchPath[];
  /** Closes everything and drops the bench schema; reports whether it is gone. */
  close(): Promise<{ schemaDropped: boolean }>;
}

/**
 * Sets up what a bench runs on: a schema of its own in the configured
 * database, latency proxies in front of the database and the brokers when
 * asked, and one transport per path sending to the bench queue. Whatever
 * fails half-way, what was opened is closed again.
 */
export async function openBenchEnvironment(opts: BenchEnvironmentOptions): Promise<BenchEnvironment> {
  const { config } = opts;
  const undo: Array<() => Promise<unknown>> = [];
  const closeAll = async () => {
    const errors: unknown[] = [];
    for (const step of undo.reverse()) await step().catch((err: unknown) => errors.push(err));
    undo.length = 0;
    if (errors.length > 0) throw errors[0];
  };
  const proxied = async (flag: string, what: string, endpoint: ep.HostPort | undefined, ms: number) => {
    if (ms <= 0) return undefined;
    const target = ep.assertSimulable(flag, what, endpoint);
    const proxy = await startDelayProxy({ targetHost: target.host, targetPort: target.port, roundTripMs: ms });
    undo.push(() => proxy.close());
    return proxy;
  };
  try {
    const baseUrl = config.databaseUrl ?? (await ensureEmbeddedServer({ home: config.home, onNotice: opts.onNotice })).connectionString;
    const dbProxy = await proxied('--db-latency', 'PostgreSQL', ep.databaseEndpoint(baseUrl), opts.dbLatencyMs);
    const admin = await openPool({ connectionString: baseUrl, max: 2, applicationName: 'geo-bench' });
    undo.push(() => admin.end());
    const nonce = crypto.randomBytes(6).toString('hex');
    const schema = await benchSchemaCreate(admin, `geo_bench_${nonce}`);
    let schemaDropped = false;
    undo.push(async () => {
      await schema.drop();
      schemaDropped = true;
    });
    const benchUrl = ep.databaseUrlWithSchema(dbProxy ? ep.databaseUrlVia(baseUrl, dbProxy) : baseUrl, schema.name);
    const db = await openStore({ databaseUrl: benchUrl, home: config.home, poolSize: opts.poolSize });
    undo.push(() => db.end());

    const paths: BenchPath[] = [];
    for (const path of opts.paths) {
      const opened = await openPath(path, opts, proxied);
      if (opened.transport) undo.push(() => opened.transport!.close());
      if (opened.emptier) undo.push(() => opened.emptier!.close());
      paths.push(opened);
    }
    return {
      db,
      schema: schema.name,
      nonce,
      paths,
      async close() {
        await closeAll();
        return { schemaDropped };
      },
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}

type Proxied = (flag: string, what: string, endpoint: ep.HostPort | undefined, ms: number) => Promise<ep.HostPort | undefined>;

async function openPath(path: TransportName, opts: BenchEnvironmentOptions, proxied: Proxied): Promise<BenchPath & { emptier?: QueueEmptier }> {
  const { config } = opts;
  const kind = transportKind(path);
  // Without a queue of its own (the tasks are the messages) there is nothing to configure, proxy or empty.
  if (!kind.queue) return { path, transport: await kind.openProducer(config) };
  const own = kind.queue;
  if (!own.configured(config) && opts.skipUnconfigured) return { path, skipped: `not configured (${own.configuredBy})` };
  const queue = opts.queue ?? `${own.name(config)}-bench`;
  if (queue === own.name(config)) {
    throw new InputError(
      'BENCH_QUEUE_IS_TASK_QUEUE',
      `--queue ${queue} is the task queue consumers read; the bench needs a queue of its own, which it empties afterwards`,
    );
  }
  // Created when missing where the transport can: the bench queue holds nothing but bench messages.
  const direct = own.withQueue(config, queue, { create: true });
  const proxy = await proxied('--queue-latency', kind.title, own.endpoint(direct), opts.queueLatencyMs);
  // Emptied on the direct route: the latency proxy is for what is measured. It connects on first use.
  const emptier = await own.emptier(direct);
  try {
    const transport = await kind.openProducer(proxy ? own.via(direct, proxy) : direct);
    return { path, queue, transport, emptier, reset: (queued) => emptier.empty(queued) };
  } catch (err) {
    if (err instanceof GeoError && err.code === 'QUEUE_NOT_FOUND') {
      const hint = `the bench sends to a queue of its own: create ${kind.title} queue ${queue}, or name another with --queue`;
      throw new InputError('QUEUE_NOT_FOUND', hint, { cause: err });
    }
    throw err;
  }
}
