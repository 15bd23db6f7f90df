import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import { type BackoffPolicy, backoffDelay, sleep } from '../concurrency/backoff.js';
import { InputError, TransportError } from '../errors.js';
import { tryParseTaskMessage } from './message.js';
import { codecFor, connectStorageQueue, POISON_SUFFIX, type StorageConfig } from './storage-queue-connect.js';
import { classifyStorageError, describeError, isConnectionReset } from './storage-queue-errors.js';
import type { ConsumerOptions, ReceivedMessage, TransportConsumer } from './transport.js';

/** The service's maximum per receive request. */
const RECEIVE_BATCH = 32;
/** Receive requests at once when more than one request's worth is asked for. */
const MAX_PARALLEL_RECEIVES = 8;
/** Empty receives back off from the first to the last delay (the service bills every request). */
const POLL_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 2_000, jitter: 'none' };
/** The service's limit on a visibility timeout. */
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600;

interface Held {
  messageId: string;
  popReceipt: string;
}

/**
 * Azure Storage Queue, consumer half. A received message is hidden for
 * `leaseSeconds` (its visibility timeout); renew pushes that out, abandon
 * makes it visible at once. Every update changes the pop receipt, which this
 * consumer tracks.
 * deadLetter moves the message to `<queue>-poison` (created when missing, as
 * the Azure Functions runtime does) with the reason, then deletes it. Every
 * request is bounded by GEO_STORAGE_TIMEOUT_MS.
 */
export async function createStorageQueueConsumer(config: StorageConfig, options: ConsumerOptions): Promise<TransportConsumer> {
  if (config.queue.length > 63 - POISON_SUFFIX.length) {
    throw new InputError('CONFIG_INVALID', `GEO_STORAGE_QUEUE: "${config.queue}" leaves no room for its poison queue's name (at most 56 characters)`);
  }
  const timeoutMs = config.timeoutMs;
  const { client, service, where, redact } = await connectStorageQueue(config, {
    pipeline: { retryOptions: { maxTries: 1, tryTimeoutInMs: timeoutMs } },
    timeoutMs,
  });
  const codec = codecFor(config.messageEncoding);
  const target = `storage queue ${where.queue} in account ${where.account}`;
  const held = new WeakMap<ReceivedMessage, Held>();
  const visibility = Math.max(1, Math.min(MAX_VISIBILITY_SECONDS, Math.round(options.leaseSeconds)));
  const stopping = new AbortController();
  let poison: Promise<QueueClient> | undefined;

  const limit = () => ({ abortSignal: AbortSignal.timeout(timeoutMs) });
  const fail = (operation: string) => (err: unknown) => {
    throw classifyStorageError(err, where, redact, operation);
  };
  const settle = <T>(operation: string, request: () => Promise<T>) => againOnReset(request, redact).catch(fail(operation));
  const remove = (h: Held) => settle('delete', () => client.deleteMessage(h.messageId, h.popReceipt, limit()));
  const holdOf = (m: ReceivedMessage): Held => {
    const h = held.get(m);
    if (!h) throw new TransportError('NOT_RECEIVED_HERE', `${target}: the message was not received by this consumer`, { retryable: false });
    return h;
  };
  /** Hides the message for `seconds` (optionally with new text) and keeps the new pop receipt. */
  const update = async (m: ReceivedMessage, seconds: number, operation: string): Promise<Date> => {
    const h = holdOf(m);
    const answer = await settle(operation, () => client.updateMessage(h.messageId, h.popReceipt, undefined, seconds, limit()));
    h.popReceipt = answer.popReceipt!;
    const until = answer.nextVisibleOn ?? new Date(Date.now() + seconds * 1000);
    Object.assign(m, { receipt: h.popReceipt, lockedUntil: until });
    return until;
  };
  const receiveOnce = async (max: number): Promise<ReceivedMessage[]> => {
    const requests = Math.min(MAX_PARALLEL_RECEIVES, Math.ceil(max / RECEIVE_BATCH));
    const answers = await Promise.all(
      Array.from({ length: requests }, (_, i) =>
        client
          .receiveMessages({ numberOfMessages: Math.min(RECEIVE_BATCH, max - i * RECEIVE_BATCH), visibilityTimeout: visibility, ...limit() })
          .catch(fail('receive')),
      ),
    );
    return answers
      .flatMap((a) => a.receivedMessageItems)
      .map((item) => {
        const m = toReceived(item, codec.decode);
        held.set(m, { messageId: item.messageId, popReceipt: item.popReceipt });
        return m;
      });
  };

  return {
    name: 'storage-queue',
    target,
    claimsOnReceive: false,
    async receive(max, waitMs) {
      const deadline = Date.now() + waitMs;
      for (let emptyReceives = 1; ; emptyReceives++) {
        const received = await receiveOnce(Math.max(1, max));
        const left = deadline - Date.now();
        if (received.length > 0 || left <= 0 || stopping.signal.aborted) return received;
        await sleep(Math.min(backoffDelay(emptyReceives, POLL_BACKOFF), left), stopping.signal);
      }
    },
    async complete(m) {
      await remove(holdOf(m));
    },
    async abandon(m) {
      await update(m, 0, 'abandon');
    },
    renew: (m) => update(m, visibility, 'renew'),
    async deadLetter(m, reason, description) {
      const h = holdOf(m);
      poison ??= (async () => {
        const queue = service.getQueueClient(`${config.queue}${POISON_SUFFIX}`);
        await queue.createIfNotExists(limit());
        return queue;
      })().catch((err: unknown) => {
        poison = undefined;
        return fail('create poison queue')(err);
      });
      const poisonQueue = await poison;
      const text = codec.encode(JSON.stringify(poisonBody(m, reason, description)));
      // Copied before the original is deleted: a crash in between leaves the
      // message in both queues, never in neither.
      await poisonQueue.sendMessage(text, limit()).catch(fail('move to poison queue'));
      await remove(h);
    },
    async close() {
      stopping.abort();
    },
  };
}

/** Tries of a settlement whose connection is reset before any answer (see againOnReset). */
const RESET_TRIES = 3;
/** Long enough for this process to read the closes of other connections the service dropped at the same time. */
const RESET_PAUSE_MS = 50;

/**
 * A settlement, sent again after a short pause if its connection was reset
 * before any answer. The SDK keeps connections open between requests, and
 * those the service closed while this process was busy (a handler holding
 * the event loop past the service's keep-alive timeout) fail the next request
 * sent on them; the pause lets this process see the other closes, so the
 * repeat goes out on a live or a new connection. Repeating is safe: had a
 * request reached the service, its pop receipt is spent and the repeat
 * answers LOCK_LOST, the worst case being a lost lock reported for a message
 * that was in fact settled.
 */
async function againOnReset<T>(request: () => Promise<T>, redact: (text: string) => string): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await request();
    } catch (err) {
      if (tries === RESET_TRIES || !isConnectionReset(describeError(err, redact))) throw err;
      await sleep(RESET_PAUSE_MS);
    }
  }
}

function toReceived(item: DequeuedMessageItem, decode: (stored: string) => string): ReceivedMessage {
  const body = decode(item.messageText);
  return {
    body,
    ...tryParseTaskMessage(body),
    deliveryCount: item.dequeueCount,
    messageId: item.messageId,
    receipt: item.popReceipt,
    lockedUntil: item.nextVisibleOn,
  };
}

/**
 * The poison message: the task message with a `deadLetter` field (still a
 * valid task message, so it can be moved back to the task queue as it is),
 * or, for a body that is not a JSON object, the body as text under `body`.
 */
function poisonBody(m: ReceivedMessage, reason: string, description: string): Record<string, unknown> {
  const deadLetter = { reason, description, deliveryCount: m.deliveryCount, messageId: m.messageId, at: new Date().toISOString() };
  const original = typeof m.body === 'string' ? jsonObject(m.body) : undefined;
  return original ? { ...original, deadLetter } : { deadLetter, body: String(m.body) };
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
