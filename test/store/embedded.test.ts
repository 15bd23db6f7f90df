import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/store/embedded/file-lock.js';
import { embeddedServerInfo, stopEmbeddedServer } from '../../src/store/embedded/server.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';

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
  await stopEmbeddedServer(home);
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
    await waitUntil(() => !processAlive(pid));
    // Make the pid file point at a live process that is not PostgreSQL, as after a reboot.
    const text = await fs.readFile(pidFile, 'utf8').catch(() => `${pid}\n`);
    await fs.writeFile(pidFile, text.replace(/^\d+/, String(process.pid)));

    const result = await runGeo(['submit', 'hello_world', '--n', '300', '--param', 'name=a', '--json'], env, { timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(parseJsonOutput(result)).toMatchObject({ queued: 300, createdTasks: 0 });
  });

  it('geo db status and geo db stop report and stop the server', async () => {
    const status = parseJsonOutput(await runGeo(['db', 'status', '--json'], env));
    expect(status).toMatchObject({ running: true, dataDir: expect.stringContaining('data') });
    expect(parseJsonOutput(await runGeo(['db', 'stop', '--json'], env))).toEqual({ stopped: true });
    expect(parseJsonOutput(await runGeo(['db', 'status', '--json'], env))).toMatchObject({ running: false });
  });
});


async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
