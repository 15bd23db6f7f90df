import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorsOf, checkMarkdown, linksOf, markdownFiles } from './markdown-check.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** What the README may weigh: what geo is, the quick start, the commands, and where to read on. */
const README_MAX_BYTES = 12 * 1024;

describe("the repository's documentation", () => {
  it('every relative link and #anchor of every .md file resolves, and nothing refers outside the repository', async () => {
    const files = await markdownFiles(ROOT);
    // The walk found the documents it is meant to check, and none of the skipped folders.
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/README.md', 'docs/workers.md', 'docs/transports/storage-queue.md']));
    expect(files.filter((f) => /^(node_modules|dist|\.geo-test|test-artifacts)\//.test(f))).toEqual([]);
    expect(await checkMarkdown(ROOT)).toEqual([]);
  });

  it('README.md is at most 12 KB', async () => {
    const { size } = await fs.stat(path.join(ROOT, 'README.md'));
    expect(size).toBeLessThanOrEqual(README_MAX_BYTES);
  });

  it('every page in docs/ is reachable from the index', async () => {
    const pages = (await markdownFiles(path.join(ROOT, 'docs'))).filter((f) => f !== 'README.md');
    const index = await fs.readFile(path.join(ROOT, 'docs/README.md'), 'utf8');
    const linked = new Set(linksOf(index).map((href) => path.normalize(href.split('#')[0]!)));
    expect(pages.filter((p) => !linked.has(p))).toEqual([]);
  });
});

describe('the link check', () => {
  let root: string;
  beforeAll(async () => {
    // A repository of its own, inside a parent folder that holds a design/ folder beside it.
    const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-docs-'));
    root = path.join(parent, 'repo');
    await fs.mkdir(path.join(root, 'docs'), { recursive: true });
    await fs.mkdir(path.join(root, 'node_modules/pkg'), { recursive: true });
    await fs.mkdir(path.join(parent, 'design'));
    await fs.writeFile(path.join(parent, 'design/ARCHITECTURE.md'), '# Design\n');
    await fs.writeFile(path.join(root, 'src.ts'), '');
    await fs.writeFile(path.join(root, 'node_modules/pkg/README.md'), '[broken](nowhere.md)\n');
    await fs.writeFile(
      path.join(root, 'README.md'),
      [
        '# geo',
        '',
        'See [workers](docs/workers.md#the-two-rules), [the claim](docs/workers.md#the-claim-token-1),',
        '[running](docs/workers.md#running-tasks-geo-work), [here](#geo), [code](src.ts#L3-L5), [web](https://example.com/x#y).',
        'Broken: [a](docs/missing.md), [b](docs/workers.md#no-such-heading), [c](#nope), [d](/docs/workers.md),',
        '[e](../design/ARCHITECTURE.md), [f](src.ts#top).',
        '',
        `The design follows ../design/ARCHITECTURE.md; the checkout lives in ${path.join(parent, 'repo')}.`,
        // The same characters ending a longer path are not that folder.
        `Not outside: vendor${path.join(parent, 'repo')}/x.`,
        '',
        '```sh',
        'echo "[not a link](nowhere.md)"',
        '```',
      ].join('\n'),
    );
    await fs.writeFile(
      path.join(root, 'docs/workers.md'),
      ['# Workers', '', '## The two rules', '', '## The claim token', '', '## The claim token', '', '## Running tasks: `geo work`', ''].join('\n'),
    );
  });
  afterAll(async () => {
    await fs.rm(path.dirname(root), { recursive: true, force: true });
  });

  it('reports each broken link, anchor and outside reference, and nothing that resolves', async () => {
    const problems = await checkMarkdown(root);
    expect(problems).toEqual([
      'README.md: refers to ../design/ARCHITECTURE.md, outside the repository',
      `README.md: names an absolute path outside the repository (${path.dirname(root)}${path.sep})`,
      'README.md: link docs/missing.md: docs/missing.md does not exist',
      'README.md: link docs/workers.md#no-such-heading: docs/workers.md has no heading #no-such-heading',
      'README.md: link #nope: README.md has no heading #nope',
      'README.md: absolute link /docs/workers.md (links are relative to the document)',
      'README.md: link ../design/ARCHITECTURE.md leaves the repository',
      'README.md: link src.ts#top: an anchor into a file that is not Markdown',
    ]);
  });

  it('names headings as GitHub does: code spans kept, punctuation dropped, repeats numbered', () => {
    const anchors = anchorsOf(
      ['# `geo work`: running tasks', '## Exit codes (0/1/2/3)', '## Exit codes (0/1/2/3)', '## What *changed*, for [workers](x.md)'].join('\n\n'),
    );
    expect([...anchors]).toEqual(['geo-work-running-tasks', 'exit-codes-0123', 'exit-codes-0123-1', 'what-changed-for-workers']);
  });
});
