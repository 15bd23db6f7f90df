import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';

const STAGE = `{ from: 'params', name: 'only', count: () => 1, tasks: () => [{ key: 'k', parameters: {} }], handler: () => 1 }`;

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-loader-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home') };
  const modules: Record<string, string> = {
    'squares.mjs': `import { defineJobType, integer, z } from 'geo/job-types';
      export const squares = defineJobType({
        name: 'squares',
        description: 'n squares',
        params: z.object({ n: integer({ min: 1, max: 1000, description: 'how many' }) }).strict(),
        stages: [{ from: 'params', name: 'square', count: (p) => p.n,
          *tasks(p) { for (let i = 0; i < p.n; i++) yield { key: 'sq-' + i, parameters: { i } }; },
          handler: (p) => ({ square: p.i * p.i }) }],
      });
      export const helper = () => 'not a job type';`,
    'cubes.mjs': `import { defineJobType } from 'geo/job-types';
      export default [defineJobType({ name: 'cubes', stages: [${STAGE}] })];`,
    'throws.mjs': `throw new Error('cannot reach the licence server\\nat line two');`,
    'syntax.mjs': `export const = 1;`,
    'nothing.mjs': `export const answer = 42; export function helper() {}`,
    'twice.mjs': `import { defineJobType } from 'geo/job-types';
      export const a = defineJobType({ name: 'twin', stages: [${STAGE}] });
      export const b = defineJobType({ name: 'twin', stages: [${STAGE}] });`,
    'builtin.mjs': `import { defineJobType } from 'geo/job-types';
      export const mine = defineJobType({ name: 'tiles', stages: [${STAGE}] });`,
    'squares-again.mjs': `import { defineJobType } from 'geo/job-types';
      export const other = defineJobType({ name: 'squares', stages: [${STAGE}] });`,
    'invalid.mjs': `import { defineJobType } from 'geo/job-types';
      export const broken = defineJobType({ name: 'broken', stages: [{ from: 'params', name: 'a', count: () => 1, tasks: () => [] }] });`,
  };
  for (const [name, source] of Object.entries(modules)) await fs.writeFile(path.join(dir, name), source);
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function jobCount(): Promise<number> {
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM jobs');
  return rows[0].n;
}

describe('job-type modules (--job-types, GEO_JOB_TYPES)', () => {
  it('loads a module from outside geo and submits its job type', async () => {
    const types = await runGeo(['--job-types', path.join(dir, 'squares.mjs'), 'types', '--json'], env);
    expect(types.code).toBe(0);
    const listed = parseJsonOutput<{ jobTypes: Array<Record<string, unknown>> }>(types).jobTypes;
    expect(listed.map((t) => t.name)).toEqual(['hello_world', 'squares', 'tiles']);
    expect(listed[1]).toMatchObject({
      origin: path.join(dir, 'squares.mjs'),
      parameters: [{ name: 'n', type: 'integer', required: true, constraints: '1..1,000', description: 'how many' }],
      stages: [{ stage: 1, name: 'square', taskType: 'square', from: 'params' }],
    });
    const submit = await runGeo(['submit', 'squares', '--param', 'n=4', '--json'], { ...env, GEO_JOB_TYPES: path.join(dir, 'squares.mjs') });
    expect(submit.code).toBe(0);
    expect(parseJsonOutput(submit)).toMatchObject({ jobType: 'squares', tasks: 4, queued: 4 });
  });

  it('takes a comma-separated list, arrays of job types and default exports', async () => {
    const result = await runGeo(['types', '--json'], { ...env, GEO_JOB_TYPES: `${path.join(dir, 'squares.mjs')}, ${path.join(dir, 'cubes.mjs')}` });
    expect(result.code).toBe(0);
    expect(parseJsonOutput<{ jobTypes: Array<{ name: string }> }>(result).jobTypes.map((t) => t.name)).toEqual(['cubes', 'hello_world', 'squares', 'tiles']);
  });

  it.each([
    ['throws on load', 'throws.mjs', /^geo: --job-types .*throws\.mjs: failed to load: cannot reach the licence server$/],
    ['has a syntax error', 'syntax.mjs', /^geo: --job-types .*syntax\.mjs: failed to load: /],
    [
      'exports nothing valid',
      'nothing.mjs',
      /^geo: --job-types .*nothing\.mjs: exports no job type \(export what defineJobType from "geo\/job-types" returns; exports found: answer, helper\)$/,
    ],
    ['defines a name twice', 'twice.mjs', /^geo: --job-types .*twice\.mjs: job type "twin" is defined twice in this module$/],
    ['clashes with a built-in job type', 'builtin.mjs', /^geo: --job-types .*builtin\.mjs: job type "tiles" is a built-in job type; rename one of them$/],
    [
      'repeats a name of another module',
      'squares.mjs,squares-again.mjs',
      /^geo: --job-types .*squares-again\.mjs: job type "squares" is already defined by .*squares\.mjs; rename one of them$/,
    ],
    [
      'defines an invalid job type',
      'invalid.mjs',
      /^geo: --job-types .*invalid\.mjs: failed to load: job type "broken": stages\.0\.handler: must be a function$/,
    ],
    ['does not exist', 'missing.mjs', /^geo: --job-types .*missing\.mjs: no such file$/],
  ])('a module that %s: one line, exit 2, nothing written', async (_case, names, message) => {
    const list = names
      .split(',')
      .map((n) => path.join(dir, n))
      .join(',');
    const before = await jobCount();
    const result = await runGeo(['--job-types', list, 'submit', 'hello_world', '--n', '3'], env);
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(message)]);
    expect(await jobCount()).toBe(before);
  });

  it('names GEO_JOB_TYPES in the message when the list came from there', async () => {
    const result = await runGeo(['types'], { ...env, GEO_JOB_TYPES: path.join(dir, 'nothing.mjs') });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^geo: GEO_JOB_TYPES .*nothing\.mjs: exports no job type/);
  });
});
