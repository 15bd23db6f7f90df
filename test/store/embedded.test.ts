import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/store/embedded/file-lock.js';
import { embeddedServerInfo, ensureEmbeddedServer, stopEmbeddedServer } from '../../src/store/embedded/server.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { waitFor } from '../support/wait.js';

// The embedded server as a user meets it: no DATABASE_URL, a GEO_HOME of its own.
let home: string;
let env: Record<string, string>;
beforeAll(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-embedded-'));
  // mkdtemp makes a 700 folder; as root the server (run as `postgres`) must still reach its data.
  env = { GEO_HOME: home };
});
afterAll(async () => {
  const { dataDir } = await embeddedServerInfo(home);
  await stopEmbeddedServer(home, { force: true });
  // As root the data may live outside GEO_HOME (see the first test).
  await fs.rm(path.dirname(dataDir), { recursive: true, force: true });
  await fs.rm(home, { recursive: true, force: true });
});

describe('the embedded PostgreSQL', () => {
  it('two geo processes starting at once share one server, and the user is told once where the data lives', async () => {
    const [a, b] = await Promise.all([
      runGeo(['submit', 'hello_world', '--n', '300', '--param', 'name=a', '--json'], env, { timeoutMs: 120_000 }),
      runGeo(['submit', 'hello_world', '--n', '300', '--param', 'name=b', '--json'], env, { timeoutMs: 120_000 }),
    ]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    expect(parseJsonOutput(a).queued).toBe(300);
    expect(parseJsonOutput(b).queued).toBe(300);
    const told = [a.stderr, b.stderr].filter((s) => s.includes('created the embedded PostgreSQL database in'));
    expect(told).toHaveLength(1);
    const { dataDir } = await embeddedServerInfo(home);
    expect(told[0]).toContain(dataDir);
    if (os.userInfo().uid === 0) {
      // GEO_HOME is mode 700 (mkdtemp): the postgres user cannot reach it, so the data lives elsewhere.
      expect(dataDir.startsWith(home)).toBe(false);
    }

    const again = await runGeo(['submit', 'hello_world', '--n', '300', '--param', 'name=a', '--json'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('created the embedded PostgreSQL');
    expect(parseJsonOutput(again).createdTasks).toBe(0);
  });

  it('a crash that leaves a stale postmaster.pid does not stop the next command', async () => {
    const info = await embeddedServerInfo(home);
    const pidFile = path.join(info.dataDir, 'postmaster.pid');
    const pid = Number((await fs.readFile(pidFile, 'utf8')).split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    await waitFor(`the killed server (pid ${pid}) to be gone`, () => (processAlive(pid) ? undefined : true), { timeoutMs: 10_000 });
    // Make the pid file point at a live process that is not PostgreSQL, as after a reboot.
    const text = await fs.readFile(pidFile, 'utf8').catch(() => `${pid}\n`);
    await fs.writeFile(pidFile, text.replace(/^\d+/, String(process.pid)));

    const result = await runGeo(['submit', 'hello_world', '--n', '300', '--param', 'name=a', '--json'], env, { timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(parseJsonOutput(result)).toMatchObject({ queued: 300, createdTasks: 0 });
  });

  it('geo db url prints a URL a worker connects with, and no other output shows the password', async () => {
    const text = await runGeo(['db', 'url'], env, { timeoutMs: 120_000 });
    expect(text.code, text.stderr).toBe(0);
    const url = text.stdout.trim();
    expect(text.stdout).toBe(`${url}\n`);
    const password = decodeURIComponent(new URL(url).password);
    expect(password.length).toBeGreaterThan(10);
    expect(parseJsonOutput(await runGeo(['db', 'url', '--json'], env))).toEqual({ url });

    // The URL reaches the completion API, as a worker in another language would use it.
    const worker = new pg.Client({ connectionString: url });
    await worker.connect();
    try {
      const { rows } = await worker.query("SELECT outcome FROM geo_claim_task('no-such-task', 'url-test', interval '1 minute')");
      expect(rows).toEqual([{ outcome: 'missing' }]);
    } finally {
      await worker.end();
    }

    const status = await runGeo(['db', 'status', '--json'], env);
    expect(parseJsonOutput(status)).not.toHaveProperty('url');
    const statusText = await runGeo(['db', 'status'], env);
    const submitted = await runGeo(['submit', 'hello_world', '--n', '3', '--param', 'name=url', '--json'], env);
    const failed = await runGeo(['status', 'ffffffffffff'], env);
    expect(failed.code).toBe(2);
    for (const r of [status, statusText, submitted, failed]) expect(r.stdout + r.stderr).not.toContain(password);

    expect(parseJsonOutput(await runGeo(['db', 'status', '--show-url', '--json'], env))).toMatchObject({ running: true, url });
    expect((await runGeo(['db', 'status', '--show-url'], env)).stdout.split('\n')).toContain(url);
  });

  it('geo db url with DATABASE_URL set prints that URL, the database geo uses', async () => {
    const own = (await ensureEmbeddedServer({ home })).connectionString;
    const result = await runGeo(['db', 'url', '--json'], { ...env, DATABASE_URL: own });
    expect(result.code, result.stderr).toBe(0);
    expect(parseJsonOutput(result)).toEqual({ url: own });
  });

  it('geo db status and geo db stop report and stop the server', async () => {
    const status = parseJsonOutput(await runGeo(['db', 'status', '--json'], env));
    expect(status).toMatchObject({ running: true, dataDir: expect.stringContaining('data') });
    expect(parseJsonOutput(await runGeo(['db', 'stop', '--json'], env))).toEqual({ stopped: true, disconnected: [] });
    expect(parseJsonOutput(await runGeo(['db', 'status', '--json'], env))).toMatchObject({ running: false });
  });

  it('geo db stop refuses while another client is connected, naming it, and --force stops it anyway', async () => {
    const started = await runGeo(['migrate', '--json'], env, { timeoutMs: 120_000 });
    expect(started.code, started.stderr).toBe(0);
    // A client other than geo db stop itself, as a running submit or a psql session would be.
    const holder = new pg.Client({ connectionString: (await ensureEmbeddedServer({ home })).connectionString, application_name: 'geo-test-holder' });
    await holder.connect();
    holder.on('error', () => undefined);
    try {
      const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

      const refused = await runGeo(['db', 'stop', '--json'], env);
      expect(refused.code, refused.stderr).toBe(2);
      const { error } = parseJsonOutput<{ error: { code: string; message: string } }>(refused);
      expect(error.code).toBe('DATABASE_IN_USE');
      expect(error.message).toContain(`clients connected: 1 (geo-test-holder: pid ${holderPid})`);
      expect(error.message).toContain('--force');
      // Nothing was stopped: the client still works and the server still runs.
      expect((await holder.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      expect(parseJsonOutput(await runGeo(['db', 'status', '--json'], env))).toMatchObject({ running: true });

      const human = await runGeo(['db', 'stop'], env);
      expect(human.code).toBe(2);
      expect(human.stderr.trim().split('\n')).toEqual([`geo: ${error.message}`]);

      const forced = await runGeo(['db', 'stop', '--force', '--json'], env);
      expect(forced.code, forced.stderr).toBe(0);
      expect(parseJsonOutput(forced)).toEqual({
        stopped: true,
        disconnected: [{ pid: holderPid, applicationName: 'geo-test-holder', database: 'postgres' }],
      });
      await expect(holder.query('SELECT 1')).rejects.toThrow();
      expect(parseJsonOutput(await runGeo(['db', 'status', '--json'], env))).toMatchObject({ running: false });
    } finally {
      await holder.end().catch(() => undefined);
    }
  });
});
