import type { Destination } from '../../config/destinations.js';
import type { AwaitingJob, TaskHolder, UnservedJob } from '../../store/holders.js';
import type { Advancement } from '../advance.js';
import type { Notify, WorkEvents } from '../events.js';
import type { SendPolicy } from '../protocol/send.js';
import type { Stopping } from './stopping.js';
import type { WorkCounts } from './tally.js';

/** The most claimed tasks a worker holds beyond its running handlers, unless told otherwise (--prefetch). */
export const DEFAULT_MAX_PREFETCH = 1_000;

export interface WorkOptions {
  /** Names this worker in task claims: its session's worker name. */
  worker: string;
  /** This process's session (core/session.ts): its claims are freed at once if it dies. */
  session?: number | null;
  /** Handlers running at once: never more. */
  concurrency: number;
  /**
   * The most claimed tasks held beyond the running handlers. The prefetch
   * adapts below it to how long handlers take: none while they take seconds
   * (so slow work spreads over workers), up to this for fast ones.
   */
  maxPrefetch: number;
  /** Task lease (and Storage Queue visibility) length; renewed while a handler runs. */
  leaseSeconds: number;
  /** After a stop request, how long tasks in flight may still finish before they are given back. */
  graceMs: number;
  /**
   * The queue this worker receives from (its transport's destination). With
   * `untilIdle`, tasks of the jobs sent there whose message may still come
   * back keep the worker; absent, only the database's own queue is waited for.
   */
  destination?: Destination;
  /** Stop once nothing arrived for `idleMs` and nothing is left that this worker could run or wait for. */
  untilIdle: boolean;
  idleMs: number;
  /** Stop receiving after this many tasks were claimed. */
  maxTasks?: number;
  /** Only advance finished stages and sweep; receive nothing. */
  advanceOnly: boolean;
  /** Stage advancement and the sweep run at least this often. Default 5 s. */
  backstopMs?: number;
  /**
   * How stage advancement and the sweep queue and send. Their lease (on the
   * outbox row and the next stage's batches, GEO_LEASE_SECONDS) is the
   * sender's, not the task lease: queueing a large stage takes longer than a
   * short task lease.
   */
  advance: { batchSize: number; concurrency: number; leaseSeconds: number; sendPolicy?: SendPolicy };
  /** The transport this worker serves, for what --until-idle counts as left. */
  transport: string;
  /** Aborting it asks the worker to stop (SIGINT, SIGTERM). */
  signal?: AbortSignal;
  /** Called after each settled task with the counts so far. */
  onProgress?: (counts: Readonly<WorkCounts>) => void;
  /** Things worth a log line: lost locks, failed renewals, dead workers found. */
  onNotice?: Notify;
  /** Observers: metrics, log lines of notable events, trace spans (core/events.ts). */
  events?: WorkEvents;
}

export interface WorkSummary extends WorkCounts {
  advanced: Advancement[];
  elapsedMs: number;
  /** Tasks claimed per second over the run. */
  tasksPerSecond: number;
  /** Why receiving stopped. */
  stoppedBy: Stopping['reason'];
  /**
   * With --until-idle: tasks other workers still held when this one stopped,
   * under leases no live geo session vouches for. The job cannot finish
   * before they end; the command exits 1.
   */
  heldByOthers: TaskHolder[];
  /** With --until-idle: running jobs of job types this worker has no module for (the command exits 1). */
  jobsNotServed: UnservedJob[];
  /**
   * With --until-idle on a broker: tasks, per job, still waiting for a receive
   * when the worker stopped, whose message did not come within the wait
   * (nothing changed for the lease, or longest message lock, plus --idle).
   * Their messages are taken to be gone; the command exits 1.
   */
  unreceived: AwaitingJob[];
}
