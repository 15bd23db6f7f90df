import { isServiceBusError } from '@azure/service-bus';
import { TransportError } from '../errors.js';

const PERMANENT_CODES = new Set(['UnauthorizedAccess', 'MessagingEntityNotFound', 'QuotaExceeded', 'MessagingEntityDisabled']);
const RETRYABLE_CODES = new Set(['ServiceBusy', 'ServiceTimeout', 'GeneralError']);
const CONNECTION_ERRNOS = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);

/**
 * Translates what the Service Bus SDK threw into a TransportError. When the
 * SDK's own retries run out it throws an AggregateError holding each
 * attempt's error; the last one decides.
 */
export function classifyServiceBusError(err: unknown, where: string, secrets: string[]): TransportError {
  const cause = err instanceof AggregateError && err.errors.length > 0 ? err.errors[err.errors.length - 1] : err;
  const message = redactAll(cause instanceof Error ? cause.message : String(cause), secrets);
  if (isServiceBusError(cause)) {
    const code = cause.code;
    const text = `${where}: ${code}: ${message}`;
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

export function redactAll(text: string, secrets: string[]): string {
  return secrets.filter((s) => s.length > 0).reduce((out, secret) => out.split(secret).join('***'), text);
}
