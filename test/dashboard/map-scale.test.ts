import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tileCount } from '../../src/core/job-types/tiles-math.js';
import type { Dashboard } from '../../src/dashboard/server.js';
import { type Browser, keepScreenshot, openBrowser } from '../support/browser.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startTestDashboard } from './support.js';

const BBOX = [-6, 38, 20, 58] as [number, number, number, number];
const ZOOM = 12;

let db: TestDatabase;
let dashboard: Dashboard;
let browser: Browser;

beforeAll(async () => {
  db = await createTestDatabase();
  dashboard = await startTestDashboard(db.pool);
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await db.drop();
});

type Drawn = Array<{ taskId: string | null; tasks?: number; cell?: { z: number } }>;

describe('the map of a stage of 100,000 tiles', () => {
  it('draws at most a screenful of cells, aggregated to a coarser zoom, that together hold every tile; zooming in shows single tiles', async () => {
    const tiles = tileCount(BBOX, ZOOM);
    expect(tiles).toBeGreaterThan(100_000);
    const run = await runGeo(
      ['submit', 'tiles', '--param', `bbox=${BBOX.join(',')}`, '--param', `zoom=${ZOOM}`, '--json'],
      {
        DATABASE_URL: db.url,
        GEO_HOME: path.join(os.tmpdir(), 'geo-dashboard-scale-unused'),
      },
      { timeoutMs: 120_000 },
    );
    expect(run.code, run.stderr).toBe(0);
    const { jobId } = parseJsonOutput<{ jobId: string }>(run);

    const page = await browser.page();
    const started = performance.now();
    await page.goto(`${dashboard.url}jobs/${jobId}`);
    await page.waitForFunction(() => Number(document.getElementById('map')?.dataset.features) > 0, undefined, { timeout: 30_000 });
    const firstDrawMs = performance.now() - started;
    const drawn = await page.evaluate(() => (window as unknown as { geoDashboard: { features(): Drawn } }).geoDashboard.features());
    expect(drawn.length).toBeLessThanOrEqual(4_000);
    expect(drawn.every((f) => f.taskId === null && f.cell!.z < ZOOM)).toBe(true);
    expect(drawn.reduce((sum, f) => sum + f.tasks!, 0)).toBe(tiles);
    await keepScreenshot(page, 'dashboard-map-100k');

    // Zoomed in to the tiles' own zoom, cells are single tiles with their task ids.
    const zoomStarted = performance.now();
    await page.evaluate((z) => {
      const map = (window as unknown as { geoDashboard: { map: { setView(c: [number, number], z: number, o: object): void } } }).geoDashboard.map;
      map.setView([48, 7], z, { animate: false });
    }, ZOOM - 4);
    await page.waitForFunction((z) => document.getElementById('map')?.dataset.zoom === String(z), ZOOM, { timeout: 30_000 });
    const zoomMs = performance.now() - zoomStarted;
    const close = await page.evaluate(() => (window as unknown as { geoDashboard: { features(): Drawn } }).geoDashboard.features());
    expect(close.length).toBeGreaterThan(0);
    expect(close.length).toBeLessThanOrEqual(4_000);
    expect(close.every((f) => typeof f.taskId === 'string')).toBe(true);

    const timed = async (url: string) => {
      const t = performance.now();
      const res = await fetch(url);
      const body = await res.arrayBuffer();
      return { ms: Math.round(performance.now() - t), bytes: body.byteLength };
    };
    const aggregated = await timed(`${dashboard.url}api/jobs/${jobId}/tiles?zoom=8&bbox=${BBOX.join(',')}`);
    const everything = await timed(`${dashboard.url}api/jobs/${jobId}/tiles`);
    console.info(
      `map of ${tiles} tiles: first draw ${Math.round(firstDrawMs)} ms (${drawn.length} cells), zoom-in redraw ${Math.round(zoomMs)} ms (${close.length} tiles); ` +
        `GET tiles?zoom=8 ${aggregated.ms} ms ${aggregated.bytes} B; GET tiles (every tile) ${everything.ms} ms ${everything.bytes} B`,
    );
    await page.close();
  });
});
