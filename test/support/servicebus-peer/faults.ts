// Fault injection state. The peer asks decide() once per incoming transfer;
// connection refusal is delegated to the listener.
import { seededRandom } from '../random.js';
import type { PeerFaults } from './types.js';

export type TransferDecision = { kind: 'accept' } | { kind: 'reject'; condition: string; description: string } | { kind: 'drop' };

const SERVER_BUSY = 'com.microsoft:server-busy';

export class FaultController implements PeerFaults {
  latencyMs = 0;
  private rejectNext: { remaining: number; condition: string; description: string } | undefined;
  private random: { fraction: number; condition: string; next: () => number } | undefined;
  private acceptedBeforeDrop: number | undefined;
  private bucket: { rate: number; tokens: number; refilledAt: number } | undefined;

  constructor(
    private readonly setRefusing: (on: boolean) => void,
    private readonly log: (msg: string) => void,
  ) {}

  rejectNextTransfers(n: number, condition: string, description?: string): void {
    this.rejectNext = n > 0 ? { remaining: n, condition, description: description ?? `Injected fault: ${condition}` } : undefined;
  }

  rejectTransfersRandomly(fraction: number, condition: string, seed?: number): void {
    this.random = fraction > 0 ? { fraction, condition, next: seededRandom(seed ?? Date.now()) } : undefined;
  }

  dropConnectionAfterTransfers(n: number): void {
    this.acceptedBeforeDrop = Math.max(0, n);
  }

  setLatencyMs(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  /**
   * A transfer is admitted when the bucket holds min(messages, rate) tokens and
   * then costs all its messages (the bucket may go negative), so a batch larger
   * than the per-second rate still gets through, just not more often than the rate allows.
   */
  throttle(messagesPerSecond: number | null): void {
    this.bucket = messagesPerSecond && messagesPerSecond > 0 ? { rate: messagesPerSecond, tokens: messagesPerSecond, refilledAt: Date.now() } : undefined;
  }

  refuseConnections(on: boolean): void {
    this.log(`faults: refuseConnections(${on})`);
    this.setRefusing(on);
  }

  clear(): void {
    this.rejectNext = undefined;
    this.random = undefined;
    this.acceptedBeforeDrop = undefined;
    this.bucket = undefined;
    this.latencyMs = 0;
    this.setRefusing(false);
  }

  decide(messageCount: number, now: number): TransferDecision {
    if (this.acceptedBeforeDrop === 0) {
      this.acceptedBeforeDrop = undefined;
      return { kind: 'drop' };
    }
    if (this.rejectNext) {
      const { condition, description } = this.rejectNext;
      this.rejectNext.remaining -= 1;
      if (this.rejectNext.remaining <= 0) this.rejectNext = undefined;
      return { kind: 'reject', condition, description };
    }
    if (this.random && this.random.next() < this.random.fraction) {
      return { kind: 'reject', condition: this.random.condition, description: `Injected random fault: ${this.random.condition}` };
    }
    if (this.bucket && !this.take(this.bucket, messageCount, now)) {
      return { kind: 'reject', condition: SERVER_BUSY, description: `Throttled: more than ${this.bucket.rate} messages per second.` };
    }
    if (this.acceptedBeforeDrop !== undefined) this.acceptedBeforeDrop -= 1;
    return { kind: 'accept' };
  }

  private take(bucket: { rate: number; tokens: number; refilledAt: number }, count: number, now: number): boolean {
    bucket.tokens = Math.min(bucket.rate, bucket.tokens + ((now - bucket.refilledAt) / 1000) * bucket.rate);
    bucket.refilledAt = now;
    if (bucket.tokens < Math.min(count, bucket.rate)) return false;
    bucket.tokens -= count;
    return true;
  }
}
