/**
 * geo's typed errors. Every error that can reach the user carries a stable
 * `code` (scripts may match on it); the code decides its `kind` through
 * ERROR_KINDS, and the kind decides the exit code (src/cli/exit-codes.ts).
 */
export type ErrorKind =
  /** Bad input or configuration. Exit 2. */
  | 'input'
  /** A dependency (database, broker) could not be reached or refused us. Exit 3. */
  | 'dependency'
  /** The work ran but part of it did not succeed. Exit 1. */
  | 'incomplete'
  /** A bug or an unexpected state. Exit 1. */
  | 'internal';

/**
 * Every error code geo raises, with its kind: one code means one exit code
 * wherever it is raised (QUEUE_NOT_FOUND at start-up and mid-run alike). The
 * error classes take an ErrorCode, so the compiler refuses a code missing here.
 */
export const ERROR_KINDS = {
  // Command line (commander's usage errors, translated in src/cli/usage.ts).
  UNKNOWN_COMMAND: 'input',
  UNKNOWN_OPTION: 'input',
  MISSING_ARGUMENT: 'input',
  EXCESS_ARGUMENTS: 'input',
  MISSING_OPTION_VALUE: 'input',
  MISSING_MANDATORY_OPTION: 'input',
  CONFLICTING_OPTIONS: 'input',
  INVALID_ARGUMENT: 'input',
  USAGE: 'input',
  INVALID_OPTION: 'input',
  OPTION_NOT_APPLICABLE: 'input',
  // Configuration and input.
  CONFIG_INVALID: 'input',
  INVALID_PARAM: 'input',
  INVALID_PARAMS: 'input',
  INVALID_BATCH_SIZE: 'input',
  INVALID_JOB_ID: 'input',
  AMBIGUOUS_JOB_ID: 'input',
  JOB_NOT_FOUND: 'input',
  UNKNOWN_JOB_TYPE: 'input',
  JOB_TYPE_EMPTY: 'input',
  ID_COLLISION: 'input',
  STAGE_NOT_FOUND: 'input',
  // Steering a run (cancel, pause, resume, retry-failed) that cannot apply to the job as it is.
  JOB_ENDED: 'input',
  JOB_CANCELLED: 'input',
  JOB_PRUNING: 'input',
  TASK_NOT_IN_JOB: 'input',
  // Job types and their modules (--job-types, GEO_JOB_TYPES).
  JOB_TYPE_INVALID: 'input',
  JOB_TYPE_DUPLICATE: 'input',
  JOB_TYPES_LOAD_FAILED: 'input',
  JOB_TYPES_EMPTY: 'input',
  // A job type's own code threw while building tasks or the job's result: the job type must change.
  JOB_TYPE_FAILED: 'input',
  // No process that tried to advance the job could load its job type (docs/workers.md).
  JOB_TYPE_UNAVAILABLE: 'input',
  // Items from a file (geo submit --input) and results out (geo results).
  INPUT_REQUIRED: 'input',
  INPUT_NOT_ACCEPTED: 'input',
  INPUT_CONFLICT: 'input',
  INPUT_NOT_FOUND: 'input',
  INPUT_NOT_A_FILE: 'input',
  INPUT_UNREADABLE: 'input',
  INPUT_FORMAT_UNKNOWN: 'input',
  INPUT_FORMAT_UNSUPPORTED: 'input',
  INPUT_HEADER_MISMATCH: 'input',
  INPUT_EMPTY: 'input',
  INPUT_REJECTED: 'input',
  ERRORS_FILE_UNWRITABLE: 'input',
  OUTPUT_UNWRITABLE: 'input',
  INVALID_STATUS: 'input',
  INPUT_CHECK_FAILED: 'internal',
  STAGE_INPUTS_NOT_READY: 'input',
  TRANSPORT_MISMATCH: 'input',
  SCHEMA_TOO_NEW: 'input',
  DATABASE_NOT_FOUND: 'input',
  DATABASE_IN_USE: 'input',
  DESTINATION_NOT_CONFIGURED: 'input',
  GEO_HOME_NOT_A_FOLDER: 'input',
  GEO_HOME_UNWRITABLE: 'input',
  // A queue that does not exist is configuration (its name, or a step not done), not an outage.
  QUEUE_NOT_FOUND: 'input',
  BENCH_QUEUE_IS_TASK_QUEUE: 'input',
  BENCH_LATENCY_NOT_LOCAL: 'input',
  BENCH_SCHEMA_DENIED: 'input',
  // geo dashboard: its start-up, and the answers of its API (HTTP status by kind and code).
  DASHBOARD_TOKEN_REQUIRED: 'input',
  DASHBOARD_ADDRESS_IN_USE: 'input',
  DASHBOARD_LISTEN_FAILED: 'input',
  // geo work --metrics-port.
  METRICS_ADDRESS_IN_USE: 'input',
  METRICS_LISTEN_FAILED: 'input',
  INVALID_QUERY: 'input',
  TASK_NOT_FOUND: 'input',
  NOT_FOUND: 'input',
  METHOD_NOT_ALLOWED: 'input',
  ACTION_NOT_AVAILABLE: 'input',
  ACTION_NOT_CONFIRMED: 'input',
  // Dependencies.
  DATABASE_AUTH_FAILED: 'dependency',
  DATABASE_UNREACHABLE: 'dependency',
  DATABASE_CONNECTION_LOST: 'dependency',
  EMBEDDED_POSTGRES_INIT: 'dependency',
  EMBEDDED_POSTGRES_START: 'dependency',
  EMBEDDED_POSTGRES_UNREACHABLE: 'dependency',
  EMBEDDED_POSTGRES_MISSING: 'dependency',
  TRANSPORT_UNAVAILABLE: 'dependency',
  SEND_FAILED: 'dependency',
  SERVICEBUS_SEND_FAILED: 'dependency',
  STORAGE_AUTH_FAILED: 'dependency',
  STORAGE_UNREACHABLE: 'dependency',
  STORAGE_REFUSED: 'dependency',
  STORAGE_FORBIDDEN: 'dependency',
  STORAGE_SEND_FAILED: 'dependency',
  // Retryable within a run, but a broker that stays so is a dependency problem: where such an
  // error ends a command (at start-up, or stopping a run) it is exit 3. Work a run left pending
  // makes its exit 1 through the run's outcome, not through an error's kind.
  SEND_INCOMPLETE: 'dependency',
  SERVICEBUS_BUSY: 'dependency',
  SERVICEBUS_CONNECTION: 'dependency',
  STORAGE_TIMEOUT: 'dependency',
  STORAGE_BUSY: 'dependency',
  STORAGE_SERVER_ERROR: 'dependency',
  STORAGE_CONNECTION: 'dependency',
  STORAGE_TOKEN: 'dependency',
  INTERRUPTED: 'incomplete',
  // A consumer whose lock or lease lapsed: the message went to another; nothing is lost.
  LOCK_LOST: 'incomplete',
  NOT_RECEIVED_HERE: 'internal',
  STAGE_TASK_COUNT_MISMATCH: 'input',
  STAGE_NOT_QUEUED: 'incomplete',
  BENCH_RUN_INCOMPLETE: 'incomplete',
  STAGE_REBUILD_FAILED: 'internal',
  ADVANCE_FAILED: 'internal',
  INTERNAL: 'internal',
} as const satisfies Record<string, ErrorKind>;

/** A code of the registry. */
export type ErrorCode = keyof typeof ERROR_KINDS;

/**
 * A broker's own error name, as its transport classifies it (for example
 * SERVICEBUS_MESSAGE_LOCK_LOST): the registry cannot list them all, so one it
 * does not list keeps the kind of the error class that carries it.
 */
export type BrokerErrorCode = `SERVICEBUS_${string}` | `STORAGE_${string}`;

export type AnyErrorCode = ErrorCode | BrokerErrorCode;

/** The registry's codes of one kind: an InputError cannot carry a code that means another exit code. */
export type CodeOfKind<K extends ErrorKind> = { [C in ErrorCode]: (typeof ERROR_KINDS)[C] extends K ? C : never }[ErrorCode];

/** The kind of an error code: the registry's, else the fallback its class gives. */
export function kindOfCode(code: string, fallback: ErrorKind): ErrorKind {
  return Object.hasOwn(ERROR_KINDS, code) ? ERROR_KINDS[code as ErrorCode] : fallback;
}

export class GeoError extends Error {
  readonly code: AnyErrorCode;
  readonly kind: ErrorKind;
  /** The job a run was working on when it failed, printed with the error so a script knows what to resume. */
  jobId?: string;

  /** `kind` applies only to a code ERROR_KINDS does not list (a broker's own error names). */
  constructor(kind: ErrorKind, code: AnyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kindOfCode(code, kind);
    this.code = code;
  }
}

export class InputError extends GeoError {
  constructor(code: CodeOfKind<'input'>, message: string, options?: { cause?: unknown }) {
    super('input', code, message, options);
  }
}

export class DependencyError extends GeoError {
  constructor(code: AnyErrorCode, message: string, options?: { cause?: unknown }) {
    super('dependency', code, message, options);
  }
}

/**
 * A queue send failed. `retryable` errors (busy, timeouts, lost connections)
 * are retried by the dispatcher; `throttled` ones additionally lower the
 * number of batches in flight; permanent ones stop the run. Either way the
 * broker is a dependency: a code ERROR_KINDS does not list is exit 3.
 */
export class TransportError extends GeoError {
  readonly retryable: boolean;
  readonly throttled: boolean;

  constructor(code: AnyErrorCode, message: string, opts: { retryable: boolean; throttled?: boolean; cause?: unknown }) {
    super('dependency', code, message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.throttled = opts.throttled ?? false;
  }
}

/**
 * A job type's own code (a count, a builder, a key, a result) threw: not
 * geo's failure, and no retry can change it.
 */
export class JobTypeError extends GeoError {
  constructor(where: string, cause: unknown) {
    super('input', 'JOB_TYPE_FAILED', `${where} threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
