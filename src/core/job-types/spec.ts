import type { z } from 'zod';
import type { RetryPolicy, TaskContext, TaskOutcome } from './job-type.js';

/**
 * The public shape of a job type, as `defineJobType` takes it. `P` is the
 * parsed parameters, `I` a validated input item.
 */
export interface JobTypeSpec<P extends Record<string, unknown> = Record<string, never>, I = never> {
  /** Lower case letters, digits, `_` and `-`, starting with a letter: `scene_footprints`. */
  name: string;
  description?: string;
  /**
   * Validates `--param key=value` (values arrive as text) and `--n`. geo
   * stores the parsed value and parses it again when the job resumes, so
   * the schema must accept its own output. Default: no parameters.
   */
  params?: z.ZodType<P>;
  /** Present when stage 1 has one task per item (`geo submit <type> --input FILE`). */
  items?: ItemsSpec<P, I>;
  /** In order: stage 1 first. */
  stages: Array<StageSpec<P, I>>;
  /** The job's own result, computed once its last stage has completed. */
  result?(params: P, inputs: JobResultInputs): unknown;
}

export interface ItemsSpec<P, I> {
  /** One NDJSON line or CSV row; a CSV file's header must name this object's fields. */
  schema: z.ZodType<I>;
  /** The task key: unique within the job (a second item with the same key is reported and skipped). */
  key(item: I): string;
  /** Items described by parameters instead of a file (tiles of a bounding box); undefined when the parameters describe none. */
  fromParams?(params: P): { count: number; items(): Iterable<I> | AsyncIterable<I> } | undefined;
  /** How to describe items with parameters, for messages: `--param bbox=... --param zoom=Z`. */
  paramsHint?: string;
}

/** A task as a stage builder makes it. */
export interface TaskSpec {
  key: string;
  parameters: Record<string, unknown>;
}

export type Handler = (parameters: Record<string, unknown>, context: TaskContext) => unknown;

interface StageCommon {
  /** Lower case, as the job type's name. */
  name: string;
  /** The `taskType` of the stage's messages; default: the stage name. Unique within the job type. */
  taskType?: string;
  description?: string;
  /** What `geo work` runs for each task; the return value (JSON) is the task's result. */
  handler: Handler;
  retry?: Partial<RetryPolicy>;
  /** Permanently failed tasks do not fail the job. */
  acceptPartial?: boolean;
}

/** A fixed number of tasks computed from the parameters (hello_world's greetings). */
export interface ParamsStageSpec<P> extends StageCommon {
  from: 'params';
  count(params: P): number;
  /** Exactly `count` tasks, in order; each key unique within the stage. */
  tasks(params: P): Iterable<TaskSpec> | AsyncIterable<TaskSpec>;
}

/** Stage 1 only: one task per item. */
export interface ItemsStageSpec<P, I> extends StageCommon {
  from: 'items';
  /** The task's parameters; default: the item itself. */
  task?(item: I, params: P): Record<string, unknown>;
}

/** One task per task of an earlier stage, built from its result. */
export interface ResultsStageSpec<P> extends StageCommon {
  from: 'results';
  /** The stage whose results this one is built from; default: the one before. */
  stage?: number;
  task(outcome: TaskOutcome, params: P): Record<string, unknown>;
  /** Default: `<taskType>-<index of the input task>`. */
  key?(outcome: TaskOutcome, params: P): string;
}

export type StageSpec<P, I> = ParamsStageSpec<P> | ItemsStageSpec<P, I> | ResultsStageSpec<P>;

export interface JobResultInputs {
  /** Streams a stage's tasks with their results in order; default: the last stage. */
  results(stage?: number): AsyncIterable<TaskOutcome>;
}
