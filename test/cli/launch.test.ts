import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitFor } from '../support/wait.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(REPO, 'bin/geo.js');

let db: TestDatabase;
let env: Record<string, string>;
let prefix: string;
/** The ways people and scripts start geo (README, "Install"). */
let launches: Record<string, string[]>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-cli-test-unused') };
  // `npm install -g .`, into a prefix of the test's own: a `geo` command linked to this checkout.
  prefix = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-prefix-'));
  await promisify(execFile)('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '.'], { cwd: REPO });
  launches = {
    'geo (npm install -g .)': [path.join(prefix, 'bin/geo')],
    'node bin/geo.js': [process.execPath, BIN],
    './bin/geo.js': [BIN],
    'npx geo': ['npx', '--no-install', 'geo'],
  };
}, 120_000);
afterAll(async () => {
  await fs.rm(prefix, { recursive: true, force: true });
  await db.drop();
});

interface Started {
  pid: number;
  done: Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string }>;
}

function start(command: string[], args: string[], extraEnv: Record<string, string> = {}): Started {
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as a job of a shell or a service of systemd has.
    detached: true,
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.resume();
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
  return {
    pid: child.pid!,
    done: new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (status, signal) => {
        clearTimeout(timer);
        resolve({ status, signal, stdout });
      });
    }),
  };
}

/** The status a shell reports: the exit code, or 128 + the signal's number. */
function shellStatus(r: { status: number | null; signal: NodeJS.Signals | null }): number | null {
  return r.signal ? 128 + os.constants.signals[r.signal] : r.status;
}

describe('exit codes are the same however geo is started', () => {
  it.each([
    ['success', ['submit', 'hello_world', '--n', '5', '--param', 'name=launch'], {}, 0],
    ['a usage error', ['submit', 'hello_world', '--bogus'], {}, 2],
    ['bad input', ['batches', 'deadbeefdeadbeef'], {}, 2],
    ['an unreachable database', ['batches', 'deadbeefdeadbeef'], { DATABASE_URL: 'postgresql://geo:pw@127.0.0.1:1/geo' }, 3],
  ])('%s', async (_what, args, extraEnv, expected) => {
    const statuses: Record<string, number | null> = {};
    for (const [how, command] of Object.entries(launches)) statuses[how] = shellStatus(await start(command, args, extraEnv).done);
    expect(statuses).toEqual(Object.fromEntries(Object.keys(launches).map((how) => [how, expected])));
  });

  // To the group, as systemd and a terminal send it: `npx geo` is npm running a shell running geo,
  // and a signal to npm alone reaches only the shell (README, "Install").
  it('SIGTERM to its process group ends a long submit with its summary, status 143, each way', async () => {
    for (const [how, command] of Object.entries(launches)) {
      const name = `launch-term-${how.replace(/\W+/g, '-')}`;
      const run = start(command, ['submit', 'hello_world', '--n', '3000000', '--param', `name=${name}`]);
      const jobId = jobIdFor('hello_world', { n: 3_000_000, name });
      await waitFor(
        `the submit (${how}) to write a task`,
        async () => {
          const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM tasks WHERE job_id = $1', [jobId]);
          return rows[0].n > 0 ? true : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 25 },
      );
      process.kill(-run.pid, 'SIGTERM');
      const result = await run.done;
      expect({ how, status: shellStatus(result) }).toEqual({ how, status: 143 });
      expect(result.stdout).toContain('  stopped: interrupted\n');
    }
  });
});
