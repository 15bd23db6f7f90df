import { batchesRenewLeases } from '../store/batches.js';
import type { Queryable } from '../store/pool.js';

/**
 * Keeps the leases of the batches a live process is sending fresh (every
 * third of the lease), so recovery never takes a batch that is in flight.
 */
export class LeaseKeeper {
  private readonly held = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(db: Queryable, leaseSeconds: number) {
    this.timer = setInterval(() => {
      // A missed renewal is harmless unless it repeats for a whole lease; the
      // batch then simply becomes recoverable, which the protocol allows.
      batchesRenewLeases(db, { batchIds: [...this.held], leaseSeconds }).catch(() => undefined);
    }, (leaseSeconds * 1000) / 3);
    this.timer.unref();
  }

  hold(batchId: string): void {
    this.held.add(batchId);
  }

  release(batchId: string): void {
    this.held.delete(batchId);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
