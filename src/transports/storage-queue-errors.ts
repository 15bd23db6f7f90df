import { errorMessage, TransportError } from '../errors.js';

/** Names the queue in every message; never holds a key. */
export interface QueueWhere {
  account: string;
  queue: string;
}

/** Network failures worth another try; the SDK reports them as RestError codes or in the message. */
const CONNECTION_CODES = ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'REQUEST_SEND_ERROR'];

export interface StatusInfo {
  status?: number;
  /** The service's error code (`QueueNotFound`, `AuthenticationFailed`) or the network error code. */
  code?: string;
  /** The first line of the SDK's message (the rest is request id and time), secrets removed. */
  detail: string;
}

/** What a failed SDK call tells: HTTP status, service or network code, and a printable line. */
export function describeError(err: unknown, redact: (text: string) => string): StatusInfo {
  const e = err as { statusCode?: unknown; code?: unknown; details?: { errorCode?: unknown } };
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const serviceCode = typeof e?.details?.errorCode === 'string' ? e.details.errorCode : undefined;
  const code = serviceCode ?? (typeof e?.code === 'string' ? e.code : undefined);
  const detail = redact(errorMessage(err).split('\n')[0]!.trim());
  return { status, code, detail };
}

/** No HTTP answer at all: the connection was refused, reset or lost. */
export function isConnectionFailure(info: StatusInfo): boolean {
  if (info.status !== undefined) return false;
  const upper = `${info.code ?? ''} ${info.detail}`.toUpperCase();
  return CONNECTION_CODES.some((c) => upper.includes(c)) || upper.includes('SOCKET HANG UP');
}

/**
 * The connection closed before any answer (a reset, or a write to a socket
 * the other side had closed): typically a kept-alive connection the service
 * dropped while this process was not reading it.
 */
export function isConnectionReset(info: StatusInfo): boolean {
  if (info.status !== undefined) return false;
  return info.code === 'ECONNRESET' || info.code === 'EPIPE' || /socket hang up/i.test(info.detail);
}

/** geo's own request timeout fired (the pipeline aborts the request). */
export function isTimeout(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** The service said the message is too big (it disagrees with our own pre-check, or the limit changed). */
export function isTooLarge(info: StatusInfo): boolean {
  return info.status === 413 || info.code === 'MessageTooLarge' || info.code === 'RequestBodyTooLarge';
}

/**
 * Translates one failed Storage Queue request into geo's terms. Busy (503)
 * lowers the number of batches in flight; server errors, timeouts and lost
 * connections are retried by the core with backoff; anything the same
 * request would get again (403, 404, a malformed request) stops the run. On a
 * received message, a pop receipt that no longer matches (the visibility
 * timeout ran out and another receiver took it) is LOCK_LOST.
 */
export function classifyStorageError(err: unknown, where: QueueWhere, redact: (text: string) => string, operation = 'send'): TransportError {
  const info = describeError(err, redact);
  const on = `storage queue ${where.queue} in account ${where.account}`;
  const tag = [info.status, info.code].filter((x) => x !== undefined).join(' ');
  const suffix = tag ? ` (${tag})` : '';
  const message = (what: string) => `${what} on ${on}${suffix}: ${info.detail}`;
  if (isTimeout(err)) {
    return new TransportError('STORAGE_TIMEOUT', `${operation} timed out on ${on}`, { retryable: true, cause: err });
  }
  if (info.code === 'PopReceiptMismatch' || info.code === 'MessageNotFound') {
    return new TransportError('LOCK_LOST', message(`${operation}: the message is no longer ours`), { retryable: false, cause: err });
  }
  // Azure answers an overloaded partition with 503 ServerBusy or 500 OperationTimedOut.
  if (info.status === 503 || info.status === 429 || (info.status === 500 && info.code === 'OperationTimedOut')) {
    return new TransportError('STORAGE_BUSY', message('server busy'), { retryable: true, throttled: true, cause: err });
  }
  if (info.status === 500 || info.status === 502 || info.status === 504 || info.status === 408) {
    return new TransportError('STORAGE_SERVER_ERROR', message('server error'), { retryable: true, cause: err });
  }
  if (info.status === 401 || info.status === 403) {
    return new TransportError('STORAGE_FORBIDDEN', message('access refused'), { retryable: false, cause: err });
  }
  if (info.status === 404) {
    return new TransportError('QUEUE_NOT_FOUND', message('queue not found'), { retryable: false, cause: err });
  }
  if (isConnectionFailure(info)) {
    return new TransportError('STORAGE_CONNECTION', message('connection failed'), { retryable: true, cause: err });
  }
  if (isIdentityError(err)) {
    // A token refresh can fail transiently; the core still stops after a few batches in a row.
    return new TransportError('STORAGE_TOKEN', message('could not get a Microsoft Entra ID token'), { retryable: true, cause: err });
  }
  return new TransportError('STORAGE_SEND_FAILED', message(`${operation} failed`), { retryable: false, cause: err });
}

/** Errors of @azure/identity: no credential found, or the token request failed. */
export function isIdentityError(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  return name === 'CredentialUnavailableError' || name === 'AuthenticationError' || name === 'AggregateAuthenticationError';
}
