import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { listNames, TRANSPORT_NAMES } from '../transports/names.js';

export { TRANSPORT_NAMES, type TransportName } from '../transports/names.js';
export const LOG_FORMATS = ['human', 'json'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

const databaseUrl = z.string().trim().min(1).refine(isPostgresUrl, {
  message: 'must be a postgres:// or postgresql:// URL with a host, e.g. postgresql://user@host:5432/db',
});

const configSchema = z.object({
  databaseUrl: databaseUrl.optional(),
  home: z.string().min(1),
  /** Unset: the default transport (DEFAULT_TRANSPORT) for new jobs, the job's own transport for existing ones. */
  transport: z.enum(TRANSPORT_NAMES, { error: (issue) => `unknown transport ${show(issue.input)}: use ${listNames(TRANSPORT_NAMES)}` }).optional(),
  leaseSeconds: z.coerce.number().int().min(1).max(86_400),
  verbose: z.boolean(),
  /**
   * Test-only failpoint (GEO_TEST_PAUSE_AT=phase[:n]): the n-th time a
   * dispatch reaches that protocol phase, geo says so on stderr and waits to be
   * killed. The crash tests use it to kill at a known phase.
   */
  testPauseAt: z
    .string()
    .regex(/^(written|sent|resumed)(:[1-9]\d*)?$/, { error: 'takes written, sent or resumed, optionally :N' })
    .transform((v) => ({ phase: v.split(':')[0] as 'written' | 'sent' | 'resumed', occurrence: Number(v.split(':')[1] ?? 1) }))
    .optional(),
  servicebus: z.object({
    connectionString: z.string().min(1).optional(),
    namespace: z.string().min(1).optional(),
    queue: z.string().min(1),
    timeoutMs: z.coerce.number().int().min(100).max(600_000),
  }),
  /**
   * Required of every dashboard request when set, and to serve the dashboard
   * on anything but loopback (`geo dashboard --host`).
   */
  dashboardToken: z.string().min(16, { error: 'must be at least 16 characters (for example: openssl rand -hex 24)' }).optional(),
  /** The log lines of `geo work` and `geo dashboard` (docs/observability.md). */
  log: z.object({
    format: z.enum(LOG_FORMATS, { error: (issue) => `must be ${listNames(LOG_FORMATS)} (got ${show(issue.input)})` }),
    level: z.enum(LOG_LEVELS, { error: (issue) => `must be ${listNames(LOG_LEVELS)} (got ${show(issue.input)})` }),
  }),
  /**
   * Where traces go over OTLP/HTTP (the standard OpenTelemetry variables):
   * tracing is on only when set. The exporter reads the rest of the OTEL_*
   * variables itself.
   */
  otlp: z.object({
    endpoint: z.string().url({ error: 'must be a URL such as http://localhost:4318' }).optional(),
    protocol: z
      .enum(['http/json', 'http/protobuf'], {
        error: (issue) => `geo exports traces over OTLP/HTTP: use http/json (or http/protobuf, whose endpoint takes JSON too), not ${show(issue.input)}`,
      })
      .optional(),
  }),
  storage: z.object({
    connectionString: z.string().min(1).optional(),
    accountUrl: z.string().url().optional(),
    queue: z.string().min(1),
    /** Create the queue when it does not exist (otherwise that is an error naming it). */
    createQueue: z.boolean(),
    /** base64 is what the Azure Functions queue trigger expects by default. */
    messageEncoding: z.enum(['base64', 'text'], { error: (issue) => `must be base64 or text (got ${show(issue.input)})` }),
    /** Bounds every Storage Queue request; one that runs out is a retryable error. */
    timeoutMs: z.coerce.number().int().min(100).max(600_000),
  }),
});

export type GeoConfig = z.infer<typeof configSchema>;

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
 * Defaults, then environment, then flags, then one zod parse. The result is
 * the only place below the CLI where configuration comes from.
 */
export function loadConfig(env: Env, flags: ConfigFlags = {}): GeoConfig {
  const raw = {
    databaseUrl: flags.databaseUrl ?? blankToUndefined(env.DATABASE_URL),
    home: blankToUndefined(env.GEO_HOME) ?? path.join(os.homedir(), '.geo'),
    transport: flags.transport ?? blankToUndefined(env.GEO_TRANSPORT),
    leaseSeconds: blankToUndefined(env.GEO_LEASE_SECONDS) ?? 60,
    verbose: flags.verbose ?? false,
    testPauseAt: blankToUndefined(env.GEO_TEST_PAUSE_AT),
    servicebus: {
      connectionString: blankToUndefined(env.GEO_SERVICEBUS_CONNECTION_STRING),
      namespace: blankToUndefined(env.GEO_SERVICEBUS_NAMESPACE),
      queue: blankToUndefined(env.GEO_SERVICEBUS_QUEUE) ?? 'geo-tasks',
      timeoutMs: blankToUndefined(env.GEO_SERVICEBUS_TIMEOUT_MS) ?? 30_000,
    },
    dashboardToken: blankToUndefined(env.GEO_DASHBOARD_TOKEN),
    log: {
      format: flags.logFormat ?? blankToUndefined(env.GEO_LOG_FORMAT) ?? 'human',
      level: flags.logLevel ?? blankToUndefined(env.GEO_LOG_LEVEL) ?? 'info',
    },
    otlp: tracingDisabled(env)
      ? {}
      : {
          endpoint: blankToUndefined(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? blankToUndefined(env.OTEL_EXPORTER_OTLP_ENDPOINT),
          protocol: blankToUndefined(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? blankToUndefined(env.OTEL_EXPORTER_OTLP_PROTOCOL),
        },
    storage: {
      connectionString: blankToUndefined(env.GEO_STORAGE_CONNECTION_STRING),
      accountUrl: blankToUndefined(env.GEO_STORAGE_ACCOUNT_URL),
      queue: blankToUndefined(env.GEO_STORAGE_QUEUE) ?? 'geo-tasks',
      createQueue: flags.createQueue ?? false,
      messageEncoding: flags.messageEncoding ?? blankToUndefined(env.GEO_STORAGE_MESSAGE_ENCODING) ?? 'base64',
      timeoutMs: blankToUndefined(env.GEO_STORAGE_TIMEOUT_MS) ?? 30_000,
    },
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    // A value is named where it came from: the flag when one was given, else the variable.
    const names = {
      ...CONFIG_NAMES,
      transport: flags.transport !== undefined ? '--transport' : 'GEO_TRANSPORT',
      'log.format': flags.logFormat !== undefined ? '--log-format' : 'GEO_LOG_FORMAT',
      'log.level': flags.logLevel !== undefined ? '--log-level' : 'GEO_LOG_LEVEL',
      'otlp.endpoint': env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT',
      'otlp.protocol': env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL',
      'storage.messageEncoding': flags.messageEncoding !== undefined ? '--message-encoding' : 'GEO_STORAGE_MESSAGE_ENCODING',
    };
    throw new InputError('CONFIG_INVALID', formatIssues(parsed.error, names));
  }
  return parsed.data;
}

/** A value as a message quotes it. */
function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Names the user knows (env variables) for each config path. */
const CONFIG_NAMES: Record<string, string> = {
  databaseUrl: 'DATABASE_URL',
  home: 'GEO_HOME',
  leaseSeconds: 'GEO_LEASE_SECONDS',
  testPauseAt: 'GEO_TEST_PAUSE_AT',
  dashboardToken: 'GEO_DASHBOARD_TOKEN',
  'servicebus.queue': 'GEO_SERVICEBUS_QUEUE',
  'servicebus.timeoutMs': 'GEO_SERVICEBUS_TIMEOUT_MS',
  'storage.accountUrl': 'GEO_STORAGE_ACCOUNT_URL',
  'storage.queue': 'GEO_STORAGE_QUEUE',
  'storage.timeoutMs': 'GEO_STORAGE_TIMEOUT_MS',
};

/** Formats zod issues as `name: message` lines a person can act on. */
export function formatIssues(error: z.ZodError, names: Record<string, string> = {}): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.join('.');
      const name = names[key] ?? (key || 'value');
      return `${name}: ${issue.message}`;
    })
    .join('\n');
}

/** OpenTelemetry's own switches: the SDK disabled, or no trace exporter. */
function tracingDisabled(env: Env): boolean {
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none';
}

function blankToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}
