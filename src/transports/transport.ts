import type { TransportName } from '../config/index.js';
import type { TransportError } from '../errors.js';
import type { TaskMessage } from './message.js';

/** What one `send` achieved; partial outcomes are normal (see SendReport.error). */
export interface SendReport {
  /** Task ids the broker acknowledged. */
  acknowledged: string[];
  /** Tasks that can never be sent (an oversized message), with the reason. */
  rejected: Array<{ taskId: string; reason: string }>;
  /**
   * Set when some messages were neither acknowledged nor rejected: the
   * classified error of the failed part. The caller re-sends only those.
   */
  error?: TransportError;
}

/** What one `schedule` achieved: a SendReport, plus the broker's handle per acknowledged task where it can withdraw the message. */
export interface ScheduleReport extends SendReport {
  /** Task id -> the broker's handle on its scheduled message (Service Bus: the sequence number). */
  refs: Map<string, string>;
}

/** A message found on a dead-letter queue (Service Bus) or poison queue (Storage Queue). */
export interface DeadLetter {
  /** The task message, when the body is one of geo's; anything else is not geo's to touch. */
  readonly message?: TaskMessage;
  /** Removes it for good. */
  remove(): Promise<void>;
  /** Leaves it where it is (it is not geo's, or its task was not settled). */
  release(): Promise<void>;
}

/**
 * The producer half: where task messages go. Implementations translate their
 * SDK's errors into TransportError (retryable, throttled or permanent) at
 * this boundary and know nothing about PostgreSQL.
 */
export interface TransportProducer {
  readonly name: TransportName;
  /**
   * True when writing a task row with status `queued` is its message (the
   * `local` transport, whose queue is the tasks table): the core writes the
   * batch `queued` in one transaction and has nothing to send, record or
   * recover. False for brokers: the batch protocol's steps 2 and 3 apply.
   */
  readonly writesWithTasks: boolean;
  /** Human-readable target, safe to print (never a key). */
  readonly target: string;
  /** Sends one batch of at most 100 messages. Never throws for a send failure: reports it. */
  send(messages: TaskMessage[]): Promise<SendReport>;
  /**
   * Sends messages that must not be delivered before `at` (a retry waiting
   * out its delay): Service Bus schedules them, Storage Queue hides them
   * until then. Never throws for a send failure: reports it.
   */
  schedule(messages: TaskMessage[], at: Date): Promise<ScheduleReport>;
  /**
   * Up to `max` messages from the queue's dead-letter (poison) queue, where a
   * host may have put a task message after its own retries (Azure Functions
   * does after maxDequeueCount / max delivery count). Absent when the
   * transport has none (its queue is the database).
   */
  readDeadLetters?(max: number): Promise<DeadLetter[]>;
  /**
   * Withdraws messages `schedule` put on the broker for later, by the refs it
   * returned (a cancelled job's retries). Absent when the broker keeps no
   * handle on them (Storage Queue: the hidden message runs into a claim that
   * answers `cancelled`).
   */
  cancelScheduled?(refs: readonly string[]): Promise<void>;
  /** Releases connections. Safe to call twice. */
  close(): Promise<void>;
}

/** One delivery of a message, as a consumer received it. */
export interface ReceivedMessage {
  /** The body as delivered (decoded from base64 where the queue encodes it), for logs and dead-lettering. */
  readonly body: unknown;
  /** The task message, when the body is one. */
  readonly message?: TaskMessage;
  /** Why the body is not a task message (not JSON, wrong fields); set exactly when `message` is not. */
  readonly parseError?: string;
  /** Deliveries of this message so far, this one included (1 on the first). */
  readonly deliveryCount: number;
  /** The broker's id of the message (Service Bus: the task id or `${taskId}:a${attempt}`). */
  readonly messageId: string;
  /**
   * The transport's handle on this delivery: a lock token, a pop receipt (it
   * changes on every renew and deliverLater), a task id. For logs only.
   */
  readonly receipt: string;
  /** Until when this delivery is ours (lock, visibility, lease); `renew` moves it. */
  readonly lockedUntil: Date;
  /**
   * Set when receiving already claimed the task in the database (the local
   * transport): the worker must not claim it again.
   */
  readonly claimed?: { claim: string; attempt: number; taskType: string; parameters: Record<string, unknown> };
}

/**
 * The consumer half: receives deliveries and settles each exactly once. A
 * worker completes (acknowledges) every message of a geo task, whatever the
 * task's outcome: the database owns redelivery. It abandons only a message it
 * never looked at (received while stopping) and dead-letters only a body that
 * is not a task message. Errors are TransportErrors (a lost lock is
 * `LOCK_LOST`, not retryable: the message comes back to another receiver on
 * its own).
 */
export interface TransportConsumer {
  readonly name: TransportName;
  readonly target: string;
  /**
   * True when receiving claims the tasks in the database (the local queue:
   * its task rows are its messages), so a task ready in the database is in
   * the next receive; false for brokers, which deliver in their own time.
   */
  readonly claimsOnReceive: boolean;
  /**
   * Up to `max` deliveries; waits up to `waitMs` for the first one and
   * returns an empty list when none came. A malformed body is delivered with
   * `parseError` set, never dropped: the caller dead-letters it.
   */
  receive(max: number, waitMs: number): Promise<ReceivedMessage[]>;
  /** The work is done: remove the message. */
  complete(m: ReceivedMessage): Promise<void>;
  /** Give it back now, for any receiver (its delivery count grows). */
  abandon(m: ReceivedMessage): Promise<void>;
  /** Never deliver it again: the dead-letter queue (Service Bus), `<queue>-poison` (Storage Queue). */
  deadLetter(m: ReceivedMessage, reason: string, description: string): Promise<void>;
  /** Extends the lock (visibility, lease) by the transport's lock duration; returns the new expiry. */
  renew(m: ReceivedMessage): Promise<Date>;
  /** Stops receiving and releases connections; unsettled deliveries come back when their locks expire. Safe twice. */
  close(): Promise<void>;
}

/** What every consumer is opened with. */
export interface ConsumerOptions {
  /** Names this consumer in the database's leases (the local transport). */
  worker: string;
  /** Lock time for transports where the receiver chooses it (Storage Queue visibility, local lease). */
  leaseSeconds: number;
  /** The job types this worker can run: a transport that claims while receiving (local) takes no task of another. */
  jobTypes: readonly string[];
}
