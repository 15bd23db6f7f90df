import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Dashboard } from '../../src/dashboard/server.js';
import { tasksClaimNext, tasksCompleteMany, tasksFail, tasksRelease } from '../../src/store/completion.js';
import { type Browser, keepScreenshot, openBrowser } from '../support/browser.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitFor } from '../support/wait.js';
import { followEvents, startTestDashboard } from './support.js';

/** The page's status colours (web/dashboard/format.js). */
const COLOURS: Record<string, string> = {
  pending_queue: '#b8bec6',
  queued: '#6ea8fe',
  processing: '#f0ad4e',
  completed: '#2e9e5b',
  failed: '#d9534f',
};

let db: TestDatabase;
let env: Record<string, string>;
let dashboard: Dashboard;
let browser: Browser;
/** What the dashboard told its operator (a lost LISTEN connection, an internal error). */
const notices: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-dashboard-browser-unused') };
  dashboard = await startTestDashboard(db.pool, { onNotice: (message) => notices.push(message) });
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await db.drop();
});

async function submit(args: string[]): Promise<string> {
  const run = await runGeo(['submit', ...args, '--json'], env);
  expect(run.code, run.stderr).toBe(0);
  return parseJsonOutput<{ jobId: string }>(run).jobId;
}

/** Claims up to `max` tasks of one job as `worker` (the local queue hands out any job's: the rest go back). */
async function claimOf(jobId: string, max: number, worker: string) {
  const claimed = await tasksClaimNext({ db: db.pool, worker, maxTasks: 100_000, leaseSeconds: 300, jobTypes: JOB_TYPES });
  const mine = claimed.filter((t) => t.taskId.startsWith(jobId.slice(0, 16))).slice(0, max);
  const kept = new Set(mine.map((t) => t.taskId));
  await tasksRelease({ db: db.pool, held: claimed.filter((t) => !kept.has(t.taskId)) });
  return mine;
}

/** Every job type these tests submit (the local queue hands out only the types a worker names). */
const JOB_TYPES = ['hello_world', 'tiles'];

type Counts = { expected: number; written: number; pendingQueue: number; queued: number; processing: number; completed: number; failed: number };

/** Per stage, from the task rows themselves (not the counters the dashboard reads). */
async function sqlCounts(jobId: string): Promise<Map<number, Counts>> {
  const { rows } = await db.pool.query<{ stage: number; expected: number; status: string | null; n: number }>(
    `SELECT s.stage, s.task_count AS expected, t.status, count(t.task_id)::int AS n
     FROM stages s LEFT JOIN task_states t ON t.job_id = s.job_id AND t.stage = s.stage
     WHERE s.job_id = $1 GROUP BY 1, 2, 3`,
    [jobId],
  );
  const out = new Map<number, Counts>();
  const key: Record<string, keyof Counts> = {
    pending_queue: 'pendingQueue',
    queued: 'queued',
    processing: 'processing',
    completed: 'completed',
    failed: 'failed',
  };
  for (const row of rows) {
    const c = out.get(row.stage) ?? { expected: row.expected, written: 0, pendingQueue: 0, queued: 0, processing: 0, completed: 0, failed: 0 };
    if (row.status) {
      c[key[row.status]!] += row.n;
      c.written += row.n;
    }
    out.set(row.stage, c);
  }
  return out;
}

async function jobStatus(jobId: string): Promise<string> {
  return (await db.pool.query<{ status: string }>(`SELECT status FROM jobs WHERE job_id = $1`, [jobId])).rows[0]!.status;
}

/** The stages table of a job page, as numbers from its data attributes. */
async function pageStages(page: Page): Promise<Map<number, Counts>> {
  const rows = await page.$$eval('#stages tr[data-stage]', (trs) =>
    trs.map((tr) => ({
      stage: Number((tr as HTMLElement).dataset.stage),
      values: Object.fromEntries(
        [...tr.querySelectorAll('td[data-field]')].map((td) => [(td as HTMLElement).dataset.field, Number((td as HTMLElement).dataset.value)]),
      ),
    })),
  );
  return new Map(
    rows
      .filter((r) => r.values.written > 0 || r.values.expected > 0)
      .map((r) => [
        r.stage,
        {
          expected: r.values.expected!,
          written: r.values.written!,
          pendingQueue: r.values.pendingQueue!,
          queued: r.values.queued!,
          processing: r.values.processing!,
          completed: r.values.completed!,
          failed: r.values.failed!,
        },
      ]),
  );
}

async function openJobPage(jobId: string, size?: { width: number; height: number }): Promise<Page> {
  const page = await browser.page(size);
  await page.goto(`${dashboard.url}jobs/${jobId}`);
  await page.waitForSelector('#stages tr[data-stage]');
  await page.waitForSelector('#live[data-state="live"]');
  return page;
}

/** Waits until `read` gives the same answer twice, half a second apart. */
async function settled(read: () => Promise<string>): Promise<void> {
  let last: string | undefined;
  await waitFor(
    'the database to stop changing after the worker stopped',
    async () => {
      const now = await read();
      const same = now === last;
      last = now;
      return same;
    },
    { timeoutMs: 20_500, intervalMs: 500 },
  );
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
}

// A browser, a worker and the suite's other files share two cores: the default timeout is too short under load.
describe('the dashboard in a browser', { timeout: 180_000 }, () => {
  it('the jobs list and job pages match SQL counts for a hello_world and a tiles job while geo work runs; the map has one cell per tile in its colour', async () => {
    const tilesJob = await submit(['tiles', '--param', 'bbox=5.9,45.8,10.5,47.8', '--param', 'zoom=11']);
    // Some tiles finished and failed before the worker starts, and some held by another worker for the whole run.
    const held = await claimOf(tilesJob, 200, 'holder');
    await tasksCompleteMany({
      db: db.pool,
      completions: held.slice(0, 150).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({}) })),
    });
    for (const t of held.slice(150, 160)) await tasksFail({ db: db.pool, taskId: t.taskId, claim: t.claim, error: 'no imagery here', retryable: false });
    const helloJob = await submit(['hello_world', '--n', '25000', '--param', 'name=browser']);

    const work = startGeo(['work', '--concurrency', '4', '--until-idle', '--idle', '2s'], env);
    try {
      await vi.waitFor(async () => expect((await sqlCounts(helloJob)).get(1)!.completed).toBeGreaterThan(5_000), { timeout: 30_000, interval: 50 });
      // Frozen mid-run: the worker holds its claims, and every count stands still while the pages are read.
      stopChild(work.child, 'SIGSTOP');
      // Statements the worker sent before it stopped still run on the server: wait until nothing moves.
      await settled(async () => JSON.stringify([...(await sqlCounts(helloJob)), ...(await sqlCounts(tilesJob))]));
      expect(await jobStatus(helloJob)).toBe('processing');
      expect(await jobStatus(tilesJob)).toBe('processing');
      const hello = await sqlCounts(helloJob);
      const tiles = await sqlCounts(tilesJob);
      expect(hello.get(1)!.queued).toBeGreaterThan(0);
      expect(tiles.get(1)).toMatchObject({ processing: 40, failed: 10, queued: 0 });

      const list = await browser.page();
      await list.goto(dashboard.url);
      await list.waitForSelector(`tr[data-job-id="${helloJob}"]`);
      for (const [jobId, counts] of [
        [helloJob, hello],
        [tilesJob, tiles],
      ] as const) {
        const row = list.locator(`tr[data-job-id="${jobId}"]`);
        expect(await row.getAttribute('data-status')).toBe('processing');
        const bar = await row.locator('.stagebar[data-stage="1"]').evaluate((e) => ({ ...(e as HTMLElement).dataset }));
        const truth = counts.get(1)!;
        expect(bar).toMatchObject({
          expected: String(truth.expected),
          completed: String(truth.completed),
          failed: String(truth.failed),
          processing: String(truth.processing),
        });
      }
      await keepScreenshot(list, 'dashboard-jobs-list');

      const helloPage = await openJobPage(helloJob);
      expect(await pageStages(helloPage)).toEqual(hello);
      await keepScreenshot(helloPage, 'dashboard-hello-world-job');

      const tilesPage = await openJobPage(tilesJob);
      expect(await pageStages(tilesPage)).toEqual(tiles);
      await tilesPage.waitForFunction(() => Number(document.getElementById('map')?.dataset.features) > 0);
      const truth = await db.pool.query<{ taskId: string; status: string }>(`SELECT t.task_id AS "taskId", t.status FROM task_states t WHERE t.job_id = $1`, [
        tilesJob,
      ]);
      const drawn = await tilesPage.evaluate(() =>
        (window as unknown as { geoDashboard: { features(): Array<{ taskId: string; status: string; fill: string }> } }).geoDashboard.features(),
      );
      expect(drawn).toHaveLength(truth.rows.length);
      expect(new Map(drawn.map((f) => [f.taskId, f.status]))).toEqual(new Map(truth.rows.map((r) => [r.taskId, r.status])));
      for (const f of drawn) expect(f.fill, f.status).toBe(COLOURS[f.status]);
      expect(new Set(drawn.map((f) => f.status))).toEqual(new Set(['completed', 'failed', 'processing']));
      // The canvas has the colours where the tiles are: a failed tile's centre pixel is red.
      const failedTask = drawn.find((f) => f.status === 'failed')!.taskId;
      // Where the tile is now, and the colour there: read again until it is drawn, since the canvas repaints
      // on an animation frame after the scroll and the page above the map may still grow (its sections load).
      const colourAtTile = async () => {
        await tilesPage.locator('#map').scrollIntoViewIfNeeded();
        const pixel = await tilesPage.evaluate((taskId) => {
          const g = (
            window as unknown as {
              geoDashboard: {
                map: {
                  latLngToContainerPoint(ll: [number, number]): { x: number; y: number };
                  eachLayer(fn: (l: { feature?: { properties: { taskId: string }; geometry: { coordinates: number[][][] } } }) => void): void;
                };
              };
            }
          ).geoDashboard;
          let centre: [number, number] = [0, 0];
          g.map.eachLayer((l) => {
            if (l.feature?.properties.taskId === taskId) {
              const ring = l.feature.geometry.coordinates[0]!;
              centre = [(ring[0]![1]! + ring[2]![1]!) / 2, (ring[0]![0]! + ring[2]![0]!) / 2];
            }
          });
          const point = g.map.latLngToContainerPoint(centre);
          const container = document.getElementById('map')!.getBoundingClientRect();
          return { x: container.left + point.x, y: container.top + point.y };
        }, failedTask);
        const clip = { x: Math.round(pixel.x), y: Math.round(pixel.y), width: 1, height: 1 };
        return nearestStatus(await decodePixel(tilesPage, await tilesPage.screenshot({ clip })));
      };
      await expect.poll(colourAtTile, { timeout: 10_000 }).toBe('failed');
      await keepScreenshot(tilesPage, 'dashboard-tiles-map');

      // Clicking a tile shows its task.
      await tilesPage.evaluate((taskId) => (window as unknown as { geoDashboard: { select(key: string): void } }).geoDashboard.select(taskId), failedTask);
      await expect.poll(() => tilesPage.locator('#tile-task-id').textContent()).toBe(failedTask);
      expect(await tilesPage.locator('#tile-detail').textContent()).toContain('no imagery here');

      // Running again, both jobs end; the open pages follow without a reload.
      stopChild(work.child, 'SIGCONT');
      await tasksCompleteMany({ db: db.pool, completions: held.slice(160).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({}) })) });
      const ended = await work.done;
      expect(ended.code, ended.stderr).toBe(0);
      expect(await jobStatus(helloJob)).toBe('completed');
      expect(await jobStatus(tilesJob)).toBe('failed');
      await expect.poll(() => helloPage.locator('[data-fact="status"] [data-status]').getAttribute('data-status'), { timeout: 5_000 }).toBe('completed');
      expect(await pageStages(helloPage)).toEqual(await sqlCounts(helloJob));
      await expect.poll(() => tilesPage.locator('[data-fact="status"] [data-status]').getAttribute('data-status'), { timeout: 5_000 }).toBe('failed');
      await expect
        .poll(
          async () =>
            (await tilesPage.evaluate(() => (window as unknown as { geoDashboard: { features(): Array<{ status: string }> } }).geoDashboard.features())).filter(
              (f) => f.status === 'processing',
            ).length,
          { timeout: 5_000 },
        )
        .toBe(0);
      await expect.poll(() => list.locator(`tr[data-job-id="${helloJob}"]`).getAttribute('data-status'), { timeout: 5_000 }).toBe('completed');
      await Promise.all([list.close(), helloPage.close(), tilesPage.close()]);
    } finally {
      stopChild(work.child, 'SIGCONT');
      stopChild(work.child, 'SIGKILL');
      await work.done.catch(() => undefined);
    }
  });

  it('a change reaches an open page within 2 s of its SQL commit: counts on geo_progress, the stage status on its completion, both sent by the database', async () => {
    const jobId = await submit(['hello_world', '--n', '200', '--param', 'name=latency']);
    const page = await openJobPage(jobId);
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    // A change that never arrives fails here, saying what the page and the database showed, not at the test's timeout.
    const seen = async (what: string, when: Promise<number>): Promise<number> => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(async () => {
          const shown = await page
            .evaluate(() => ({
              live: document.getElementById('live')?.dataset.state,
              row: document.querySelector('#stages tr[data-stage="1"]')?.outerHTML,
              error: document.querySelector('.error')?.textContent,
            }))
            .catch((err: Error) => ({ unreadable: err.message }));
          const api = await fetch(`${dashboard.url}api/jobs/${jobId}`)
            .then((r) => r.text())
            .catch((err: Error) => err.message);
          reject(
            new Error(
              `${what} never reached the page within 20 s. Page: ${JSON.stringify(shown)}; API: ${api}; SQL: ${JSON.stringify([...(await sqlCounts(jobId))])}; console: ${JSON.stringify(consoleLines)}; dashboard notices: ${JSON.stringify(notices)}; a second subscriber got: ${JSON.stringify(stream.events)}`,
            ),
          );
        }, 20_000);
      });
      try {
        return await Promise.race([when, late]);
      } finally {
        clearTimeout(timer);
      }
    };
    const claimed = await claimOf(jobId, 200, 'latency');
    // The observer is in place in the page before the change is made (the first evaluate returns
    // once it is); the second evaluate waits for the time it saw the change.
    let watches = 0;
    const watch = async (selector: string, attribute: string): Promise<() => Promise<number>> => {
      const key = `geoTestWatch${++watches}`;
      await page.evaluate(
        ({ selector, attribute, key }) => {
          const before = document.querySelector(selector)?.getAttribute(attribute);
          (window as unknown as Record<string, Promise<number>>)[key] = new Promise<number>((resolve) => {
            const observer = new MutationObserver(() => {
              const now = document.querySelector(selector)?.getAttribute(attribute);
              if (now !== before) {
                observer.disconnect();
                resolve(Date.now());
              }
            });
            // The whole document: a render may replace the view's own element, which an observer on it would not see.
            observer.observe(document.body, { subtree: true, childList: true, attributes: true });
          });
        },
        { selector, attribute, key },
      );
      return () => page.evaluate((key) => (window as unknown as Record<string, Promise<number>>)[key]!, key);
    };

    const stream = await followEvents(`${dashboard.url}api/events?job=${jobId}`);
    await stream.next((e) => e.event === 'ready');
    const counted = await watch('#stages tr[data-stage="1"] td[data-field="completed"]', 'data-value');
    const t0 = Date.now();
    // geo_stage_finish sends geo_progress with the first completions of a second (migrations/006); within a
    // second of the submit's own (the stage written), the dashboard's second sending of that one (events.ts).
    await tasksCompleteMany({
      db: db.pool,
      completions: claimed.slice(0, 120).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'm' }) })),
    });
    const progressMs = (await seen('the completed count', counted())) - t0;
    expect(await page.locator('#stages tr[data-stage="1"] td[data-field="completed"]').getAttribute('data-value')).toBe('120');

    const finished = await watch('#stages tr[data-stage="1"]', 'data-status');
    const t1 = Date.now();
    await tasksCompleteMany({
      db: db.pool,
      completions: claimed.slice(120).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'm' }) })),
    });
    const stageMs = (await seen('the stage status', finished())) - t1;
    expect(await page.locator('#stages tr[data-stage="1"]').getAttribute('data-status')).toBe('completed');
    console.info(`update latency, SQL commit to DOM: ${progressMs} ms (geo_progress), ${stageMs} ms (geo_stage_completed)`);
    expect(progressMs).toBeLessThan(2_000);
    expect(stageMs).toBeLessThan(2_000);
    stream.close();
    await page.close();
  });

  it('read-only by default: no action control anywhere; with --allow-actions an action runs only after it is confirmed', async () => {
    const jobId = await submit(['hello_world', '--n', '10', '--param', 'name=actions-ui']);
    const readOnly = await openJobPage(jobId);
    await readOnly.waitForSelector('#job-head h1');
    expect(await readOnly.locator('button[data-action], #actions, dialog, form').count()).toBe(0);
    await readOnly.goto(dashboard.url);
    await readOnly.waitForSelector(`tr[data-job-id="${jobId}"]`);
    expect(await readOnly.locator('button[data-action], #actions, dialog').count()).toBe(0);
    await readOnly.close();

    const cancel = vi.fn(async () => ({ cancelled: true }));
    const steering = await startTestDashboard(db.pool, { allowActions: true, actions: { cancel } });
    try {
      const page = await browser.page();
      await page.goto(`${steering.url}jobs/${jobId}`);
      const button = page.locator('button[data-action="cancel"]');
      await button.click();
      await expect.poll(() => page.locator('dialog#confirm').evaluate((d) => (d as HTMLDialogElement).open)).toBe(true);
      await page.locator('#confirm-back').click();
      expect(cancel).not.toHaveBeenCalled();
      await button.click();
      await page.locator('#confirm-reason').fill('wrong parameters');
      await page.locator('#confirm-go').click();
      await expect.poll(() => cancel.mock.calls.length).toBe(1);
      expect(cancel).toHaveBeenCalledWith({ jobId, reason: 'wrong parameters' });
      await page.close();
    } finally {
      await steering.close();
    }
  });

  it('is usable 390 px wide: nothing wider than the screen, the map shown', async () => {
    const jobId = await submit(['tiles', '--param', 'bbox=-3,50,2,53', '--param', 'zoom=8']);
    const phone = { width: 390, height: 844 };
    const list = await browser.page(phone);
    await list.goto(dashboard.url);
    await list.waitForSelector(`tr[data-job-id="${jobId}"]`);
    expect(await list.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await keepScreenshot(list, 'dashboard-jobs-list-390');
    const page = await openJobPage(jobId, phone);
    await page.waitForFunction(() => Number(document.getElementById('map')?.dataset.features) > 0);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const map = await page.locator('#map').boundingBox();
    expect(map!.width).toBeGreaterThan(300);
    await keepScreenshot(page, 'dashboard-job-390');
    await Promise.all([list.close(), page.close()]);
  });

  it('a page opened with a bad token gets 401 and nothing else', async () => {
    const guarded = await startTestDashboard(db.pool, { token: 'the-right-token-0123456789' });
    try {
      const page = await browser.page();
      // Chromium shows an error page of its own for a bare 401; the answer itself is read through the browser's request context.
      const response = await page.request.get(`${guarded.url}?token=the-wrong-token-0123456789`, { maxRedirects: 0 });
      expect(response.status()).toBe(401);
      expect((await response.body()).length).toBe(0);
      expect(response.headers()['content-type']).toBeUndefined();
      const api = await page.request.get(`${guarded.url}api/jobs`, { headers: { authorization: 'Bearer the-wrong-token-0123456789' } });
      expect(api.status()).toBe(401);
      expect((await api.body()).length).toBe(0);
      const ok = await page.goto(`${guarded.url}?token=the-right-token-0123456789`);
      expect(ok!.status()).toBe(200);
      expect(new URL(page.url()).search).toBe('');
      await page.waitForSelector('#jobs');
      await page.close();
    } finally {
      await guarded.close();
    }
  });
});

/** The colour of a 1 x 1 PNG, decoded by the browser itself. */
function decodePixel(page: Page, png: Buffer): Promise<number[]> {
  return page.evaluate(async (base64) => {
    const image = new Image();
    image.src = `data:image/png;base64,${base64}`;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = 1;
    canvas.height = 1;
    const context = canvas.getContext('2d')!;
    context.drawImage(image, 0, 0);
    return [...context.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  }, png.toString('base64'));
}

/** The status whose colour, drawn at the map's opacity over land or sea, is nearest to `rgb`. */
function nearestStatus(rgb: number[]): string {
  const parse = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let best = { status: '', distance: Infinity };
  for (const [status, hex] of Object.entries(COLOURS)) {
    for (const under of ['#eef1f4', '#cfe0ee']) {
      const drawn = parse(hex).map((c, i) => c * 0.8 + parse(under)[i]! * 0.2);
      const distance = drawn.reduce((sum, c, i) => sum + (c - rgb[i]!) ** 2, 0);
      if (distance < best.distance) best = { status, distance };
    }
  }
  return best.status;
}
