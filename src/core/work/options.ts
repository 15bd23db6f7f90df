import crypto from 'node:crypto';
import os from 'node:os';
import type { Advancement } from '../advance.js';
import type { SendPolicy } from '../send-batch.js';
import type { Stopping } from './stopping.js';
import type { WorkCounts } from './tally.js';

export interface WorkOptions {
  /** Names this worker in task leases; unique per process (workerName()). */
  worker: string;
  /** Handlers running at once. */
  concurrency: number;
  /** Task lease (and Storage Queue visibility) length; renewed while a handler runs. */
  leaseSeconds: number;
  /** After a stop request, how long tasks in flight may still finish before they are given back. */
  graceMs: number;
  /** Stop once nothing arrived for `idleMs`, nothing is in flight or due for retry here, and no stage waits to advance. */
  untilIdle: boolean;
  idleMs: number;
  /** Stop receiving after this many tasks were claimed. */
  maxTasks?: number;
  /** Only advance finished stages; receive nothing. */
  advanceOnly: boolean;
  /** Largest group a transport that claims while receiving (local) is asked for. Default 1,000; sized down for slow handlers. */
  groupSize?: number;
  /** Stage advancement runs at least this often. Default 5 s. */
  backstopMs?: number;
  /**
   * How stage advancement queues next stages. Its lease (on the outbox row
   * and the next stage's batches, GEO_LEASE_SECONDS) is the sender's, not the
   * task lease: queueing a large stage takes longer than a short task lease.
   */
  advance: { batchSize: number; concurrency: number; leaseSeconds: number; sendPolicy?: SendPolicy };
  /** Aborting it asks the worker to stop (SIGINT, SIGTERM). */
  signal?: AbortSignal;
  /** Called after each settled delivery or group with the counts so far. */
  onProgress?: (counts: Readonly<WorkCounts>) => void;
  /** Things worth a line on stderr: lost locks, failed renewals. */
  onNotice?: (message: string) => void;
}

export interface WorkSummary extends WorkCounts {
  advanced: Advancement[];
  elapsedMs: number;
  /** Tasks claimed per second over the run. */
  tasksPerSecond: number;
  /** Why receiving stopped. */
  stoppedBy: Stopping['reason'];
}

/** A worker name unique to this process: host, pid, and a random tag (pids are reused across hosts and restarts). */
export function workerName(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
}
