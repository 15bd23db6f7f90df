import type { z } from 'zod';

/** One task as a job type defines it; ids and batches are derived from it. */
export interface TaskDefinition {
  /** Semantic index within the stage: 0..taskCount-1, produced in order. */
  index: number;
  /** Semantic key, unique in the stage (`greet-17`). */
  key: string;
  parameters: Record<string, unknown>;
}

/** A finished task of an earlier stage, as a later stage's input. */
export interface TaskOutcome {
  taskIndex: number;
  taskId: string;
  status: string;
  result: unknown;
  error?: string | null;
}

export interface StageInputs {
  /** Streams the tasks of `stage` with their results, in index order. */
  results(stage: number): AsyncIterable<TaskOutcome>;
  /**
   * The job's validated input items in order, a chunk at a time (`geo submit
   * --input`), when the caller has them. Absent when the stage is rebuilt
   * without the input file.
   */
  items?(): AsyncIterable<unknown[]>;
}

/** What a stage's task count may depend on besides the parameters. */
export interface StageSizes {
  /** Number of validated input items, when the caller has the input. */
  itemCount?: number;
  /** The stored task count of a stage of this job, if that stage was created. */
  taskCountOf?(stage: number): Promise<number | undefined>;
}

/** How often and how soon a failed task is tried again (geo_fail_task reads it from its stage row). */
export interface RetryPolicy {
  /** Retries after the first attempt; 3 means at most 4 attempts. */
  maxRetries: number;
  /** Delay before retry n is baseMs x 2^(n-1), with jitter, capped at maxMs. */
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 3, baseMs: 5_000, maxMs: 300_000 };

/** What a handler gets besides the task's parameters. */
export interface TaskContext {
  taskId: string;
  jobId: string;
  stage: number;
  /** 1 on the first attempt. */
  attempt: number;
  /** Aborted when the worker is stopping or the task's lease was lost. */
  signal: AbortSignal;
}

/**
 * Thrown by a handler for an error that another attempt cannot fix (bad
 * parameters, a missing input): the task fails at once, without retries.
 */
export class PermanentTaskError extends Error {
  override readonly name = 'PermanentTaskError';
}

export type TaskHandler = (parameters: Record<string, unknown>, context: TaskContext) => unknown | Promise<unknown>;

export interface StageDefinition<P> {
  stage: number;
  name: string;
  taskType: string;
  /** The stage whose results this stage is built from, if any. */
  inputStage?: number;
  /** What the stage's tasks are built from (shown by `geo types`). */
  source?: 'params' | 'items' | 'results';
  taskCount(params: P, sizes?: StageSizes): number | Promise<number>;
  /** Streams the stage's tasks in index order; never materialises them all. */
  tasks(params: P, inputs: StageInputs): AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>;
  /** What `geo work` runs for each task of this stage; its return value is the task's result (JSON). */
  handler: TaskHandler;
  retry?: Partial<RetryPolicy>;
  /** Permanently failed tasks do not fail the job (the stage still completes). */
  acceptPartial?: boolean;
}

/** A job type whose first stage has one task per item (`geo submit --input`, or items generated from params). */
export interface JobItems<P> {
  /** Validates one item (an NDJSON line or a CSV row); the output is what the task is built from. */
  schema: z.ZodType<unknown>;
  /** The task key of a validated item; unique within the job. */
  key(item: unknown): string;
  /** The stage-1 task parameters of a validated item; absent: the item itself. */
  parameters?(item: unknown, params: P): Record<string, unknown>;
  /** Items described by the parameters (no input file), or undefined when the parameters describe none. */
  fromParams?(params: P): { count: number; items(): Iterable<unknown> | AsyncIterable<unknown> } | undefined;
  /** How to describe items with parameters (for messages). */
  paramsHint?: string;
}

export interface JobType<P extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  description: string;
  /** Validates and normalises parameters given as strings (`--param k=v`) or values. */
  params: z.ZodType<P>;
  /** Present when stage 1 is built from items. */
  items?: JobItems<P>;
  stages: StageDefinition<P>[];
  /** The job's own result once its last stage has completed; default: none. */
  result?(params: P, inputs: StageInputs): Promise<unknown>;
}

/** The stage's retry policy with the defaults filled in. */
export function retryPolicyOf(stage: Pick<StageDefinition<never>, 'retry'>): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...stage.retry };
}
