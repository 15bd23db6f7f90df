// Delivers queue messages to one SDK receiver link and applies its settlements.
import type { Delivery, Sender } from 'rhea';
import { forDelivery } from './codec.js';
import { answerDrainEvenAtZeroCredit, deliveryLimit, isDraining, outcome, outgoingRoom, reclaimStaleHeads, settleOutgoing } from './internals.js';
import type { Lock } from './locks.js';
import type { PeerQueue, QueueConsumer } from './queue.js';

export type SettlementKind = 'accepted' | 'released' | 'modified' | 'rejected';

interface RemoteState {
  undeliverable_here?: boolean;
  message_annotations?: Record<string, unknown>;
  error?: { condition?: string; description?: string; info?: Record<string, unknown> };
}

const LOCK_LOST = 'com.microsoft:message-lock-lost';
const DEAD_LETTER = 'com.microsoft:dead-letter';

export class Consumer implements QueueConsumer {
  // Credit is tracked as absolute delivery counts: rhea lowers link.credit only
  // when a transfer is written (next tick), so counting our own sends is the
  // only way not to over-send within one tick.
  private sent = 0;
  private limit = 0;
  private readonly locks = new WeakMap<Delivery, Lock>();
  private readonly receiveAndDelete: boolean;
  private active = true;

  constructor(
    readonly link: Sender,
    readonly queue: PeerQueue,
  ) {
    // snd-settle-mode settled (1) is how the SDK asks for receiveAndDelete.
    this.receiveAndDelete = link.snd_settle_mode === 1;
    answerDrainEvenAtZeroCredit(link);
    queue.consumers.add(this);
  }

  onFlow(): void {
    this.limit = deliveryLimit(this.link);
    this.fill();
  }

  fill(): void {
    if (!this.active) return;
    let room = outgoingRoom(this.link);
    if (room === 0) room += reclaimStaleHeads(this.link, (d) => !this.locks.get(d)?.held);
    const now = Date.now();
    while (this.sent < this.limit && room > 0) {
      const m = this.queue.take();
      if (!m) break;
      m.deliveryCount += 1;
      const stamp = { sequenceNumber: m.seq, enqueuedAt: m.enqueuedAt, deliveryCount: m.deliveryCount };
      if (this.receiveAndDelete) {
        this.link.send(forDelivery(m.decoded.msg, stamp));
      } else {
        const lock = this.queue.locks.acquire(m, now);
        const delivery = this.link.send(forDelivery(m.decoded.msg, { ...stamp, lockedUntil: lock.lockedUntil }), lock.tag);
        lock.delivery = delivery;
        this.locks.set(delivery, lock);
      }
      this.sent += 1;
      room -= 1;
    }
    // receiveMessages() waits for its drain to be answered when fewer messages exist than it asked for.
    if (isDraining(this.link) && this.sent < this.limit && !this.queue.hasAvailable()) {
      this.link.set_drained(true);
      this.sent = this.limit;
    }
  }

  /** The client's disposition (receive-settle-mode second): apply it, then answer with a settled one. */
  onSettlement(delivery: Delivery, kind: SettlementKind): void {
    const lock = this.locks.get(delivery);
    if (!lock) return;
    this.locks.delete(delivery);
    if (!lock.held) {
      settleOutgoing(delivery, outcome.rejected(LOCK_LOST, 'The lock supplied is invalid: it expired or the message was already settled.'));
      return;
    }
    const state = (delivery.remote_state ?? {}) as RemoteState;
    switch (kind) {
      case 'accepted':
        this.queue.complete(lock);
        settleOutgoing(delivery, outcome.accepted());
        return;
      case 'released':
        this.queue.abandon(lock);
        settleOutgoing(delivery, outcome.released());
        return;
      case 'modified':
        // The SDK sends defer as modified with undeliverable-here, abandon without it.
        if (state.undeliverable_here) this.queue.defer(lock);
        else this.queue.abandon(lock, state.message_annotations);
        settleOutgoing(delivery, outcome.modified({ undeliverable_here: state.undeliverable_here === true }));
        return;
      case 'rejected': {
        const info = state.error?.condition === DEAD_LETTER ? state.error.info : undefined;
        const reason = typeof info?.DeadLetterReason === 'string' ? info.DeadLetterReason : undefined;
        const description = typeof info?.DeadLetterErrorDescription === 'string' ? info.DeadLetterErrorDescription : undefined;
        this.queue.deadLetterLocked(lock, reason, description);
        settleOutgoing(delivery, outcome.rejected());
        return;
      }
    }
  }

  /** Link or connection gone: stop delivering. Locks stay until they expire, as on the broker. */
  close(): void {
    this.active = false;
    this.queue.consumers.delete(this);
  }

  detach(condition: string, description: string): void {
    this.close();
    this.link.close({ condition, description });
  }
}
