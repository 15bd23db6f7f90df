import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-bad-input-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home') };
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string | Buffer): Promise<string> {
  const full = path.join(dir, name);
  await fs.writeFile(full, content);
  return full;
}

async function written(): Promise<{ jobs: number; tasks: number }> {
  const { rows } = await db.pool.query('SELECT (SELECT count(*) FROM jobs)::int AS jobs, (SELECT count(*) FROM tasks)::int AS tasks');
  return rows[0];
}

async function taskKeys(jobId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ taskId: string }>('SELECT task_id AS "taskId" FROM tasks WHERE job_id = $1 ORDER BY task_index', [jobId]);
  return rows.map((r) => r.taskId.replace(/^[0-9a-f]{16}-s1-/, ''));
}

function submitTiles(input: string, ...extra: string[]): Promise<CliResult> {
  return runGeo(['submit', 'tiles', '--input', input, '--json', ...extra], env);
}

function stderrLines(result: CliResult): string[] {
  return result.stderr.trim().split('\n').filter(Boolean);
}

const GOOD = ['{"z":1,"x":0,"y":0}', '{"z":1,"x":1,"y":0}', '{"z":1,"x":0,"y":1}'];

describe('geo submit --input: lines that are rejected, the rest submitted (exit 1)', () => {
  it('a malformed JSON line: reported with its number, the good lines queued', async () => {
    const input = await file('malformed.ndjson', `${GOOD[0]}\n{"z":1,"x":1\n${GOOD[2]}\n`);
    const result = await submitTiles(input);
    expect(result.code).toBe(1);
    const doc = parseJsonOutput(result);
    expect(doc).toMatchObject({ rejected: 1, tasks: 2, queued: 2, input: { lines: 3, items: 2, rejected: 1 } });
    expect(doc.errors).toEqual([{ line: 2, message: expect.stringMatching(/^is not valid JSON \(/) }]);
    expect(stderrLines(result)).toEqual([expect.stringMatching(/^geo: .*malformed\.ndjson line 2: is not valid JSON/)]);
    expect(await taskKeys(String(doc.jobId))).toEqual(['tile-1-0-0', 'tile-1-0-1']);
  });

  it('invalid UTF-8: the line is named, its neighbours go through', async () => {
    const input = await file(
      'latin1.ndjson',
      Buffer.concat([Buffer.from(`${GOOD[0]}\n`), Buffer.from('{"z":1,"x":1,"y":0,"n":"caf\xe9"}\n', 'latin1'), Buffer.from(`${GOOD[2]}\n`)]),
    );
    const result = await submitTiles(input);
    expect(result.code).toBe(1);
    expect(parseJsonOutput(result).errors).toEqual([{ line: 2, message: 'is not valid UTF-8 text' }]);
    expect(await taskKeys(String(parseJsonOutput(result).jobId))).toEqual(['tile-1-0-0', 'tile-1-0-1']);
  });

  it('a 10 MB line: refused by its length without being read into memory', async () => {
    const huge = `{"z":1,"x":1,"y":0,"pad":"${'x'.repeat(10 * 1024 * 1024)}"}`;
    const input = await file('huge.ndjson', `${GOOD[0]}\n${huge}\n${GOOD[2]}\n`);
    const result = await submitTiles(input);
    expect(result.code).toBe(1);
    const doc = parseJsonOutput(result);
    const bytes = huge.length.toLocaleString('en-US');
    expect(doc.errors).toEqual([{ line: 2, message: `is ${bytes} bytes long, more than any local task message can carry (1,048,576 bytes)` }]);
    expect(doc).toMatchObject({ tasks: 2, queued: 2 });
  });

  it('duplicate items: each later one reported against the first, which is kept', async () => {
    const input = await file('dupes.ndjson', [GOOD[0], GOOD[1], '{"y":0,"x":0,"z":1}', GOOD[2], GOOD[1]].join('\n'));
    const result = await submitTiles(input);
    expect(result.code).toBe(1);
    const doc = parseJsonOutput(result);
    expect(doc.errors).toEqual([
      { line: 3, message: 'duplicates line 1 (task key tile-1-0-0); the first one is kept' },
      { line: 5, message: 'duplicates line 2 (task key tile-1-1-0); the first one is kept' },
    ]);
    expect(doc.input).toMatchObject({ items: 3, rejected: 2, duplicates: 2 });
    expect(await taskKeys(String(doc.jobId))).toEqual(['tile-1-0-0', 'tile-1-1-0', 'tile-1-0-1']);
  });

  it('items that break the schema: every reason, the first ten on stderr, all in --errors-file', async () => {
    const bad = Array.from({ length: 12 }, (_, i) => `{"z":2,"x":${4 + i},"y":0}`);
    const input = await file('range.ndjson', [GOOD[0], ...bad, '{"z":25,"x":0,"y":0}', '{"z":1,"x":"0x1","y":0,"extra":1}'].join('\n'));
    const errorsFile = path.join(dir, 'range-errors.ndjson');
    const result = await submitTiles(input, '--errors-file', errorsFile);
    expect(result.code).toBe(1);
    const lines = stderrLines(result);
    expect(lines).toHaveLength(11);
    expect(lines[0]).toMatch(/range\.ndjson line 2: x: must be less than 2\^z = 4 at zoom 2 \(got 4\)$/);
    expect(lines[10]).toMatch(/\.\.\. and 4 more rejected lines \(all of them: in .*range-errors\.ndjson, in the --json errors\)/);
    const all = (await fs.readFile(errorsFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(all).toHaveLength(14);
    expect(all).toEqual(parseJsonOutput(result).errors);
    expect(all.slice(12)).toEqual([
      { line: 14, message: 'z: must be at most 24' },
      { line: 15, message: 'x: must be a plain decimal whole number (got "0x1"); unknown field "extra"' },
    ]);
  });

  it('an item whose message the transport could not carry: refused before anything is written', async () => {
    // Outside geo's folder, so the module reaches 'geo/job-types' through the loader's resolve hook.
    const module = await file(
      'blobs.mjs',
      `import { defineJobType, z } from 'geo/job-types';
       export const blobs = defineJobType({
         name: 'blobs',
         items: { schema: z.object({ id: z.string(), blob: z.string() }), key: (i) => 'blob-' + i.id },
         stages: [{ from: 'items', name: 'store', handler: (p) => p.blob.length }],
       });`,
    );
    const input = await file('blobs.ndjson', `${JSON.stringify({ id: 'a', blob: 'small' })}\n${JSON.stringify({ id: 'b', blob: 'x'.repeat(1_500_000) })}\n`);
    const before = await written();
    const result = await runGeo(['--job-types', module, 'submit', 'blobs', '--input', input, '--strict', '--json'], env);
    expect(result.code).toBe(2);
    expect(parseJsonOutput(result).errors).toEqual([
      { line: 2, message: expect.stringMatching(/^makes a task message of 1,500,\d{3} bytes; the local transport carries at most 1,048,576$/) },
    ]);
    expect(await written()).toEqual(before);
    // Without --strict the small item goes through and the exit code says a line was left out.
    const partial = await runGeo(['--job-types', module, 'submit', 'blobs', '--input', input, '--json'], env);
    expect(partial.code).toBe(1);
    expect(parseJsonOutput(partial)).toMatchObject({ tasks: 1, queued: 1, rejected: 1 });
  });
});

describe('geo submit --input: inputs that submit nothing (exit 2, nothing written)', () => {
  it.each<[string, () => Promise<string[]>, RegExp]>([
    ['an empty file', async () => ['submit', 'tiles', '--input', await file('empty.ndjson', '')], /empty\.ndjson is empty; nothing was submitted/],
    [
      'blank lines only',
      async () => ['submit', 'tiles', '--input', await file('blank.ndjson', '\n  \n\r\n')],
      /blank\.ndjson has no items, only blank lines; nothing was submitted/,
    ],
    ['a missing file', async () => ['submit', 'tiles', '--input', path.join(dir, 'missing.ndjson')], /input file .*missing\.ndjson does not exist/],
    ['a directory', async () => ['submit', 'tiles', '--input', dir], /input .* is a directory, not a file/],
    [
      'a CSV header that does not match',
      async () => ['submit', 'tiles', '--input', await file('header.csv', 'z,x,row\n1,0,0\n')],
      /header\.csv line 1: the CSV header "z,x,row" does not match tiles items: unknown column "row"; missing column "y" \(the columns are z, x, y\)/,
    ],
    [
      '--input for a job type without items',
      async () => ['submit', 'hello_world', '--n', '3', '--input', await file('hello.ndjson', '{}\n')],
      /hello_world takes no input items/,
    ],
    [
      '--input together with a bbox',
      async () => ['submit', 'tiles', '--param', 'bbox=0,0,1,1', '--param', 'zoom=3', '--input', await file('both.ndjson', `${GOOD[0]}\n`)],
      /tiles: give either --input or the parameters that describe items, not both/,
    ],
    [
      'an unknown extension',
      async () => ['submit', 'tiles', '--input', await file('tiles.txt', `${GOOD[0]}\n`)],
      /cannot tell the format of .*tiles\.txt from its name/,
    ],
    [
      'tiles with no items at all',
      async () => ['submit', 'tiles'],
      /tiles is built from items: give --input FILE \(NDJSON or CSV\), or --param bbox=minLon,minLat,maxLon,maxLat --param zoom=Z/,
    ],
  ])('%s', async (_name, args, message) => {
    const before = await written();
    const result = await runGeo(await args(), env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(stderrLines(result)).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await written()).toEqual(before);
  });

  it('no valid line: each line reported, then one line saying nothing was submitted', async () => {
    const before = await written();
    const result = await submitTiles(await file('allbad.ndjson', '[1]\n{"z":-1,"x":0,"y":0}\n'));
    expect(result.code).toBe(2);
    expect(stderrLines(result)).toEqual([
      expect.stringMatching(/allbad\.ndjson line 1: must be an object \(got \[1\]\)$/),
      expect.stringMatching(/allbad\.ndjson line 2: z: must be at least 0$/),
      expect.stringMatching(/^geo: no line of .*allbad\.ndjson is a valid item \(2 rejected\); nothing was submitted$/),
    ]);
    expect(parseJsonOutput(result)).toMatchObject({ error: { code: 'INPUT_REJECTED' }, rejected: 2 });
    expect(await written()).toEqual(before);
  });

  it('--strict: one bad line refuses the file, with every rejected line in the JSON', async () => {
    const before = await written();
    const result = await submitTiles(await file('strict.ndjson', `${GOOD[0]}\n{"z":1}\n${GOOD[1]}\n`), '--strict');
    expect(result.code).toBe(2);
    expect(parseJsonOutput(result)).toMatchObject({
      error: { code: 'INPUT_REJECTED', message: expect.stringMatching(/^--strict: 1 of 3 lines of .*strict\.ndjson rejected; nothing was submitted$/) },
      rejected: 1,
      errors: [{ line: 2, message: 'x: is required; y: is required' }],
    });
    expect(await written()).toEqual(before);
  });
});

describe('geo submit --input: encodings and sources that are fine (exit 0)', () => {
  const tiles = ['{"z":2,"x":3,"y":0}', '{"z":2,"x":1,"y":2}', '{"z":2,"x":0,"y":3}'];
  const body = `${tiles.join('\n')}\n`;

  it('a BOM, CRLF, blank lines, spacing and CSV in any column order all make the same job as plain NDJSON', async () => {
    const plain = parseJsonOutput(await submitTiles(await file('plain.ndjson', body)));
    expect(plain).toMatchObject({ tasks: 3, queued: 3, rejected: 0, jobCreated: true });
    const variants: Array<[string, string]> = [
      ['bom.ndjson', `\ufeff${body}`],
      ['crlf.ndjson', body.replace(/\n/g, '\r\n')],
      ['blank-lines.ndjson', `\n${tiles[0]}\n\n${tiles[1]}\n   \n${tiles[2]}\n\n`],
      ['tiles.csv', '\ufeffz,x,y\r\n2,3,0\r\n2,1,2\r\n2,0,3\r\n'],
      ['reordered.csv', 'y,x,z\n0,3,2\n2,1,2\n3,0,2\n'],
      ['spaced.ndjson', body.replace(/,/g, ', ').replace(/:/g, ' : ')],
    ];
    for (const [name, content] of variants) {
      const result = await submitTiles(await file(name, content));
      expect(result.code, `${name}: ${result.stderr}`).toBe(0);
      expect(parseJsonOutput(result), name).toMatchObject({ jobId: plain.jobId, jobCreated: false, tasks: 3, queued: 3, rejected: 0 });
    }
    const blank = parseJsonOutput(await submitTiles(path.join(dir, 'blank-lines.ndjson')));
    expect(blank.input).toMatchObject({ blankLines: 4, items: 3 });
    expect(await taskKeys(String(plain.jobId))).toEqual(['tile-2-3-0', 'tile-2-1-2', 'tile-2-0-3']);
  });

  it('reads stdin with - and resumes the job of the same content; a changed file is a new job', async () => {
    const fromFile = parseJsonOutput(await submitTiles(await file('stdin-twin.ndjson', `${GOOD[2]}\n${GOOD[0]}\n`)));
    const piped = await runGeoWithStdin(['submit', 'tiles', '--input', '-', '--json'], `${GOOD[2]}\n${GOOD[0]}\n`);
    expect(piped.code).toBe(0);
    expect(parseJsonOutput(piped)).toMatchObject({ jobId: fromFile.jobId, jobCreated: false, input: { file: 'stdin', items: 2 } });
    const changed = parseJsonOutput(await submitTiles(await file('stdin-changed.ndjson', `${GOOD[2]}\n${GOOD[1]}\n`)));
    expect(changed.jobId).not.toBe(fromFile.jobId);
    expect(changed.jobCreated).toBe(true);
  });
});

/** runGeo with a standard input (the shared helper ignores stdin). */
async function runGeoWithStdin(args: string[], stdin: string): Promise<CliResult> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [path.resolve(import.meta.dirname, '../../../bin/geo.js'), ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
