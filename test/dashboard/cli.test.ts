import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-dashboard-cli-unused') };
});
afterAll(async () => {
  await db.drop();
});

/** Starts `geo dashboard --json` and returns once it printed where it listens. */
async function startDashboardCli(args: string[], extraEnv: Record<string, string> = {}) {
  const run = startGeo(['dashboard', '--port', '0', '--json', ...args], { ...env, ...extraEnv });
  let stdout = '';
  const started = await new Promise<{ url: string; port: number; readOnly: boolean; actions: string[] }>((resolve, reject) => {
    run.child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      try {
        resolve(JSON.parse(stdout));
      } catch {
        // Not the whole document yet.
      }
    });
    void run.done.then((r) => reject(new Error(`geo dashboard ended (exit ${r.code}): ${r.stderr}`)));
  });
  return { ...run, started };
}

describe('geo dashboard (the real binary)', () => {
  it('serves the page and the API on a free loopback port, prints one JSON document, and stops on SIGTERM', async () => {
    const dash = await startDashboardCli([]);
    try {
      expect(dash.started).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/), readOnly: true, actions: [] });
      const page = await fetch(dash.started.url);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('/assets/leaflet.js');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      for (const asset of ['leaflet.js', 'uPlot.js', 'topojson-client.js', 'land-110m.json', 'app.js', 'map.js', 'style.css']) {
        expect((await fetch(`${dash.started.url}assets/${asset}`)).status, asset).toBe(200);
      }
      expect(await (await fetch(`${dash.started.url}api/jobs`)).json()).toMatchObject({ jobs: [], nextCursor: null });
    } finally {
      dash.child.kill('SIGTERM');
    }
    const ended = await dash.done;
    expect(ended.signal ?? ended.code).toBe('SIGTERM');
    expect(() => JSON.parse(ended.stdout)).not.toThrow();
  });

  it('off loopback it needs GEO_DASHBOARD_TOKEN (exit 2), and then answers a wrong token with 401 only', async () => {
    const refused = await runGeo(['dashboard', '--host', '0.0.0.0', '--port', '0', '--json'], env);
    expect(refused.code).toBe(2);
    expect(parseJsonOutput(refused)).toMatchObject({ error: { code: 'DASHBOARD_TOKEN_REQUIRED' } });

    const weak = await runGeo(['dashboard', '--port', '0', '--json'], { ...env, GEO_DASHBOARD_TOKEN: 'short-secret' });
    expect(weak.code).toBe(2);
    expect(parseJsonOutput(weak)).toMatchObject({ error: { code: 'CONFIG_INVALID', message: expect.stringContaining('GEO_DASHBOARD_TOKEN') } });
    expect(weak.stdout + weak.stderr).not.toContain('short-secret');

    const token = 'cli-test-token-0123456789abcdef';
    const dash = await startDashboardCli(['--host', '0.0.0.0'], { GEO_DASHBOARD_TOKEN: token });
    try {
      expect(dash.started.url).not.toContain(token);
      const local = `http://127.0.0.1:${dash.started.port}/api/jobs`;
      const wrong = await fetch(local, { headers: { authorization: `Bearer ${token}x` } });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toBe('');
      expect((await fetch(local, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      dash.child.kill('SIGTERM');
      await dash.done;
    }
  });

  it('a port in use is exit 2 naming it', async () => {
    const first = await startDashboardCli([]);
    try {
      const second = await runGeo(['dashboard', '--port', String(first.started.port), '--json'], env);
      expect(second.code).toBe(2);
      expect(parseJsonOutput(second)).toMatchObject({
        error: { code: 'DASHBOARD_ADDRESS_IN_USE', message: expect.stringContaining(String(first.started.port)) },
      });
    } finally {
      first.child.kill('SIGTERM');
      await first.done;
    }
  });
});
