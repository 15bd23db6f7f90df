// <queue>/$management operations the SDK uses around peekLock receives.
// Anything else is answered with 501 so a test fails loudly instead of hanging.

import type { Message } from 'rhea';
import rhea from 'rhea';
import { forDelivery } from './codec.js';
import { keyFromLockToken, type Lock } from './locks.js';
import type { PeerQueue } from './queue.js';
import { appProperty, type Reply } from './requests.js';

type Body = Record<string, unknown>;

const LOCK_LOST: Reply = {
  status: 410,
  description: 'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
  condition: 'com.microsoft:message-lock-lost',
};

function badRequest(description: string): Reply {
  return { status: 400, description, condition: 'com.microsoft:argument-error' };
}

/** The locks named by lock-tokens (uuids in the SDK's string byte order), or the reply refusing them. */
function heldLocks(queue: PeerQueue, body: Body): Lock[] | Reply {
  const tokens = body['lock-tokens'];
  if (!Array.isArray(tokens) || tokens.length === 0) return badRequest('lock-tokens is missing.');
  const locks: Lock[] = [];
  for (const token of tokens) {
    if (!Buffer.isBuffer(token) && typeof token !== 'string') return badRequest('lock-tokens must hold uuids.');
    const lock = queue.locks.get(keyFromLockToken(token));
    if (!lock?.held) return LOCK_LOST;
    locks.push(lock);
  }
  return locks;
}

function renewLock(queue: PeerQueue, body: Body): Reply {
  const locks = heldLocks(queue, body);
  if (!Array.isArray(locks)) return locks;
  const now = Date.now();
  const expirations = locks.map((lock) => new Date(queue.locks.renew(lock, now)));
  return { status: 200, description: 'OK', body: { expirations } };
}

/** Used by the SDK when the receiver link a message came from is no longer open. */
function updateDisposition(queue: PeerQueue, body: Body): Reply {
  const locks = heldLocks(queue, body);
  if (!Array.isArray(locks)) return locks;
  const status = body['disposition-status'];
  const str = (key: string): string | undefined => (typeof body[key] === 'string' ? (body[key] as string) : undefined);
  for (const lock of locks) {
    if (status === 'completed') queue.complete(lock);
    else if (status === 'abandoned') queue.abandon(lock, body['properties-to-modify'] as Body | undefined);
    else if (status === 'suspended') queue.deadLetterLocked(lock, str('deadletter-reason'), str('deadletter-description'));
    else if (status === 'defered') queue.defer(lock);
    else return badRequest(`unknown disposition-status '${String(status)}'.`);
  }
  return { status: 200, description: 'OK' };
}

function peek(queue: PeerQueue, body: Body): Reply {
  const from = Number(body['from-sequence-number'] ?? 0);
  const count = Number(body['message-count'] ?? 1);
  const found = queue
    .activeMessages()
    .filter((m) => m.seq >= from)
    .slice(0, Math.max(1, count));
  if (found.length === 0) return { status: 204, description: 'No Content' };
  const messages = found.map((m) => ({
    message: rhea.message.encode(forDelivery(m.decoded.msg, { sequenceNumber: m.seq, enqueuedAt: m.enqueuedAt, deliveryCount: m.deliveryCount })),
  }));
  return { status: 200, description: 'OK', body: { messages } };
}

/**
 * sender.scheduleMessages(): each entry holds an encoded message (with its
 * x-opt-scheduled-enqueue-time annotation) and its id. Stored like a send,
 * so duplicate detection and the scheduled hold apply the same way.
 */
function scheduleMessages(queue: PeerQueue, body: Body): Reply {
  const entries = body.messages;
  if (!Array.isArray(entries) || entries.length === 0) return badRequest('messages is missing.');
  const sequenceNumbers: number[] = [];
  for (const entry of entries as Array<Record<string, unknown>>) {
    const encoded = entry?.message;
    if (!Buffer.isBuffer(encoded)) return badRequest('each scheduled entry needs an encoded message.');
    const msg = rhea.message.decode(encoded) as unknown as Message;
    const messageId = typeof entry['message-id'] === 'string' ? (entry['message-id'] as string) : String(msg.message_id);
    msg.message_id = messageId;
    sequenceNumbers.push(...queue.enqueue([{ messageId, msg, sizeBytes: encoded.length }], Date.now()));
  }
  return { status: 200, description: 'OK', body: { 'sequence-numbers': sequenceNumbers.map((n) => rhea.types.wrap_long(n)) } };
}

/** rhea decodes an AMQP long as a number, or as its 8 bytes when it does not fit one. */
function sequenceNumberOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  return undefined;
}

/** sender.cancelScheduledMessages(): numbers naming no scheduled message are ignored (see PeerQueue.cancelScheduled). */
function cancelScheduledMessages(queue: PeerQueue, body: Body): Reply {
  const values = body['sequence-numbers'];
  if (!Array.isArray(values) || values.length === 0) return badRequest('sequence-numbers is missing.');
  const sequenceNumbers = values.map(sequenceNumberOf);
  if (sequenceNumbers.some((n) => n === undefined)) return badRequest('sequence-numbers must hold longs.');
  queue.cancelScheduled(sequenceNumbers as number[]);
  return { status: 200, description: 'OK' };
}

export function handleManagement(queue: PeerQueue, request: Message): Reply {
  const operation = appProperty(request, 'operation');
  const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Body;
  switch (operation) {
    case 'com.microsoft:renew-lock':
      return renewLock(queue, body);
    case 'com.microsoft:update-disposition':
      return updateDisposition(queue, body);
    case 'com.microsoft:peek-message':
      return peek(queue, body);
    case 'com.microsoft:schedule-message':
      return scheduleMessages(queue, body);
    case 'com.microsoft:cancel-scheduled-message':
      return cancelScheduledMessages(queue, body);
    default:
      return {
        status: 501,
        description: `$management operation '${String(operation)}' is not implemented by the test peer.`,
        condition: 'amqp:not-implemented',
      };
  }
}
