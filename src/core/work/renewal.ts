import { errorMessage, GeoError } from '../../errors.js';
import { tasksRenew } from '../../store/completion.js';
import type { Queryable } from '../../store/pool.js';
import type { ReceivedMessage, TransportConsumer } from '../../transports/transport.js';

/**
 * Aborted when a held task's claim is found taken over or the worker gives
 * it up. The AbortController behind it is made only if a handler reads its
 * signal: most never do, and one per task costs more than the task.
 */
export class Lost {
  private controller: AbortController | undefined;
  private done = false;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.done) this.controller.abort();
    return this.controller.signal;
  }

  abort(): void {
    this.done = true;
    this.controller?.abort();
  }
}

/** A task this worker holds while its handler runs. */
export interface HeldTask {
  taskId: string;
  /** The claim's token: every renewal and report names it. */
  claim: string;
  /** The delivery, when its message lock must be renewed too (not for deliveries the transport claimed itself). */
  delivery?: ReceivedMessage;
  /** Aborted when the lease is found taken over or the worker gives the task up; it is the handler's TaskContext signal. */
  readonly lost: Lost;
  /** Set once a lost message lock was counted, so it is counted once. */
  lockLost?: boolean;
}

interface Tracked {
  held: HeldTask;
  leaseUntil: number;
  /** The message lock's length as first received (now -> lockedUntil), to renew at half of it. */
  lockMs: number;
}

/**
 * Keeps the claims' leases (geo_renew_tasks, one statement per tick for every
 * task held, each renewal fenced by its claim) and message locks (the consumer's renew) of running tasks alive,
 * renewing each when half of it is left. The SDK's own lock renewal is off,
 * so a lock lives exactly as long as the worker holds the task. A task whose
 * lease another worker took over is aborted and counted; a lock lost is
 * counted, never fatal (the message comes back, and its next claim finds the
 * task finished or takes it over).
 */
export class Renewer {
  private readonly tracked = new Map<HeldTask, Tracked>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;

  constructor(
    private readonly params: {
      db: Queryable;
      consumer: TransportConsumer;
      leaseSeconds: number;
      onLeaseLost: (taskId: string) => void;
      onLockLost: (taskId: string) => void;
      /** `n` leases renewed by one statement. */
      onRenewed?: (n: number) => void;
      onError: (message: string) => void;
    },
  ) {
    const tickMs = Math.max(100, Math.min(1_000, (params.leaseSeconds * 1000) / 4));
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = undefined));
    }, tickMs);
    this.timer.unref();
  }

  /** Starts renewing for a task claimed at `claimedAt` (ms). */
  hold(held: HeldTask, claimedAt: number): void {
    const lockMs = held.delivery ? Math.max(1_000, held.delivery.lockedUntil.getTime() - Date.now()) : 0;
    this.tracked.set(held, { held, leaseUntil: claimedAt + this.params.leaseSeconds * 1000, lockMs });
  }

  release(held: HeldTask): void {
    this.tracked.delete(held);
  }

  /** The grace period is over: every running handler is told through its signal. */
  abortAll(): void {
    for (const t of this.tracked.values()) t.held.lost.abort();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    const leaseMs = this.params.leaseSeconds * 1000;
    const leasesDue = [...this.tracked.values()].filter((t) => t.leaseUntil - now < leaseMs / 2);
    const locksDue = [...this.tracked.values()].filter(
      (t) => t.held.delivery && !t.held.lockLost && t.held.delivery.lockedUntil.getTime() - now < t.lockMs / 2,
    );
    await Promise.all([this.renewLeases(leasesDue, now), ...locksDue.map((t) => this.renewLock(t.held))]);
  }

  private async renewLeases(due: Tracked[], startedAt: number): Promise<void> {
    if (due.length === 0) return;
    const { db, leaseSeconds } = this.params;
    let held: Set<string>;
    try {
      held = await tasksRenew({ db, held: due.map((t) => t.held), leaseSeconds });
    } catch (err) {
      this.params.onError(`renewing ${due.length} task leases failed (they stay valid until they lapse): ${errorMessage(err)}`);
      return;
    }
    this.params.onRenewed?.(held.size);
    for (const t of due) {
      if (!this.tracked.has(t.held)) continue;
      if (held.has(t.held.taskId)) {
        t.leaseUntil = startedAt + leaseSeconds * 1000;
      } else {
        this.tracked.delete(t.held);
        t.held.lost.abort();
        this.params.onLeaseLost(t.held.taskId);
      }
    }
  }

  private async renewLock(held: HeldTask): Promise<void> {
    try {
      await this.params.consumer.renew(held.delivery!);
    } catch (err) {
      if (err instanceof GeoError && err.code === 'LOCK_LOST') {
        if (!held.lockLost) {
          held.lockLost = true;
          this.params.onLockLost(held.taskId);
        }
        return;
      }
      this.params.onError(`renewing the message lock of task ${held.taskId} failed: ${errorMessage(err)}`);
    }
  }
}
