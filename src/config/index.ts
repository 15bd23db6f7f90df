import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.js';
import { listNames, TRANSPORT_NAMES, type TransportName } from '../transports/names.js';
import { FieldReader, isUrl, show } from './fields.js';

export { TRANSPORT_NAMES, type TransportName } from '../transports/names.js';
export const LOG_FORMATS = ['human', 'json'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface GeoConfig {
  databaseUrl?: string;
  home: string;
  /** Unset: the default transport (DEFAULT_TRANSPORT) for new jobs, the job's own transport for existing ones. */
  transport?: TransportName;
  leaseSeconds: number;
  verbose: boolean;
  /**
   * Test-only failpoint (GEO_TEST_PAUSE_AT=phase[:n]): the n-th time a
   * dispatch reaches that protocol phase, geo says so on stderr and waits to be
   * killed. The crash tests use it to kill at a known phase.
   */
  testPauseAt?: { phase: 'written' | 'sent' | 'resumed'; occurrence: number };
  servicebus: { connectionString?: string; namespace?: string; queue: string; timeoutMs: number };
  /**
   * Required of every dashboard request when set, and to serve the dashboard
   * on anything but loopback (`geo dashboard --host`).
   */
  dashboardToken?: string;
  /** The log lines of `geo work` and `geo dashboard` (docs/observability.md). */
  log: { format: LogFormat; level: LogLevel };
  /**
   * Where traces go over OTLP/HTTP (the standard OpenTelemetry variables):
   * tracing is on only when set. The exporter reads the rest of the OTEL_*
   * variables itself.
   */
  otlp: { endpoint?: string; protocol?: 'http/json' | 'http/protobuf' };
  storage: {
    connectionString?: string;
    accountUrl?: string;
    queue: string;
    /** Create the queue when it does not exist (otherwise that is an error naming it). */
    createQueue: boolean;
    /** base64 is what the Azure Functions queue trigger expects by default. */
    messageEncoding: 'base64' | 'text';
    /** Bounds every Storage Queue request; one that runs out is a retryable error. */
    timeoutMs: number;
  };
}

const TIMEOUT_BOUNDS = { min: 100, max: 600_000 };
const OTLP_PROTOCOLS = ['http/json', 'http/protobuf'] as const;
const POSTGRES_PROTOCOLS = ['postgres:', 'postgresql:'];
const POSTGRES_URL_MESSAGE = 'must be a postgres:// or postgresql:// URL with a host, e.g. postgresql://user@host:5432/db';
const PAUSE_POINT = /^(written|sent|resumed)(:[1-9]\d*)?$/;

/** Flags that override the environment; only flags actually given count. */
export interface ConfigFlags {
  databaseUrl?: string;
  transport?: string;
  verbose?: boolean;
  createQueue?: boolean;
  messageEncoding?: string;
  logFormat?: string;
  logLevel?: string;
}

export type Env = Record<string, string | undefined>;

/**
 * Defaults, then environment, then flags, each value checked where it is
 * read; every problem is reported at once, named as the user gave it (the
 * flag when one was given, else the variable). The result is the only place
 * below the CLI where configuration comes from.
 */
export function loadConfig(env: Env, flags: ConfigFlags = {}): GeoConfig {
  const read = new FieldReader();
  const named = (flag: string, variable: string, given: unknown) => (given !== undefined ? flag : variable);
  const config: GeoConfig = {
    databaseUrl: read
      .checked(
        named('--database-url', 'DATABASE_URL', flags.databaseUrl),
        flags.databaseUrl ?? env.DATABASE_URL,
        (v) => isUrl(v.trim(), POSTGRES_PROTOCOLS),
        POSTGRES_URL_MESSAGE,
      )
      ?.trim(),
    home: read.text(env.GEO_HOME) ?? path.join(os.homedir(), '.geo'),
    transport: read.oneOf(
      named('--transport', 'GEO_TRANSPORT', flags.transport),
      flags.transport ?? env.GEO_TRANSPORT,
      TRANSPORT_NAMES,
      (given) => `unknown transport ${show(given)}: use ${listNames(TRANSPORT_NAMES)}`,
    ),
    leaseSeconds: read.integer('GEO_LEASE_SECONDS', env.GEO_LEASE_SECONDS, 60, { min: 1, max: 86_400 }),
    verbose: flags.verbose ?? false,
    testPauseAt: pausePoint(
      read.checked('GEO_TEST_PAUSE_AT', env.GEO_TEST_PAUSE_AT, (v) => PAUSE_POINT.test(v), 'takes written, sent or resumed, optionally :N'),
    ),
    servicebus: {
      connectionString: read.text(env.GEO_SERVICEBUS_CONNECTION_STRING),
      namespace: read.text(env.GEO_SERVICEBUS_NAMESPACE),
      queue: read.text(env.GEO_SERVICEBUS_QUEUE) ?? 'geo-tasks',
      timeoutMs: read.integer('GEO_SERVICEBUS_TIMEOUT_MS', env.GEO_SERVICEBUS_TIMEOUT_MS, 30_000, TIMEOUT_BOUNDS),
    },
    dashboardToken: read.checked(
      'GEO_DASHBOARD_TOKEN',
      env.GEO_DASHBOARD_TOKEN,
      (v) => v.length >= 16,
      'must be at least 16 characters (for example: openssl rand -hex 24)',
    ),
    log: {
      format:
        read.oneOf(named('--log-format', 'GEO_LOG_FORMAT', flags.logFormat), flags.logFormat ?? env.GEO_LOG_FORMAT, LOG_FORMATS, mustBe(LOG_FORMATS)) ??
        'human',
      level: read.oneOf(named('--log-level', 'GEO_LOG_LEVEL', flags.logLevel), flags.logLevel ?? env.GEO_LOG_LEVEL, LOG_LEVELS, mustBe(LOG_LEVELS)) ?? 'info',
    },
    otlp: tracingDisabled(env) ? {} : otlpConfig(read, env),
    storage: {
      connectionString: read.text(env.GEO_STORAGE_CONNECTION_STRING),
      accountUrl: read.checked(
        'GEO_STORAGE_ACCOUNT_URL',
        env.GEO_STORAGE_ACCOUNT_URL,
        (v) => isUrl(v),
        'must be a URL such as https://<account>.queue.core.windows.net',
      ),
      queue: read.text(env.GEO_STORAGE_QUEUE) ?? 'geo-tasks',
      createQueue: flags.createQueue ?? false,
      messageEncoding:
        read.oneOf(
          named('--message-encoding', 'GEO_STORAGE_MESSAGE_ENCODING', flags.messageEncoding),
          flags.messageEncoding ?? env.GEO_STORAGE_MESSAGE_ENCODING,
          MESSAGE_ENCODINGS,
          mustBe(MESSAGE_ENCODINGS),
        ) ?? 'base64',
      timeoutMs: read.integer('GEO_STORAGE_TIMEOUT_MS', env.GEO_STORAGE_TIMEOUT_MS, 30_000, TIMEOUT_BOUNDS),
    },
  };
  if (read.problems.length > 0) throw new InputError('CONFIG_INVALID', read.problems.join('\n'));
  return config;
}

const MESSAGE_ENCODINGS = ['base64', 'text'] as const;

function mustBe(allowed: readonly string[]): (given: string) => string {
  return (given) => `must be ${listNames(allowed)} (got ${show(given)})`;
}

/** The trace variables; the signal's own (…_TRACES_…) wins over the general one, and is the one an error names. */
function otlpConfig(read: FieldReader, env: Env): GeoConfig['otlp'] {
  const tracesEndpoint = read.text(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const tracesProtocol = read.text(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL);
  return {
    endpoint: read.checked(
      tracesEndpoint ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT',
      tracesEndpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT,
      (v) => isUrl(v),
      'must be a URL such as http://localhost:4318',
    ),
    protocol: read.oneOf(
      tracesProtocol ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL',
      tracesProtocol ?? env.OTEL_EXPORTER_OTLP_PROTOCOL,
      OTLP_PROTOCOLS,
      (given) => `geo exports traces over OTLP/HTTP: use http/json (or http/protobuf, whose endpoint takes JSON too), not ${show(given)}`,
    ),
  };
}

function pausePoint(value: string | undefined): GeoConfig['testPauseAt'] {
  if (value === undefined) return undefined;
  const [phase, occurrence] = value.split(':');
  return { phase: phase as 'written' | 'sent' | 'resumed', occurrence: Number(occurrence ?? 1) };
}

/** OpenTelemetry's own switches: the SDK disabled, or no trace exporter. */
function tracingDisabled(env: Env): boolean {
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none';
}
