// Incoming send transfers: decode, apply faults, settle, store, and keep the
// record tests read through transfers().
import type { Delivery, Message } from 'rhea';
import { type DecodedMessage, decodeTransfer, TransferMessageView } from './codec.js';
import type { FaultController, TransferDecision } from './faults.js';
import { outcome, settleIncoming } from './internals.js';
import type { PeerQueue } from './queue.js';
import type { PeerTransfer } from './types.js';

/** The connection a transfer arrived on, as far as settling it is concerned. */
export interface TransferOrigin {
  readonly alive: boolean;
  drop(reason: string): void;
}

const SIZE_EXCEEDED = 'amqp:link:message-size-exceeded';

export class TransferHandler {
  private records: PeerTransfer[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly faults: FaultController,
    private readonly maxMessageSize: number,
    private readonly log: (msg: string) => void,
  ) {}

  transfers(): PeerTransfer[] {
    return [...this.records];
  }

  resetStats(): void {
    this.records = [];
  }

  handle(origin: TransferOrigin, queue: PeerQueue, delivery: Delivery, payload: Message | Buffer, format: number | undefined): void {
    // rhea keeps dispatching the rest of a read buffer after the peer cut the connection.
    if (!origin.alive) return;
    const now = Date.now();
    const record: PeerTransfer = { queue: queue.name, at: now, messages: [], outcome: 'rejected' };
    this.records.push(record);
    let decoded: DecodedMessage[];
    try {
      decoded = decodeTransfer(payload, format);
    } catch (err) {
      this.log(`transfer to ${queue.name} not decodable: ${String(err)}`);
      settleIncoming(delivery, outcome.rejected('amqp:decode-error', String(err)));
      return;
    }
    record.messages = decoded.map((d) => new TransferMessageView(d));
    if (queue.closed) {
      settleIncoming(delivery, outcome.rejected('amqp:not-found', `The messaging entity '${queue.name}' was deleted.`));
      return;
    }
    record.outcome = 'accepted';

    const decision = this.decide(decoded, payload, now);
    if (decision.kind === 'drop') {
      record.outcome = 'dropped';
      origin.drop(`dropConnectionAfterTransfers fault (transfer to ${queue.name} not acknowledged)`);
      return;
    }
    if (decision.kind === 'reject') record.outcome = 'rejected';

    const settle = (): void => {
      // A connection cut while the settlement was delayed never acknowledged the transfer.
      if (!origin.alive) {
        record.outcome = 'dropped';
        return;
      }
      if (decision.kind === 'reject') {
        settleIncoming(delivery, outcome.rejected(decision.condition, decision.description));
        return;
      }
      if (queue.closed) {
        record.outcome = 'rejected';
        settleIncoming(delivery, outcome.rejected('amqp:not-found', `The messaging entity '${queue.name}' was deleted.`));
        return;
      }
      // Stored at settlement time: a rejected or dropped transfer must leave nothing behind.
      queue.enqueue(decoded, Date.now());
      settleIncoming(delivery, outcome.accepted());
    };

    const latency = this.faults.latencyMs;
    if (latency <= 0) {
      settle();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      settle();
    }, latency);
    this.timers.add(timer);
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private decide(decoded: DecodedMessage[], payload: Message | Buffer, now: number): TransferDecision {
    const size = Buffer.isBuffer(payload) ? payload.length : decoded.reduce((sum, m) => sum + m.sizeBytes, 0);
    if (size > this.maxMessageSize) {
      return {
        kind: 'reject',
        condition: SIZE_EXCEEDED,
        description: `The received message (size ${size} bytes) exceeds the limit of ${this.maxMessageSize} bytes.`,
      };
    }
    return this.faults.decide(decoded.length, now);
  }
}
