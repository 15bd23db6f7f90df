import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** Where tests keep screenshots (git-ignored). */
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  /** A new tab at the given size (default 1280 x 800). */
  page(size?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Headless Debian chromium through playwright-core, in a fresh user data
 * directory of its own (removed on close), so no test sees another's cookies.
 */
export async function openBrowser(): Promise<Browser> {
  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async page(size = { width: 1280, height: 800 }) {
      const page = await context.newPage();
      await page.setViewportSize(size);
      return page;
    },
    async close() {
      await context.close();
      await fs.rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot of the whole page as a test artefact and returns its path. */
export async function keepScreenshot(page: Page, name: string): Promise<string> {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
