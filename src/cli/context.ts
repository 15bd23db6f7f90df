import { type Destination, describeDestination } from '../config/destinations.js';
import { type GeoConfig, loadConfig } from '../config/index.js';
import type { TransportResolver } from '../core/protocol/job-transport.js';
import { type Session, startSession } from '../core/session.js';
import { redactor, urlSecrets } from '../secrets/redact.js';
import { openStore } from '../store/index.js';
import type { Pool } from '../store/pool.js';
import { configForDestination, createProducer, DEFAULT_TRANSPORT, destinationOf, type TransportName, type TransportProducer } from '../transports/index.js';
import { Output } from './output.js';

export interface GlobalOptions {
  json?: boolean;
  wide?: boolean;
  verbose?: boolean;
  databaseUrl?: string;
  transport?: string;
  createQueue?: boolean;
  messageEncoding?: string;
  logFormat?: string;
  logLevel?: string;
}

/**
 * What one command run holds: configuration, output, and the resources it
 * opened (closed in `close`, whatever happened).
 */
export class CommandContext {
  private pool?: Pool;
  private started?: Promise<Session>;
  private readonly transports: TransportProducer[] = [];
  private readonly byDestination = new Map<string, Promise<TransportProducer>>();
  private readonly deferred: Array<() => Promise<void>> = [];
  private redactKnown?: (text: string) => string;

  constructor(
    readonly config: GeoConfig,
    readonly output: Output,
  ) {}

  static create(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): CommandContext {
    const output = new Output(options.json ?? false, options.wide ?? false);
    const config = loadConfig(env, {
      databaseUrl: options.databaseUrl,
      transport: options.transport,
      verbose: options.verbose,
      createQueue: options.createQueue,
      messageEncoding: options.messageEncoding,
      logFormat: options.logFormat,
      logLevel: options.logLevel,
    });
    return new CommandContext(config, output);
  }

  async store(poolSize = 10): Promise<Pool> {
    this.pool ??= await openStore({
      databaseUrl: this.config.databaseUrl,
      home: this.config.home,
      // One more for the session's connection, which commands that claim keep for their life.
      poolSize: poolSize + 1,
      onNotice: (message) => this.output.notice(message),
    });
    // The database's password (the embedded server's too) is known now.
    this.redactKnown = undefined;
    return this.pool;
  }

  /**
   * This process's session (core/session.ts), started on first use: every
   * command that claims work (submit, queue-stage, retry-pending, work) names
   * it in its claims, so its death frees them at once.
   */
  async session(command: string, worker?: string): Promise<Session> {
    const pool = await this.store();
    this.started ??= startSession(pool, { command, worker });
    return this.started;
  }

  /** The transport configured for new jobs (--transport, GEO_TRANSPORT), else the default. */
  get transportName(): TransportName {
    return this.config.transport ?? DEFAULT_TRANSPORT;
  }

  async transport(name: TransportName = this.transportName): Promise<TransportProducer> {
    const transport = await createProducer(name, this.config);
    this.transports.push(transport);
    return transport;
  }

  /** Where `name`'s messages go with this configuration (recorded with new jobs). */
  destination(name: TransportName): Destination {
    return destinationOf(name, this.config);
  }

  /**
   * Opens the transport for a job's recorded destination (once per
   * destination), with credentials from this configuration.
   */
  readonly transportFor: TransportResolver = (target) => {
    const destination = target.destination ?? destinationOf(target.transport, this.config);
    const key = `${target.transport} ${describeDestination(destination)}`;
    let opened = this.byDestination.get(key);
    if (!opened) {
      opened = (async () => {
        const transport = await createProducer(target.transport, configForDestination(destination, this.config));
        this.transports.push(transport);
        return transport;
      })();
      // A failed open is not cached: the error is the caller's to report, and a later call may try again.
      opened.catch(() => this.byDestination.delete(key));
      this.byDestination.set(key, opened);
    }
    return opened;
  };

  /**
   * Every secret this run knows, for redaction: connection strings and keys
   * from configuration (and the passwords in them), the dashboard token, the
   * database's password (the embedded server's too, once connected).
   */
  secrets(): string[] {
    const c = this.config;
    const whole = [c.databaseUrl, c.servicebus.connectionString, c.storage.connectionString, c.dashboardToken].flatMap((s) => (s ? [s, ...urlSecrets(s)] : []));
    const password = (this.pool?.options as { password?: unknown } | undefined)?.password;
    return [...whole, ...(c.otlp.endpoint ? urlSecrets(c.otlp.endpoint) : []), ...(typeof password === 'string' && password ? [password] : [])];
  }

  /** Removes every secret this run knows from a text. */
  readonly redact = (text: string): string => {
    this.redactKnown ??= redactor(this.secrets());
    return this.redactKnown(text);
  };

  /** Runs `fn` when the command ends, before its transports and database close (last deferred first). */
  defer(fn: () => Promise<void>): void {
    this.deferred.unshift(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.deferred.splice(0)) await fn().catch(() => undefined);
    await Promise.allSettled(this.transports.map((t) => t.close()));
    // A session that cannot end cleanly (the database went away) ends with its connection anyway.
    await this.started?.then((s) => s.close()).catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
  }
}

export async function withContext<T>(options: GlobalOptions, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = CommandContext.create(options);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
