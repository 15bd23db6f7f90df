/**
 * geo's typed errors. Every error that can reach the user carries a stable
 * `code` (scripts may match on it) and a `kind` that decides the exit code in
 * one place (src/cli/exit-codes.ts).
 */
export type ErrorKind =
  /** Bad input or configuration: nothing was written. Exit 2. */
  | 'input'
  /** A dependency (database, broker) could not be reached or refused us. Exit 3. */
  | 'dependency'
  /** The work ran but part of it did not succeed. Exit 1. */
  | 'incomplete'
  /** A bug or an unexpected state. Exit 1. */
  | 'internal';

export class GeoError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
  }
}

export class InputError extends GeoError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super('input', code, message, options);
  }
}

export class DependencyError extends GeoError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super('dependency', code, message, options);
  }
}

/**
 * A queue send failed. `retryable` errors (busy, timeouts, lost connections)
 * are retried by the dispatcher; `throttled` ones additionally lower the
 * number of batches in flight; permanent ones stop the run.
 */
export class TransportError extends GeoError {
  readonly retryable: boolean;
  readonly throttled: boolean;

  constructor(
    code: string,
    message: string,
    opts: { retryable: boolean; throttled?: boolean; cause?: unknown },
  ) {
    super(opts.retryable ? 'incomplete' : 'dependency', code, message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.throttled = opts.throttled ?? false;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
