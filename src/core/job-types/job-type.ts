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
}

export interface StageInputs {
  /** Streams the tasks of `stage` with their results, in index order. */
  results(stage: number): AsyncIterable<TaskOutcome>;
}

export interface StageDefinition<P> {
  stage: number;
  name: string;
  taskType: string;
  /** The stage whose results this stage is built from, if any. */
  inputStage?: number;
  taskCount(params: P): number;
  /** Streams the stage's tasks in index order; never materialises them all. */
  tasks(params: P, inputs: StageInputs): AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>;
}

export interface JobType<P extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  description: string;
  /** Validates and normalises parameters given as strings (`--param k=v`) or values. */
  params: z.ZodType<P>;
  stages: StageDefinition<P>[];
  /** Task handlers by task type, for consumers (`geo work`). */
  handlers: Record<string, (parameters: Record<string, unknown>) => unknown | Promise<unknown>>;
}
