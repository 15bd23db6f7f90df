import type { QueueClient, QueueSendMessageOptions } from '@azure/storage-queue';
import { AdaptiveLimiter } from '../concurrency/limiter.js';
import type { TransportError } from '../errors.js';
import { encodeTaskMessage, type TaskMessage, tryParseTaskMessage } from './message.js';
import { codecFor, connectStorageQueue, POISON_SUFFIX, type StorageConfig } from './storage-queue-connect.js';
import { classifyStorageError, describeError, isTimeout, isTooLarge } from './storage-queue-errors.js';
import { STORAGE_MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES } from './storage-queue-kind.js';
import type { DeadLetter, SendReport, TransportProducer } from './transport.js';

/** The service's limits on a visibility timeout, and on one receive. */
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600;
const MAX_RECEIVE = 32;
/**
 * How long the sweep hides the poison messages it reads while it goes
 * through the queue; one that is not geo's is made visible again at once after.
 */
const READING_SECONDS = 60;

export interface StorageQueueOptions {
  /** Requests in flight across all batches of this process. */
  maxInFlight?: number;
  /** Client-side limit on one request (default GEO_STORAGE_TIMEOUT_MS): the SDK's own timeout only tells the server. */
  requestTimeoutMs?: number;
}

/**
 * Azure Storage Queue, producer half. The service has no batch send, so a batch is up to
 * 100 concurrent single sends, bounded across batches by `maxInFlight`.
 *
 * Each acknowledged send is reported in the batch's SendReport and the core
 * marks those tasks `queued` in one statement once the sends of the batch
 * (and of the batches written with it) have settled. A crash inside that
 * window leaves acknowledged tasks in `pending_queue`, and recovery sends
 * them again: delivery is at least once, and because Storage Queue has no
 * duplicate detection (unlike Service Bus) consumers must be idempotent on
 * the message's task id.
 */
export async function createStorageQueueProducer(config: StorageConfig, options: StorageQueueOptions = {}): Promise<TransportProducer> {
  // A send that times out after the service took it is sent again: a
  // duplicate. So the default (30 s, the service's own) sits well above a
  // busy service's latency, and only catches connections that went dead or
  // an endpoint that stopped answering.
  const requestTimeoutMs = options.requestTimeoutMs ?? config.timeoutMs;
  // One try per request: the core retries with its own backoff and re-sends
  // only what is unacknowledged. The SDK's default (4 tries, 4 s doubling
  // delays) would hold a batch for minutes during an outage.
  const { client, service, where, redact } = await connectStorageQueue(config, {
    pipeline: { retryOptions: { maxTries: 1, tryTimeoutInMs: requestTimeoutMs } },
    // One read before anything is written: no duplicate to fear, so a dead
    // endpoint may fail faster.
    timeoutMs: Math.min(requestTimeoutMs, 10_000),
  });
  const { encode, decode } = codecFor(config.messageEncoding);
  const requests = new RequestSlots(client, options.maxInFlight ?? 256, requestTimeoutMs);
  const poison = service.getQueueClient(`${config.queue}${POISON_SUFFIX}`);
  const target = `storage queue ${where.queue} in account ${where.account}`;

  /** Sends each message as one request, visible after `visibilitySeconds`. */
  async function sendEach(messages: TaskMessage[], visibilitySeconds: number): Promise<SendReport> {
    const epoch = requests.epoch();
    const report: SendReport = { acknowledged: [], rejected: [] };
    const errors: TransportError[] = [];
    await Promise.all(
      messages.map(async (message) => {
        const text = encode(encodeTaskMessage(message));
        const bytes = Buffer.byteLength(text, 'utf8');
        if (bytes > MAX_MESSAGE_BYTES) {
          report.rejected.push({ taskId: message.taskId, reason: tooLargeReason(bytes, config.messageEncoding) });
          return;
        }
        const failure = await requests.send(text, epoch, visibilitySeconds);
        if (failure === undefined) {
          report.acknowledged.push(message.taskId);
        } else if (isTooLarge(describeError(failure, redact))) {
          // The service's own count disagrees with ours: still this task's fault alone.
          report.rejected.push({ taskId: message.taskId, reason: tooLargeReason(bytes, config.messageEncoding) });
        } else {
          errors.push(classifyStorageError(failure, where, redact));
        }
      }),
    );
    const error = worstOf(errors);
    if (error) report.error = error;
    return report;
  }

  return {
    name: 'storage-queue',
    writesWithTasks: false,
    target,
    send: (messages) => sendEach(messages, 0),
    async schedule(messages, at) {
      const seconds = Math.max(0, Math.min(MAX_VISIBILITY_SECONDS, Math.ceil((at.getTime() - Date.now()) / 1000)));
      // A hidden message cannot be withdrawn by anything geo keeps: no refs.
      return { ...(await sendEach(messages, seconds)), refs: new Map() };
    },
    async readDeadLetters(max) {
      const limit = { abortSignal: AbortSignal.timeout(requestTimeoutMs) };
      const answer = await poison
        .receiveMessages({ numberOfMessages: Math.min(MAX_RECEIVE, max), visibilityTimeout: READING_SECONDS, ...limit })
        .catch((err: unknown) => {
          // No poison queue yet: nothing was ever poisoned.
          if (describeError(err, redact).status === 404) return { receivedMessageItems: [] };
          throw classifyStorageError(err, { ...where, queue: `${where.queue}${POISON_SUFFIX}` }, redact, 'read poison queue');
        });
      return answer.receivedMessageItems.map((item): DeadLetter => {
        const parsed = tryParseTaskMessage(safeDecode(decode, item.messageText));
        return {
          message: 'message' in parsed ? parsed.message : undefined,
          remove: async () => {
            await poison.deleteMessage(item.messageId, item.popReceipt, { abortSignal: AbortSignal.timeout(requestTimeoutMs) });
          },
          release: async () => {
            await poison.updateMessage(item.messageId, item.popReceipt, undefined, 0, { abortSignal: AbortSignal.timeout(requestTimeoutMs) });
          },
        };
      });
    },
    async close() {
      // The SDK holds no connections of its own beyond Node's keep-alive agent.
    },
  };
}

/**
 * The process's requests in flight, under one bound. Requests wait for a slot,
 * so on an endpoint that stopped answering each would wait out its own
 * timeout in turn: thousands of queued sends times GEO_STORAGE_TIMEOUT_MS, a
 * submit that never ends. So once a request times out, every request of a
 * send that began before then fails at once with that timeout, unsent (the
 * core retries them with backoff); sends begun after it try the endpoint
 * again. One attempt of a send therefore lasts about one timeout at most.
 */
class RequestSlots {
  private readonly slots: AdaptiveLimiter;
  /** Timeouts seen so far, and the last one's error. */
  private timeouts = 0;
  private lastTimeout: unknown;

  constructor(
    private readonly client: QueueClient,
    maxInFlight: number,
    private readonly timeoutMs: number,
  ) {
    this.slots = new AdaptiveLimiter(maxInFlight);
  }

  /** Taken when a send begins: its requests fail fast if a timeout is seen after this. */
  epoch(): number {
    return this.timeouts;
  }

  /**
   * Sends one message, visible after `visibilitySeconds` and never expiring
   * (the service's default of 7 days would drop a task's only message in a
   * long backlog); resolves to the error instead of throwing, so one failure
   * never hides the others.
   */
  async send(text: string, epoch: number, visibilitySeconds: number): Promise<unknown> {
    await this.slots.acquire();
    try {
      if (this.timeouts > epoch) return this.lastTimeout;
      // core-client's per-request timeout (a plain timer, cheaper at thousands
      // of sends per second than an AbortSignal.timeout each). The storage SDK
      // passes it through without declaring it; a test proves it still fires.
      const options = { messageTimeToLive: -1, requestOptions: { timeout: this.timeoutMs } } as QueueSendMessageOptions;
      if (visibilitySeconds > 0) options.visibilityTimeout = visibilitySeconds;
      await this.client.sendMessage(text, options);
      return undefined;
    } catch (err) {
      if (isTimeout(err)) {
        this.timeouts++;
        this.lastTimeout = err;
      }
      return err ?? new Error('send failed');
    } finally {
      this.slots.release();
    }
  }
}

/** A permanent error stops the run, a busy one lowers concurrency: report the one that matters most. */
function worstOf(errors: TransportError[]): TransportError | undefined {
  return errors.find((e) => !e.retryable) ?? errors.find((e) => e.throttled) ?? errors[0];
}

/** A poison message that is not base64 (not geo's) is read as it is. */
function safeDecode(decode: (stored: string) => string, stored: string): string {
  try {
    return decode(stored);
  } catch {
    return stored;
  }
}

function tooLargeReason(bytes: number, encoding: string): string {
  return `message is ${bytes.toLocaleString('en-US')} bytes after ${encoding} encoding; Azure Storage Queue accepts at most ${MAX_MESSAGE_BYTES.toLocaleString('en-US')} bytes (64 KiB)`;
}
