import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logging.js';
import { REDACTED, redactor } from '../../src/secrets/redact.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { writeHoldingModules } from '../support/holding-job-type.js';
import { waitFor } from '../support/wait.js';
import { useWorkHarness } from '../work/support/harness.js';
import { parseLogLines } from './support/logs.js';

const MODULE = path.resolve(import.meta.dirname, 'support/observed-job-type.mjs');
const harness = useWorkHarness('local');

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-logs-'));
  await writeHoldingModules(dir, `(p) => ({ i: p.i })`);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('geo work logs', () => {
  it('--log-format json: every stderr line is JSON with level and event; start, retries, failures, the stage and the stop are lines; no password', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const env = lane.env();
      const password = decodeURIComponent(new URL(env.DATABASE_URL!).password);
      expect(password.length).toBeGreaterThan(0);
      const submitted = await runGeo(['--job-types', MODULE, 'submit', 'observed_test', '--param', 'n=40', '--param', 'tag=logs', '--json'], env);
      expect(submitted.code, submitted.stderr).toBe(0);
      const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);
      const run = await runGeo(['--job-types', MODULE, 'work', '--until-idle', '--idle', '1s', '--log-format', 'json', '--json'], env);
      expect(run.code, run.stderr).toBe(0);
      // stdout keeps its one document.
      expect(parseJsonOutput(run)).toMatchObject({ completed: 34, retried: 12, failed: 6 });

      // The handlers' errors did name the password (stored as the handler wrote them): the log must not.
      const { rows } = await db.query<{ error: string }>(`SELECT error FROM tasks WHERE job_id = $1 AND status = 'failed' LIMIT 1`, [jobId]);
      expect(rows[0]!.error).toContain(password);
      expect(run.stderr).not.toContain(password);

      const lines = parseLogLines(run.stderr);
      for (const line of lines) {
        expect(line, JSON.stringify(line)).toMatchObject({
          level: expect.stringMatching(/^(debug|info|warn|error)$/),
          event: expect.any(String),
          msg: expect.any(String),
        });
        expect(Date.parse(line.time)).not.toBeNaN();
      }
      const events = (name: string) => lines.filter((l) => l.event === name);
      expect(events('worker_started')).toEqual([expect.objectContaining({ level: 'info', transport: 'local', command: 'geo work' })]);
      const retries = events('task_retry_scheduled');
      expect(retries).toHaveLength(12);
      expect(retries[0]).toMatchObject({ level: 'info', jobId, attempt: 1, error: expect.stringContaining(REDACTED), retryAt: expect.any(String) });
      const failures = events('task_failed');
      expect(failures).toHaveLength(6);
      expect(failures[0]).toMatchObject({ level: 'warn', jobId, error: expect.stringContaining(REDACTED) });
      expect(events('stage_advanced')).toEqual([expect.objectContaining({ level: 'warn', jobId, stage: 1, action: 'job-failed' })]);
      expect(events('worker_stopped')).toEqual([expect.objectContaining({ level: 'info', stoppedBy: 'idle', completed: 34, retried: 12, failed: 6 })]);
    } finally {
      await lane.close();
    }
  });

  it('GEO_LOG_FORMAT=json gives JSON lines too; by default lines are for people, and --log-level warn leaves out the info lines', async () => {
    const lane = await harness.lane();
    try {
      const byEnv = await runGeo(['work', '--until-idle', '--idle', '1s', '--json'], lane.env({ GEO_LOG_FORMAT: 'json' }));
      expect(byEnv.code, byEnv.stderr).toBe(0);
      expect(parseLogLines(byEnv.stderr).map((l) => l.event)).toEqual(['worker_started', 'worker_stopped']);

      const human = await runGeo(['work', '--until-idle', '--idle', '1s'], lane.env());
      expect(human.code, human.stderr).toBe(0);
      const lines = human.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d info {2}geo work started: worker \S+; transport local, concurrency 8; job types /);
      expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d info {2}geo work stopped \(idle\) after [\d.]+s: 0 tasks run/);
      // The summary is stdout's, as before.
      expect(human.stdout).toMatch(/^ran 0 tasks in /);

      const quiet = await runGeo(['work', '--until-idle', '--idle', '1s', '--log-level', 'warn'], lane.env({ GEO_LOG_FORMAT: 'json' }));
      expect(quiet.code, quiet.stderr).toBe(0);
      expect(quiet.stderr).toBe('');
    } finally {
      await lane.close();
    }
  });

  it('a log format or level geo does not know is refused before anything runs (exit 2, naming the flag or the variable)', async () => {
    const lane = await harness.lane();
    try {
      const flag = await runGeo(['work', '--log-format', 'xml', '--json'], lane.env());
      expect(flag.code).toBe(2);
      expect(parseJsonOutput(flag)).toMatchObject({ error: { code: 'CONFIG_INVALID', message: '--log-format: must be human or json (got "xml")' } });
      const variable = await runGeo(['dashboard', '--port', '0', '--json'], lane.env({ GEO_LOG_LEVEL: 'loud' }));
      expect(variable.code).toBe(2);
      expect(parseJsonOutput(variable)).toMatchObject({
        error: { code: 'CONFIG_INVALID', message: expect.stringMatching(/^GEO_LOG_LEVEL: must be debug, info, warn, error or silent/) },
      });
    } finally {
      await lane.close();
    }
  });

  it('a geo work killed with tasks in hand is found dead by the next one, which logs it (pid, tasks freed) as dead_worker_found', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      // Long leases: only the dead process's ended session can free its tasks within the test.
      const env = lane.env({ GEO_LEASE_SECONDS: '600' });
      const submitted = await runGeo(
        ['--job-types', path.join(dir, 'block.mjs'), 'submit', 'holding', '--param', 'n=20', '--param', 'tag=dead', '--json'],
        env,
      );
      expect(submitted.code, submitted.stderr).toBe(0);
      const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);
      const doomed = startGeo(['--job-types', path.join(dir, 'block.mjs'), 'work', '--concurrency', '20'], env);
      await waitFor(
        'the worker to hold every task',
        async () => {
          const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE job_id = $1 AND status = 'processing'`, [jobId]);
          return rows[0]!.n === 20 ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
      doomed.child.kill('SIGKILL');
      expect((await doomed.done).signal).toBe('SIGKILL');

      const next = await runGeo(['--job-types', path.join(dir, 'finish.mjs'), 'work', '--until-idle', '--idle', '1s', '--log-format', 'json', '--json'], env);
      expect(next.code, next.stderr).toBe(0);
      expect(parseJsonOutput(next)).toMatchObject({ completed: 20 });
      const found = parseLogLines(next.stderr).filter((l) => l.event === 'dead_worker_found');
      expect(found).toEqual([expect.objectContaining({ level: 'warn', command: 'geo work', pid: doomed.child.pid, tasks: 20 })]);
    } finally {
      await lane.close();
    }
  });
});

describe('the logger (observability/logging.ts)', () => {
  it('redacts every secret it knows from messages and fields, in JSON and in lines for people', () => {
    const secret = 'postgresql://geo:s3cr%40t-pw@db.example:5432/geo';
    const redact = redactor([secret, 's3cr@t-pw', 's3cr%40t-pw']);
    for (const format of ['json', 'human'] as const) {
      const lines: string[] = [];
      const log = createLogger({ format, level: 'info', write: (line) => lines.push(line), redact });
      log.warn('notice', `cannot reach ${secret}`, { url: secret, password: 's3cr@t-pw', count: 3 });
      log.info('notice', 'Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=abc123==');
      log.debug('hidden', 'below the level');
      expect(lines).toHaveLength(2);
      expect(lines.join('\n')).not.toMatch(/s3cr|abc123/);
      if (format === 'json') {
        const [first, second] = parseLogLines(lines.join('\n'));
        expect(first).toMatchObject({ level: 'warn', event: 'notice', msg: `cannot reach ${REDACTED}`, url: REDACTED, password: REDACTED, count: 3 });
        expect(second!.msg).toBe(`Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=${REDACTED}`);
      } else {
        expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d warn  cannot reach \\${REDACTED}$`));
      }
    }
  });
});
