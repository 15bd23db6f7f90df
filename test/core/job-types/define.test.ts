import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJobType, isDefinedJobType } from '../../../src/core/job-types/define.js';
import { integer, number } from '../../../src/core/job-types/fields.js';
import type { TaskDefinition } from '../../../src/core/job-types/job-type.js';
import { prepareJob } from '../../../src/core/prepare-job.js';
import { InputError } from '../../../src/errors.js';

const handler = () => null;
const paramsStage = {
  from: 'params' as const,
  name: 'one',
  count: () => 2,
  tasks: () => [
    { key: 'a', parameters: {} },
    { key: 'b', parameters: {} },
  ],
  handler,
};

async function collect(tasks: Iterable<TaskDefinition> | AsyncIterable<TaskDefinition>): Promise<TaskDefinition[]> {
  const out: TaskDefinition[] = [];
  for await (const t of tasks) out.push(t);
  return out;
}

describe('defineJobType', () => {
  it('makes a branded job type with numbered stages and default task types', () => {
    const type = defineJobType({ name: 'two_stages', stages: [paramsStage, { from: 'results', name: 'two', task: () => ({}), handler }] });
    expect(isDefinedJobType(type)).toBe(true);
    expect(type.stages.map((s) => [s.stage, s.taskType, s.source, s.inputStage])).toEqual([
      [1, 'one', 'params', undefined],
      [2, 'two', 'results', 1],
    ]);
  });

  it.each([
    ['a bad name', { name: 'Bad Name', stages: [paramsStage] }, /job type "Bad Name": name: must be lower case letters/],
    ['no stages', { name: 'x', stages: [] }, /job type "x": stages: must have at least 1 item/],
    ['a stage without handler', { name: 'x', stages: [{ ...paramsStage, handler: undefined }] }, /stages\.0\.handler: must be a function/],
    ['an unknown builder', { name: 'x', stages: [{ ...paramsStage, from: 'file' }] }, /stages\.0\.from: must be "params", "items" or "results"/],
    ['a stage name twice', { name: 'x', stages: [paramsStage, { ...paramsStage }] }, /stages\.1\.name: stage "one" is defined twice/],
    ['a task type twice', { name: 'x', stages: [paramsStage, { ...paramsStage, name: 'two', taskType: 'one' }] }, /task type "one" is used by two stages/],
    ['an item stage without items', { name: 'x', stages: [{ from: 'items', name: 'a', handler }] }, /stage 1 is built from items, so the job type needs items/],
    ['items after stage 1', { name: 'x', stages: [paramsStage, { from: 'items', name: 'b', handler }] }, /only stage 1 can be built from items/],
    ['results in stage 1', { name: 'x', stages: [{ from: 'results', name: 'a', task: () => ({}), handler }] }, /stage 1 cannot be built from results/],
    ['params that are not zod', { name: 'x', params: { parse() {} }, stages: [paramsStage] }, /params: must be a zod schema/],
    ['a negative retry count', { name: 'x', stages: [{ ...paramsStage, retry: { maxRetries: -1 } }] }, /stages\.0\.retry\.maxRetries: must be at least 0/],
  ])('refuses %s with one line naming the problem', (_case, spec, message) => {
    let caught: unknown;
    try {
      defineJobType(spec as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as InputError).code).toBe('JOB_TYPE_INVALID');
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('\n');
  });

  it('holds a params stage to the count it declared', async () => {
    const type = defineJobType({ name: 'liar', stages: [{ ...paramsStage, count: () => 3 }] });
    await expect(collect(type.stages[0]!.tasks({}, { results: () => [] as never }))).rejects.toThrow(/count\(\) declared 3 tasks but tasks\(\) yielded 2/);
  });

  it('refuses a task key that cannot be part of a task id', async () => {
    const type = defineJobType({ name: 'keys', stages: [{ ...paramsStage, count: () => 1, tasks: () => [{ key: 'a b', parameters: {} }] }] });
    await expect(collect(type.stages[0]!.tasks({}, { results: () => [] as never }))).rejects.toThrow(/task key "a b" is not valid/);
  });

  it('builds a results stage one task per input task, keyed by task type and index', async () => {
    const type = defineJobType({ name: 'chain', stages: [paramsStage, { from: 'results', name: 'echo', task: (o) => ({ was: o.result }), handler }] });
    async function* results() {
      yield { taskIndex: 0, taskId: 'p-s1-a', status: 'completed', result: 'A' };
      yield { taskIndex: 1, taskId: 'p-s1-b', status: 'failed', result: null };
    }
    const tasks = await collect(type.stages[1]!.tasks({}, { results }));
    expect(tasks).toEqual([
      { index: 0, key: 'echo-0', parameters: { was: 'A' } },
      { index: 1, key: 'echo-1', parameters: { was: null } },
    ]);
    expect(await type.stages[1]!.taskCount({}, { taskCountOf: async (s) => (s === 1 ? 2 : undefined) })).toBe(2);
  });

  it('says an item stage needs its input file when rebuilt without it', async () => {
    const type = defineJobType({
      name: 'items_only',
      items: { schema: z.object({ id: z.string() }), key: (i) => i.id },
      stages: [{ from: 'items', name: 'a', handler }],
    });
    await expect(type.stages[0]!.taskCount({}, {})).rejects.toMatchObject({ code: 'INPUT_REQUIRED' });
    await expect(collect(type.stages[0]!.tasks({}, { results: () => [] as never }))).rejects.toThrow(
      /run geo submit items_only --input FILE again with the same file/,
    );
    expect(await type.stages[0]!.taskCount({}, { taskCountOf: async () => 7 })).toBe(7);
  });
});

describe('parameters given as text', () => {
  const schema = z.object({ n: integer({ min: 1, max: 100 }), lon: number({ min: -180, max: 180 }).optional() }).strict();
  const job = defineJobType({ name: 'params_test', params: schema, stages: [paramsStage] });

  it.each([
    ['16', 16],
    [' 42 ', 42],
    [7, 7],
  ])('accepts the plain decimal integer %j', (n, expected) => {
    expect(schema.parse({ n })).toEqual({ n: expected });
  });

  it.each([
    ['0x10', 'n: must be a plain decimal whole number (got "0x10")'],
    ['1e3', 'n: must be a plain decimal whole number (got "1e3")'],
    ['1.0', 'n: must be a whole number (got "1.0")'],
    [2.5, 'n: must be a whole number (got 2.5)'],
    ['many', 'n: must be a number (got "many")'],
    ['', 'n: must not be empty'],
    ['0', 'n: must be at least 1'],
    ['101', 'n: must be at most 100'],
    // Far out of range: one message, not also "not a whole number" (it has no exact value).
    ['99999999999999999999', 'n: must be at most 100'],
    ['-99999999999999999999', 'n: must be at least 1'],
  ])('refuses n=%j with a specific message', (n, message) => {
    const result = schema.safeParse({ n });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([message]);
  });

  it('a whole number without a maximum, too large to be exact: one message saying so', () => {
    const unbounded = z.object({ n: integer() });
    expect(unbounded.safeParse({ n: '99999999999999999999' }).error!.issues.map((i) => i.message)).toEqual(['is too large (at most 9,007,199,254,740,991)']);
  });

  it('refuses decimal numbers written with an exponent', () => {
    expect(schema.safeParse({ n: 1, lon: '1e2' }).error!.issues[0]!.message).toBe('must be a plain decimal number (got "1e2")');
    expect(schema.parse({ n: 1, lon: '-12.25' })).toEqual({ n: 1, lon: -12.25 });
  });

  it('explains zod checks in words, through prepareJob', () => {
    expect(() => prepareJob('hello_world', { n: '5', name: '' })).toThrow(new InputError('INVALID_PARAMS', 'hello_world: name: must not be empty'));
    expect(() => prepareJob('hello_world', { n: '0x10' })).toThrow(/hello_world: n: must be a plain decimal whole number \(got "0x10"\)/);
    expect(job.params.safeParse({}).success).toBe(false);
  });
});
