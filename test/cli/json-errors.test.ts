import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-cli-test-unused') };
});
afterAll(async () => {
  await db.drop();
});

describe('under --json every failure is one {"error": {"code", "message"}} on stdout (subprocess)', () => {
  it.each([
    [['batches', '--json'], 'MISSING_ARGUMENT', "missing required argument 'jobId'"],
    [['submit', 'hello_world', '--n', '10', '--bogus', '--json'], 'UNKNOWN_OPTION', "unknown option '--bogus'"],
    [['--json', 'frobnicate'], 'UNKNOWN_COMMAND', "unknown command 'frobnicate'"],
    [['batches', 'deadbeef', 'extra', '--json'], 'EXCESS_ARGUMENTS', "too many arguments for 'batches'. Expected 1 argument but got 2."],
    [['submit', 'hello_world', '--param', '--json'], 'MISSING_OPTION_VALUE', "option '--param <key=value>' argument missing"],
    [['batches', 'deadbeef', '--limit', '0', '--json'], 'INVALID_OPTION', '--limit must be a whole number from 1 to 10,000,000 (got "0")'],
    [['--json'], 'USAGE', 'a command is required'],
  ])('%j', async (args, code, message) => {
    const result = await runGeo(args, env);
    expect(result.code).toBe(2);
    expect(parseJsonOutput(result)).toEqual({ error: { code, message } });
    expect(result.stderr.split('\n')).toContain(`geo: ${message}`);
  });

  it('a missing option value is a usage error too', async () => {
    const result = await runGeo(['batches', 'deadbeef', '--json', '--stage'], env);
    expect(result.code).toBe(2);
    expect(parseJsonOutput(result)).toEqual({ error: { code: 'MISSING_OPTION_VALUE', message: "option '--stage <n>' argument missing" } });
  });

  it('without --json a usage error is the human line and a hint on stderr, nothing on stdout', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '10', '--bogus'], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe("geo: unknown option '--bogus'\n(run geo --help for usage)\n");
  });

  it('help and version are success, not errors', async () => {
    const help = await runGeo(['batches', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: geo batches \[options\] <jobId>/);
    const version = await runGeo(['--version'], env);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('under --json, --version and --help each print one JSON document', async () => {
    const { version } = JSON.parse(await fs.readFile(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    for (const args of [
      ['--json', '--version'],
      ['--version', '--json'],
      ['--json', '-V'],
    ]) {
      const result = await runGeo(args, env);
      expect(result.code).toBe(0);
      expect(parseJsonOutput(result)).toEqual({ version });
    }

    const all = await runGeo(['--json', '--help'], env);
    expect(all.code).toBe(0);
    const program = parseJsonOutput<Described>(all);
    expect(program).toMatchObject({ name: 'geo', usage: 'geo [options] [command]' });
    expect(program.options.map((o) => o.flags)).toContain('--json');
    expect(program.commands.map((c) => c.name)).toEqual(
      expect.arrayContaining(['geo submit', 'geo queue-stage', 'geo retry-pending', 'geo batches', 'geo status', 'geo work', 'geo results', 'geo db']),
    );
    expect(program.commands.find((c) => c.name === 'geo db')!.commands.map((c) => c.name)).toEqual(['geo db status', 'geo db url', 'geo db stop']);

    const batches = await runGeo(['batches', '--help', '--json'], env);
    expect(batches.code).toBe(0);
    const described = parseJsonOutput<Described>(batches);
    expect(described).toMatchObject({ name: 'geo batches', usage: 'geo batches [options] <jobId>', arguments: [{ name: 'jobId', required: true }] });
    expect(described.options).toContainEqual({ flags: '--limit <n>', description: 'rows to list at most (default: 50; under --json: all)' });
    // The same through the help command, and the defaults as they are typed.
    const retry = parseJsonOutput<Described>(await runGeo(['--json', 'help', 'retry-pending'], env));
    expect(retry.options).toContainEqual(expect.objectContaining({ flags: '--older-than <duration>', default: '0s' }));
  });
});

interface Described {
  name: string;
  usage: string;
  arguments: Array<{ name: string; required: boolean }>;
  options: Array<{ flags: string; description: string; default?: unknown }>;
  commands: Described[];
}
