// Queue registry and link-address resolution (entity names are case-insensitive).
import { entityPath } from './cbs.js';
import { PeerQueue } from './queue.js';
import type { PeerQueueOptions, PeerQueueView } from './types.js';

export interface ResolvedAddress {
  queue: PeerQueue;
  /** `<queue>/$management` rather than the queue itself. */
  management: boolean;
}

const MANAGEMENT = '/$management';
const DEAD_LETTER = '/$deadletterqueue';

export class QueueRegistry {
  private readonly queues = new Map<string, PeerQueue>();

  create(name: string, opts: PeerQueueOptions = {}): PeerQueue {
    const key = entityPath(name);
    if (!key || key.includes('/')) throw new Error(`invalid queue name '${name}'`);
    if (this.queues.has(key)) throw new Error(`queue '${name}' already exists`);
    const queue = new PeerQueue(name, opts);
    this.queues.set(key, queue);
    return queue;
  }

  /** Links still attached to the queue are detached with amqp:not-found, as after a real delete. */
  delete(name: string): void {
    const key = entityPath(name);
    const queue = this.queues.get(key);
    if (!queue) throw new Error(`queue '${name}' does not exist`);
    this.queues.delete(key);
    queue.dispose('amqp:not-found', `The messaging entity '${name}' was deleted.`);
  }

  get(name: string): PeerQueue {
    const queue = this.queues.get(entityPath(name));
    if (!queue) throw new Error(`queue '${name}' does not exist`);
    return queue;
  }

  /** 'q', 'q/$management', 'q/$DeadLetterQueue' and 'q/$DeadLetterQueue/$management'. */
  resolve(address: string | undefined): ResolvedAddress | undefined {
    if (address === undefined) return undefined;
    let path = entityPath(address);
    const management = path.endsWith(MANAGEMENT);
    if (management) path = path.slice(0, -MANAGEMENT.length);
    const deadLetter = path.endsWith(DEAD_LETTER);
    if (deadLetter) path = path.slice(0, -DEAD_LETTER.length);
    const base = this.queues.get(path);
    const queue = deadLetter ? base?.deadLetter : base;
    return queue ? { queue, management } : undefined;
  }

  view(name: string): PeerQueueView {
    const queue = this.get(name);
    return {
      activeCount: () => queue.activeCount(),
      deadLetterCount: () => queue.deadLetter?.activeCount() ?? 0,
      messageIds: () => queue.messageIds(),
      deadLetterIds: () => queue.deadLetter?.messageIds() ?? [],
      deadLetters: () => queue.deadLetters(),
      locks: () =>
        queue.locks.held().map((l) => ({ messageId: l.message.decoded.messageId, lockedUntil: l.lockedUntil, deliveryCount: l.message.deliveryCount })),
      scheduledIds: () => queue.scheduledIds(),
      duplicatesDropped: () => queue.duplicatesDropped(),
      purge: () => queue.purge(),
    };
  }

  resetStats(): void {
    for (const queue of this.queues.values()) queue.resetStats();
  }

  dispose(): void {
    for (const queue of this.queues.values()) queue.dispose('amqp:connection:forced', 'The test peer is shutting down.');
    this.queues.clear();
  }
}
