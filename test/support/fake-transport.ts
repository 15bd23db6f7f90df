import type { TransportName } from '../../src/config/index.js';
import { TransportError } from '../../src/errors.js';
import type { TaskMessage } from '../../src/transports/message.js';
import type { ScheduleReport, SendReport, TransportProducer } from '../../src/transports/transport.js';

/**
 * A transport for pure-logic tests of the batch protocol: records what it
 * was given and fails on demand. Never a substitute for the real transports'
 * integration tests.
 */
export class FakeTransport implements TransportProducer {
  readonly writesWithTasks = false;
  readonly target = 'the fake queue';
  readonly sent: TaskMessage[][] = [];
  /**
   * Called on each send with its number (1, 2, ... in call order, failures
   * included); throw or return a report to override the default success.
   */
  onSend?: (messages: TaskMessage[], sendNumber: number) => SendReport | undefined | Promise<SendReport | undefined>;
  private calls = 0;

  constructor(readonly name: TransportName = 'servicebus') {}

  async send(messages: TaskMessage[]): Promise<SendReport> {
    const override = await this.onSend?.(messages, ++this.calls);
    if (override) return override;
    this.sent.push(messages);
    return { acknowledged: messages.map((m) => m.taskId), rejected: [] };
  }

  async schedule(messages: TaskMessage[]): Promise<ScheduleReport> {
    return { ...(await this.send(messages)), refs: new Map() };
  }

  async close(): Promise<void> {}

  /** Every task id acknowledged so far. */
  sentTaskIds(): string[] {
    return this.sent.flat().map((m) => m.taskId);
  }
}

export function permanentError(message = 'unauthorized'): TransportError {
  return new TransportError('SEND_FAILED', message, { retryable: false });
}

export function busyError(message = 'server busy'): TransportError {
  return new TransportError('SERVICEBUS_BUSY', message, { retryable: true, throttled: true });
}
