import type { GeoError } from '../errors.js';

/**
 * Hooks through which the core tells observers (metrics, logs, traces) what
 * it does, without knowing who listens: src/observability builds them from
 * prom-client, pino and OpenTelemetry, and the CLI passes them in. Every hook
 * is optional, called synchronously where the thing happened, never awaited.
 * Per-task hooks take plain arguments, so a hook nobody set costs one
 * property read and no allocation.
 */

/** Values a span carries; undefined ones are left out. */
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** A span in progress. Ended once: with the error that ended it, if any, and what was learnt by the end. */
export interface TraceSpan {
  end(error?: string, attributes?: SpanAttributes): void;
}

/** Starts a span, a child of `parent` when given. */
export type StartSpan = (name: string, attributes: SpanAttributes, parent?: TraceSpan) => TraceSpan;

/** What the batch protocol (core/protocol/) tells. */
export interface DispatchEvents {
  /** One `geo.batch` span per batch, its write, send and record steps as child spans. */
  startSpan?: StartSpan;
}

/** A failed attempt, as the log tells it. */
export interface FailedTaskDetail {
  taskId: string;
  jobId: string;
  attempt: number;
  error: string;
  /** When geo delivers the task again; null when it failed for good. */
  retryAt: Date | null;
}

/** What a worker (core/work/) tells, besides its notices. */
export interface WorkEvents extends DispatchEvents {
  /** A task claimed by this worker (to run it, or to give it back to a worker that serves its job type). */
  taskClaimed?(jobType: string): void;
  /** The database recorded a task completed; `ms` is how long its handler ran. */
  taskCompleted?(jobType: string, ms: number): void;
  /** The database recorded a failed attempt: `retry` when geo delivers the task again, else it failed for good. */
  taskFailed?(jobType: string, retry: boolean, ms: number, detail: FailedTaskDetail): void;
  /** `n` task leases renewed by one statement. */
  leaseRenewed?(n: number): void;
  /** A task's claim was found taken over while its handler ran. */
  leaseLost?(): void;
  /** A message lock was lost (a settlement or renewal refused). */
  lockLost?(): void;
  /** A finished stage was handled: the next one queued, the job ended, or a retry scheduled. */
  stageAdvanced?(advancement: Advancement): void;
  /**
   * The database said a job changed (geo_job_changed). From this call on, no
   * task of it held here starts until a read shows the job still running; a
   * job that ended or paused has its held tasks given back.
   */
  jobChangeHeard?(jobId: string): void;
}

/**
 * What a notice is about, for a log line: a stable event name (snake_case)
 * and facts worth a field of their own. The message says it in words.
 */
export interface NoticeDetail {
  event: string;
  [field: string]: string | number | boolean | undefined;
}

/** A notice: a line for an operator, with what it is about when the caller knows. */
export type Notify = (message: string, detail?: NoticeDetail) => void;

/** What handling one finished stage did. */
export interface Advancement {
  jobId: string;
  stage: number;
  action: 'queued-next-stage' | 'job-completed' | 'job-failed' | 'already-ended' | 'retry-later';
  nextStage?: number;
  /** Tasks written for the next stage. */
  queuedTasks?: number;
  /** Why it failed (job-failed) or must be tried again (retry-later). */
  error?: GeoError;
  /** With retry-later: when the next attempt may start. */
  retryAt?: Date;
}
