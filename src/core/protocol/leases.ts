import crypto from 'node:crypto';
import { errorMessage } from '../../errors.js';
import { batchesRenewLeases } from '../../store/batches.js';
import type { Queryable } from '../../store/pool.js';
import type { ClaimOwner } from '../../store/stage-completions.js';
import { stagesRenewWriting } from '../../store/stages.js';

/** A fresh owner for the claims of one run: its own token, and the process's session when it has one. */
export function newClaimOwner(session: number | null | undefined): ClaimOwner {
  return { token: crypto.randomUUID(), session: session ?? null };
}

/**
 * The claims of one sending run: every batch it writes or claims carries the
 * run's token, and their leases are renewed every third of the lease while
 * held, so recovery never takes a batch that is in flight. A renewal that
 * finds a batch no longer under this token (the lease lapsed, say during a
 * long pause, and another process took it over) marks it lost: the sender
 * stops retrying it and records nothing for it.
 */
export class LeaseKeeper {
  readonly owner: ClaimOwner;
  private readonly held = new Set<string>();
  private readonly lost = new Set<string>();
  private writing: { jobId: string; stage: number } | undefined;
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly leaseSeconds: number,
    /** The process's session (null: claims are judged by their lease alone). */
    session: number | null | undefined,
    /** Told when a renewal statement fails; the claims stay valid until their lease runs out. */
    private readonly onRenewalError?: (message: string) => void,
  ) {
    this.owner = newClaimOwner(session);
    this.timer = setInterval(() => void this.renew(), (leaseSeconds * 1000) / 3);
    this.timer.unref();
  }

  hold(batchId: string): void {
    this.held.add(batchId);
  }

  release(batchId: string): void {
    this.held.delete(batchId);
  }

  /** Also keeps the writer's lease on a stage being written fresh (see stagesRenewWriting). */
  holdStage(jobId: string, stage: number): void {
    this.writing = { jobId, stage };
  }

  get token(): string {
    return this.owner.token;
  }

  /** Whether a renewal found that another process took this batch over. */
  isLost(batchId: string): boolean {
    return this.lost.has(batchId);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async renew(): Promise<void> {
    if (this.renewing) return;
    const asked = [...this.held];
    const { writing, leaseSeconds } = this;
    this.renewing = Promise.all([
      batchesRenewLeases(this.db, { batchIds: asked, leaseSeconds, claimToken: this.token }),
      writing ? stagesRenewWriting(this.db, { ...writing, leaseSeconds, session: this.owner.session }) : undefined,
    ])
      .then(([kept]) => {
        // A batch released while the statement ran was recorded (or given up) meanwhile: not lost.
        for (const id of asked) if (!kept.has(id) && this.held.has(id)) this.lost.add(id);
      })
      .catch((err: unknown) => this.onRenewalError?.(`could not renew batch leases: ${errorMessage(err)}`))
      .finally(() => {
        this.renewing = undefined;
      });
    await this.renewing;
  }
}
