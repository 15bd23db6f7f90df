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

/**
 * A queue that task messages go to. Implementations translate their SDK's
 * errors into TransportError (retryable, throttled or permanent) at this
 * boundary and know nothing about PostgreSQL.
 */
export interface Transport {
  readonly name: TransportName;
  /**
   * True when messages live in geo's own database and are written in the same
   * transaction as the tasks (the `local` transport): no send step exists.
   */
  readonly inDatabase: boolean;
  /** Human-readable target, safe to print (never a key). */
  readonly target: string;
  /** Sends one batch of at most 100 messages. Never throws for a send failure: reports it. */
  send(messages: TaskMessage[]): Promise<SendReport>;
  /** Releases connections. Safe to call twice. */
  close(): Promise<void>;
}
