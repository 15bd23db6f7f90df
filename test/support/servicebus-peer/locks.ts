// peekLock locks: one table per queue, keyed by delivery tag, expiring in order.
import { randomBytes } from 'node:crypto';
import type { Delivery } from 'rhea';
import type { DecodedMessage } from './codec.js';

export interface QueuedMessage {
  readonly seq: number;
  readonly enqueuedAt: number;
  /** Replaced, never mutated, when a settlement changes properties: transfers() shares the original. */
  decoded: DecodedMessage;
  /** Times handed to a receiver; the SDK shows 1 on the first delivery. */
  deliveryCount: number;
}

export interface Lock {
  readonly key: string;
  readonly tag: Buffer;
  readonly message: QueuedMessage;
  lockedUntil: number;
  /** False once completed, abandoned, expired or purged: a late settlement gets message-lock-lost. */
  held: boolean;
  delivery?: Delivery;
}

// Tags only need to be unique: a per-process random half and a counter are
// far cheaper than a random uuid per message.
const tagPrefix = randomBytes(8);
let tagCounter = 0;

function nextTag(): Buffer {
  const tag = Buffer.allocUnsafe(16);
  tagCounter += 1;
  tag.writeUInt32BE(Math.floor(tagCounter / 0x1_0000_0000), 0);
  tag.writeUInt32BE(tagCounter >>> 0, 4);
  tagPrefix.copy(tag, 8);
  return tag;
}

/**
 * The SDK turns the 16-byte delivery tag into the lock token using .NET Guid
 * byte order (bytes 0-3, 4-5 and 6-7 reversed); the swap is its own inverse.
 */
function swapGuidOrder(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  out.writeUInt32LE(bytes.readUInt32BE(0), 0);
  out.writeUInt16LE(bytes.readUInt16BE(4), 4);
  out.writeUInt16LE(bytes.readUInt16BE(6), 6);
  return out;
}

/** Lock token as the SDK shows it (receivedMessage.lockToken) -> table key. */
export function keyFromLockToken(token: string | Buffer): string {
  const bytes = typeof token === 'string' ? Buffer.from(token.replace(/-/g, ''), 'hex') : token;
  return swapGuidOrder(bytes).toString('hex');
}

export class LockTable {
  // Insertion order is expiry order because the duration is fixed per queue
  // and a renewal re-inserts at the end: sweeping only ever looks at the head.
  private readonly locks = new Map<string, Lock>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly durationMs: number,
    private readonly onExpire: (lock: Lock) => void,
  ) {}

  get size(): number {
    return this.locks.size;
  }

  acquire(message: QueuedMessage, now: number): Lock {
    const tag = nextTag();
    const lock: Lock = { key: tag.toString('hex'), tag, message, lockedUntil: now + this.durationMs, held: true };
    this.locks.set(lock.key, lock);
    this.schedule(lock.lockedUntil);
    return lock;
  }

  get(key: string): Lock | undefined {
    return this.locks.get(key);
  }

  renew(lock: Lock, now: number): number {
    this.locks.delete(lock.key);
    lock.lockedUntil = now + this.durationMs;
    this.locks.set(lock.key, lock);
    this.schedule(lock.lockedUntil);
    return lock.lockedUntil;
  }

  release(lock: Lock): void {
    lock.held = false;
    this.locks.delete(lock.key);
  }

  messages(): QueuedMessage[] {
    return [...this.locks.values()].map((l) => l.message);
  }

  /** Held locks in expiry order. */
  held(): Lock[] {
    return [...this.locks.values()];
  }

  clear(): void {
    for (const lock of this.locks.values()) lock.held = false;
    this.locks.clear();
  }

  dispose(): void {
    this.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private schedule(at: number): void {
    if (at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    for (const lock of this.locks.values()) {
      if (lock.lockedUntil > now) {
        this.schedule(lock.lockedUntil);
        return;
      }
      this.release(lock);
      this.onExpire(lock);
    }
  }
}
