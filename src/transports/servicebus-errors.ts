import { isServiceBusError } from '@azure/service-bus';
import { DependencyError, InputError, TransportError } from '../errors.js';

const PERMANENT_CODES = new Set(['UnauthorizedAccess', 'MessagingEntityNotFound', 'QuotaExceeded', 'MessagingEntityDisabled']);
const RETRYABLE_CODES = new Set(['ServiceBusy', 'ServiceTimeout', 'GeneralError']);
const CONNECTION_ERRNOS = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);

/**
 * Translates what the Service Bus SDK threw into a TransportError. When the
 * SDK's own retries run out it throws an AggregateError holding each
 * attempt's error; the last one decides.
 */
export function classifyServiceBusError(err: unknown, where: string, redact: (text: string) => string): TransportError {
  const cause = err instanceof AggregateError && err.errors.length > 0 ? err.errors[err.errors.length - 1] : err;
  const message = redact(cause instanceof Error ? cause.message : String(cause));
  if (isServiceBusError(cause)) {
    const code = cause.code;
    const text = `${where}: ${code}: ${message}`;
    // The broker gave the message to another receiver (or will): settling it is no longer ours to do.
    if (code === 'MessageLockLost') return new TransportError('LOCK_LOST', text, { retryable: false, cause });
    if (code === 'ServiceBusy') return new TransportError('SERVICEBUS_BUSY', text, { retryable: true, throttled: true, cause });
    if (PERMANENT_CODES.has(code)) return new TransportError(`SERVICEBUS_${snake(code)}`, text, { retryable: false, cause });
    if (RETRYABLE_CODES.has(code)) return new TransportError(`SERVICEBUS_${snake(code)}`, text, { retryable: true, cause });
    // ServiceCommunicationProblem covers both a lost connection (retryable)
    // and an unknown entity (not): the SDK's own verdict tells them apart.
    return new TransportError(`SERVICEBUS_${snake(code)}`, text, { retryable: cause.retryable, cause });
  }
  const errno = (cause as { code?: string }).code;
  const name = (cause as { name?: string }).name;
  const connectionLost =
    (errno !== undefined && CONNECTION_ERRNOS.has(errno)) ||
    [...CONNECTION_ERRNOS].some((e) => message.includes(e)) ||
    name === 'OperationTimeoutError' ||
    name === 'TimeoutError';
  // core-amqp's MessagingError (a refused connection arrives as one, code
  // GeneralError) carries the SDK's own verdict in `retryable`.
  const sdkVerdict = (cause as { retryable?: unknown }).retryable;
  if (connectionLost || sdkVerdict === true) {
    return new TransportError('SERVICEBUS_CONNECTION', `${where}: ${message}`, { retryable: true, cause });
  }
  return new TransportError('SERVICEBUS_SEND_FAILED', `${where}: ${message}`, { retryable: false, cause });
}

function snake(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

/**
 * An error while opening a link, before anything was written: a missing
 * queue is the user's to fix (exit 2), anything else a dependency (exit 3).
 */
export function preflightError(err: unknown, target: string, redact: (text: string) => string): Error {
  const classified = classifyServiceBusError(err, target, redact);
  if (classified.code === 'SERVICEBUS_MESSAGING_ENTITY_NOT_FOUND') {
    return new InputError('QUEUE_NOT_FOUND', `${target} does not exist; create it (see README, "Service Bus")`, { cause: err });
  }
  return new DependencyError(classified.code, `cannot use ${classified.message}`, { cause: err });
}
