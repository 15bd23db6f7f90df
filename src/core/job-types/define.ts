import { z } from 'zod';
import { GeoError, InputError, JobTypeError } from '../../errors.js';
import { humanIssue } from './issues.js';
import type { JobItems, JobType, StageDefinition, StageInputs, StageSizes, TaskDefinition } from './job-type.js';
import type { ItemsSpec, JobTypeSpec, StageSpec, TaskSpec } from './spec.js';
import { assertTaskKey } from './task-key.js';

/** Marks what defineJobType made, across copies of geo (Symbol.for is process-wide). */
export const JOB_TYPE_BRAND = Symbol.for('geo.job-type');

/** A job type as defineJobType returns it: export it from a module given to `--job-types`. */
export type DefinedJobType<P extends Record<string, unknown> = Record<string, unknown>> = JobType<P> & { readonly [JOB_TYPE_BRAND]: true };

export function isDefinedJobType(value: unknown): value is DefinedJobType {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[JOB_TYPE_BRAND] === true;
}

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const nameField = z.string().regex(NAME, { error: 'must be lower case letters, digits, _ or -, starting with a letter' });
const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { error: 'must be a function' });
const schema = z.custom<z.ZodType>((v) => typeof (v as { safeParse?: unknown } | null)?.safeParse === 'function', {
  error: 'must be a zod schema (import { z } from "geo/job-types")',
});
const retry = z
  .object({
    maxRetries: z.int().min(0).max(100).optional(),
    baseMs: z.int().min(0).max(86_400_000).optional(),
    maxMs: z.int().min(0).max(86_400_000).optional(),
  })
  .strict();
const common = {
  name: nameField,
  taskType: nameField.optional(),
  description: z.string().optional(),
  handler: fn,
  retry: retry.optional(),
  acceptPartial: z.boolean().optional(),
};
const stageShape = z.discriminatedUnion(
  'from',
  [
    z.object({ from: z.literal('params'), ...common, count: fn, tasks: fn }).strict(),
    z.object({ from: z.literal('items'), ...common, task: fn.optional() }).strict(),
    z.object({ from: z.literal('results'), ...common, stage: z.int().min(1).optional(), task: fn, key: fn.optional() }).strict(),
  ],
  { error: 'must be "params", "items" or "results"' },
);
const specShape = z
  .object({
    name: nameField,
    description: z.string().optional(),
    params: schema.optional(),
    items: z.object({ schema, key: fn, fromParams: fn.optional(), paramsHint: z.string().optional() }).strict().optional(),
    stages: z.array(stageShape).min(1),
    result: fn.optional(),
  })
  .strict();

/**
 * Makes a job type from its public description (docs/job-types.md), checking
 * it at once so a mistake in a module is reported when the module loads.
 */
export function defineJobType<P extends Record<string, unknown> = Record<string, never>, I = never>(spec: JobTypeSpec<P, I>): DefinedJobType<P> {
  const label = `job type ${typeof spec?.name === 'string' ? `"${spec.name}"` : '(unnamed)'}`;
  const checked = specShape.safeParse(spec, { error: humanIssue });
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new InputError('JOB_TYPE_INVALID', `${label}: ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
  }
  const problem = structuralProblem(spec);
  if (problem) throw new InputError('JOB_TYPE_INVALID', `${label}: ${problem}`);

  const params = (spec.params ?? z.object({}).strict()) as z.ZodType<P>;
  const items = spec.items ? jobItems(spec.items, spec.stages[0] as Extract<StageSpec<P, I>, { from: 'items' }>) : undefined;
  const stages = spec.stages.map((stage, i) => stageDefinition(spec, stage, i + 1, items));
  const jobType: JobType<P> = {
    name: spec.name,
    description: spec.description ?? '',
    params,
    items,
    stages,
    result: spec.result
      ? async (p, inputs) => {
          try {
            return await spec.result!(p, { results: (stage = stages.length) => inputs.results(stage) });
          } catch (err) {
            throw err instanceof GeoError ? err : new JobTypeError(`${spec.name} result()`, err);
          }
        }
      : undefined,
  };
  return Object.defineProperty(jobType, JOB_TYPE_BRAND, { value: true, enumerable: false }) as DefinedJobType<P>;
}

function structuralProblem<P extends Record<string, unknown>, I>(spec: JobTypeSpec<P, I>): string | undefined {
  const taskTypes = new Set<string>();
  const names = new Set<string>();
  for (const [i, stage] of spec.stages.entries()) {
    const taskType = stage.taskType ?? stage.name;
    if (names.has(stage.name)) return `stages.${i}.name: stage "${stage.name}" is defined twice`;
    if (taskTypes.has(taskType)) return `stages.${i}.taskType: task type "${taskType}" is used by two stages`;
    names.add(stage.name);
    taskTypes.add(taskType);
    if (stage.from === 'items' && i > 0) return `stages.${i}: only stage 1 can be built from items`;
    if (stage.from === 'results' && stage.stage !== undefined && stage.stage > i) {
      return `stages.${i}.stage: must name an earlier stage (1..${i})`;
    }
    if (stage.from === 'results' && i === 0) return 'stages.0: stage 1 cannot be built from results (there is no earlier stage)';
  }
  const first = spec.stages[0]!;
  if (first.from === 'items' && !spec.items) return 'items: stage 1 is built from items, so the job type needs items: { schema, key }';
  if (first.from !== 'items' && spec.items) return 'items: given, but stage 1 is not built from items (from: "items")';
  return undefined;
}

function jobItems<P, I>(spec: ItemsSpec<P, I>, stage: { task?(item: I, params: P): Record<string, unknown> }): JobItems<P> {
  return {
    schema: spec.schema,
    key: (item) => own('items.key()', () => spec.key(item as I)),
    parameters: stage.task ? (item, params) => own('stage 1 task()', () => stage.task!(item as I, params)) : undefined,
    fromParams: spec.fromParams ? (params) => own('items.fromParams()', () => spec.fromParams!(params)) : undefined,
    paramsHint: spec.paramsHint,
  };
}

function stageDefinition<P extends Record<string, unknown>, I>(
  spec: JobTypeSpec<P, I>,
  stage: StageSpec<P, I>,
  number: number,
  items: JobItems<P> | undefined,
): StageDefinition<P> {
  const taskType = stage.taskType ?? stage.name;
  const base = { stage: number, name: stage.name, taskType, handler: stage.handler, retry: stage.retry, acceptPartial: stage.acceptPartial };
  const where = `${spec.name} stage ${number} (${stage.name})`;
  switch (stage.from) {
    case 'params':
      return {
        ...base,
        source: 'params',
        taskCount: (p) =>
          checkedCount(
            where,
            own(`${where}: count()`, () => stage.count(p)),
          ),
        tasks: (p) =>
          numbered(
            where,
            checkedCount(
              where,
              own(`${where}: count()`, () => stage.count(p)),
            ),
            own(`${where}: tasks()`, () => stage.tasks(p)),
          ),
      };
    case 'items':
      return {
        ...base,
        source: 'items',
        taskCount: async (p, sizes) => sizes?.itemCount ?? items!.fromParams?.(p)?.count ?? (await sizes?.taskCountOf?.(number)) ?? inputRequired(spec.name),
        tasks: (p, inputs) => itemTasks(where, items!, p, inputs),
      };
    case 'results': {
      const inputStage = stage.stage ?? number - 1;
      return {
        ...base,
        source: 'results',
        inputStage,
        taskCount: async (_p, sizes) => (await sizes?.taskCountOf?.(inputStage)) ?? inputNotCreated(where, inputStage),
        tasks: (p, inputs) => resultTasks(where, inputStage, taskType, stage, p, inputs),
      };
    }
  }
}

/** Numbers a params stage's tasks and holds it to its declared count; stays synchronous for a synchronous builder. */
function numbered(where: string, count: number, tasks: Iterable<TaskSpec> | AsyncIterable<TaskSpec>): Iterable<TaskDefinition> | AsyncIterable<TaskDefinition> {
  const check = counter(where, count);
  const label = `${where}: tasks()`;
  if (Symbol.iterator in tasks) {
    return (function* () {
      for (const task of guarded(label, tasks)) yield check.next(task);
      check.end();
    })();
  }
  return (async function* () {
    for await (const task of guardedAsync(label, tasks)) yield check.next(task);
    check.end();
  })();
}

/** Runs a job type's own code: what it throws becomes a JobTypeError naming where (geo's own errors pass through). */
function own<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof GeoError ? err : new JobTypeError(where, err);
  }
}

/** A job type's iterable, with what its iteration throws turned into a JobTypeError (see own). */
function* guarded<T>(where: string, source: Iterable<T>): Generator<T> {
  const it = own(where, () => source[Symbol.iterator]());
  try {
    for (;;) {
      const next = own(where, () => it.next());
      if (next.done) return;
      yield next.value;
    }
  } finally {
    it.return?.();
  }
}

async function* guardedAsync<T>(where: string, source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = own(where, () => source[Symbol.asyncIterator]());
  try {
    for (;;) {
      let next: IteratorResult<T>;
      try {
        next = await it.next();
      } catch (err) {
        throw err instanceof GeoError ? err : new JobTypeError(where, err);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await it.return?.();
  }
}

function counter(where: string, count: number) {
  let index = 0;
  return {
    next(task: TaskSpec): TaskDefinition {
      if (index >= count) throw mismatch(where, count, `more than ${count}`);
      assertTaskKey(where, task?.key);
      return { index: index++, key: task.key, parameters: task.parameters };
    },
    end(): void {
      if (index !== count) throw mismatch(where, count, String(index));
    },
  };
}

/**
 * One task per item, numbered in order: from the input's chunks when the
 * caller has them, else from the parameters (synchronously when that
 * generator is, as a params stage is: no await per task).
 */
function itemTasks<P>(where: string, items: JobItems<P>, params: P, inputs: StageInputs): Iterable<TaskDefinition> | AsyncIterable<TaskDefinition> {
  let index = 0;
  const task = (item: unknown): TaskDefinition => {
    const key = items.key(item);
    assertTaskKey(where, key);
    return { index: index++, key, parameters: items.parameters ? items.parameters(item, params) : (item as Record<string, unknown>) };
  };
  if (inputs.items) {
    const chunks = inputs.items();
    return (async function* () {
      for await (const chunk of chunks) for (const item of chunk) yield task(item);
    })();
  }
  const generated = items.fromParams?.(params);
  if (!generated) {
    // Throws on the first pull, not here, as every other source does.
    return (function* (): Generator<TaskDefinition> {
      yield inputRequired(where.split(' ')[0]!);
    })();
  }
  const source = own('items.fromParams().items()', () => generated.items());
  if (Symbol.iterator in source) {
    return (function* () {
      for (const item of guarded('items.fromParams().items()', source)) yield task(item);
    })();
  }
  return (async function* () {
    for await (const item of guardedAsync('items.fromParams().items()', source)) yield task(item);
  })();
}

async function* resultTasks<P>(
  where: string,
  inputStage: number,
  taskType: string,
  stage: { task(outcome: never, params: P): Record<string, unknown>; key?(outcome: never, params: P): string },
  params: P,
  inputs: StageInputs,
): AsyncGenerator<TaskDefinition> {
  for await (const outcome of inputs.results(inputStage)) {
    const key = stage.key ? own(`${where}: key()`, () => stage.key!(outcome as never, params)) : `${taskType}-${outcome.taskIndex}`;
    assertTaskKey(where, key);
    yield { index: outcome.taskIndex, key, parameters: own(`${where}: task()`, () => stage.task(outcome as never, params)) };
  }
}

function checkedCount(where: string, count: unknown): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new InputError('JOB_TYPE_INVALID', `${where}: count() must return a whole number >= 0 (got ${String(count)})`);
  }
  return count;
}

function mismatch(where: string, declared: number, yielded: string): InputError {
  return new InputError('JOB_TYPE_INVALID', `${where}: count() declared ${declared} tasks but tasks() yielded ${yielded}`);
}

/** Thrown when a stage built from an input file must be (re)built without that file. */
function inputRequired(typeName: string): never {
  throw new InputError(
    'INPUT_REQUIRED',
    `stage 1 of this ${typeName} job is built from an input file; run geo submit ${typeName} --input FILE again with the same file to finish it`,
  );
}

function inputNotCreated(where: string, inputStage: number): never {
  throw new InputError('STAGE_INPUTS_NOT_READY', `${where} is built from stage ${inputStage}, which has not been queued yet`);
}

export type { StageSizes };
