import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../../src/core/ids.js';
import { CLEAR_LINE, ESC } from '../../support/ansi.js';
import { startGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { taskStatusCounts, writePendingJob } from '../../support/submit.js';
import { waitFor } from '../../support/wait.js';
import { endAllTerminals, runInTerminal, startInTerminal, visibleLines } from './pty.js';

let db: TestDatabase;
let env: Record<string, string>;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-terminal-test-unused') };
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-progress-'));
});
afterEach(endAllTerminals);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
  await db.drop();
});

/** Every state the live line was drawn in: the text between carriage returns, escapes removed. */
function liveLineStates(screen: string): string[] {
  return screen
    .replace(/\r\n/g, '\n')
    .split(/[\r\n]/)
    .map(stripVTControlCharacters)
    .filter((s) => s.length > 0);
}

/** A bar with done / total, rate and ETA: `[███░░░]  41%  82,000 / 200,000 tasks  61,234/s  ETA 2s`. */
const BAR = (total: string) => new RegExp(`\\[[█░]{10,}\\]\\s+\\d+%\\s+[\\d,]+ / ${total} tasks\\s+[\\d,]+/s\\s+ETA \\d`);

async function waitForTasks(jobId: string): Promise<void> {
  await waitFor(
    `a task of job ${jobId} to be written`,
    async () => {
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM tasks WHERE job_id = $1', [jobId]);
      return rows[0].n > 0 ? true : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 25 },
  );
}

describe('a terminal of width 0 (script without a size)', () => {
  it('gets no progress display at all and the submit finishes with its summary', async () => {
    const result = await runInTerminal(['submit', 'hello_world', '--n', '500', '--param', 'name=zero-width'], {
      env,
      columns: 0,
      rows: 0,
      deadlineMs: 30_000,
    });
    expect(result.killed).toBe(false);
    expect(result.status).toBe(0);
    const text = result.screen.replace(/\r\n/g, '\n');
    expect(text).not.toContain('\r');
    expect(text).not.toContain(ESC);
    expect(text).toMatch(/^job [0-9a-f]{64}\n {2}hello_world stage 1 \(greeting\) submitted via local\n/);
    expect(text.length).toBeLessThan(1_000);
  });

  it('SIGTERM ends a long submit there cleanly with its summary, status 143', async () => {
    const name = 'zero-width-term';
    const session = await startInTerminal(['submit', 'hello_world', '--n', '3000000', '--param', `name=${name}`], {
      env,
      columns: 0,
      rows: 0,
    });
    await waitForTasks(jobIdFor('hello_world', { n: 3_000_000, name }));
    process.kill(await session.pid(), 'SIGTERM');
    const result = await session.exit(2_000);
    expect(result.status).toBe(143);
    expect(visibleLines(result.screen)).toContain('  stopped: interrupted');
  });
});

// Each live line starts with ora's spinner frame and a space (`\S ` below).
describe('progress on an 80-column terminal', () => {
  it('submit: a bar with done / total, rate and ETA that never wraps, then the summary stays', async () => {
    const result = await runInTerminal(['submit', 'hello_world', '--n', '200000', '--param', 'name=bar'], { env, columns: 80 });
    expect(result.status).toBe(0);
    const states = liveLineStates(result.screen);
    expect(states.some((s) => BAR('200,000').test(s))).toBe(true);
    expect(Math.max(...states.map((s) => s.length))).toBeLessThanOrEqual(79);
    // The bar is erased, the summary is what remains on screen.
    expect(visibleLines(result.screen).slice(-5)).toEqual([
      expect.stringMatching(/^job [0-9a-f]{64}$/),
      '  hello_world stage 1 (greeting) submitted via local',
      '  200,000 tasks in 2,000 batches: 200,000 queued, 0 pending_queue, 0 failed',
      expect.stringMatching(/^ {2}200,000 new tasks in [\d.]+s \([\d,]+ tasks\/s\)$/),
      expect.stringMatching(/^ {2}status: geo batches [0-9a-f]{12}$/),
    ]);
  });

  it('queue-stage resuming a stopped submit shows the same bar', async () => {
    const name = 'resume-bar';
    const jobId = jobIdFor('hello_world', { n: 300_000, name });
    const first = startGeo(['submit', 'hello_world', '--n', '300000', '--param', `name=${name}`, '--json'], env);
    await waitForTasks(jobId);
    first.child.kill('SIGTERM');
    await first.done;
    const result = await runInTerminal(['queue-stage', jobId.slice(0, 12), '1'], { env, columns: 80 });
    expect(result.status).toBe(0);
    expect(liveLineStates(result.screen).some((s) => BAR('300,000').test(s))).toBe(true);
    expect(visibleLines(result.screen)).toContain('  hello_world stage 1 (greeting) queued via local');
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: 300_000 });
  });

  it('retry-pending counts the batches it claims (it cannot know their total in advance)', async () => {
    const jobId = await writePendingJob(db.pool, { n: 100_000, name: 'sweep-bar' }, 'local');
    const result = await runInTerminal(['retry-pending', '--job', jobId.slice(0, 12)], { env, columns: 80 });
    expect(result.status).toBe(0);
    expect(liveLineStates(result.screen).some((s) => /^\S [1-9][\d,]* batches claimed\s+[\d,]+\/s\s+[1-9][\d,]* tasks re-queued$/.test(s))).toBe(true);
    expect(visibleLines(result.screen)[0]).toMatch(/^claimed 1,000 batches, re-queued 100,000 tasks, sent 100,000 tasks in all, in [\d.]+s$/);
  });

  it('bench shows the bar per path and mode', async () => {
    const result = await runInTerminal(['bench', '--path', 'local', '--n', '20000', '--individual-n', '500'], { env, columns: 80 });
    expect(result.status).toBe(0);
    const states = liveLineStates(result.screen);
    expect(states.some((s) => /^\S local aligned \[[█░]+\]\s+\d+%\s+[\d,]+ \/ 20,000 tasks/.test(s))).toBe(true);
    expect(states.some((s) => /^\S local individual /.test(s))).toBe(true);
  });

  it('nothing of the progress reaches stdout when stdout is a file', async () => {
    const stdoutFile = path.join(dir, 'stdout');
    const result = await runInTerminal(['submit', 'hello_world', '--n', '200000', '--param', 'name=quiet-out'], {
      env,
      columns: 80,
      stdoutFile,
    });
    expect(result.status, result.screen).toBe(0);
    const stdout = await fs.readFile(stdoutFile, 'utf8');
    expect(stdout).toMatch(/^job [0-9a-f]{64}\n/);
    expect(stdout).not.toMatch(new RegExp(`[\r${ESC}█░]`));
    // The bar was on the terminal (stderr) meanwhile.
    expect(
      liveLineStates(result.screen).some((s) => BAR('200,000').test(s)),
      result.screen,
    ).toBe(true);
  });

  it('nothing of the progress is written when stderr is not the terminal', async () => {
    const stderrFile = path.join(dir, 'stderr');
    const result = await runInTerminal(['submit', 'hello_world', '--n', '200000', '--param', 'name=quiet-err'], {
      env,
      columns: 80,
      stderrFile,
    });
    expect(result.status, result.screen).toBe(0);
    expect(await fs.readFile(stderrFile, 'utf8')).toBe('');
    expect(result.screen).not.toMatch(/[█░]/);
    expect(result.screen).not.toContain(CLEAR_LINE);
    expect(visibleLines(result.screen)[0]).toMatch(/^job [0-9a-f]{64}$/);
  });
});
