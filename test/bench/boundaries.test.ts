import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every relative import of every .ts file under `dir`, resolved to a path from the repository root. */
async function importsUnder(dir: string): Promise<Array<{ file: string; target: string }>> {
  const found: Array<{ file: string; target: string }> = [];
  const entries = await fs.readdir(path.join(ROOT, dir), { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const full = path.join(entry.parentPath, entry.name);
    const text = await fs.readFile(full, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      found.push({ file: path.relative(ROOT, full), target: path.relative(ROOT, path.resolve(path.dirname(full), match[1]!)) });
    }
  }
  return found;
}

describe('bench is one feature folder', () => {
  it('the bench code lives only in src/bench, and core, store and transports never import it', async () => {
    await expect(fs.stat(path.join(ROOT, 'src/core/bench'))).rejects.toMatchObject({ code: 'ENOENT' });
    const lower = [...(await importsUnder('src/core')), ...(await importsUnder('src/store')), ...(await importsUnder('src/transports'))];
    // Proves the scan sees imports at all, so an empty result below means something.
    expect(lower.length).toBeGreaterThan(50);
    expect(lower.filter((i) => i.target.startsWith('src/bench/'))).toEqual([]);
  });

  it('outside the folder only the bench command and its renderer (types) import it', async () => {
    const all = [...(await importsUnder('src')), ...(await importsUnder('scripts'))];
    const importers = new Set(all.filter((i) => i.target.startsWith('src/bench/') && !i.file.startsWith('src/bench/')).map((i) => i.file));
    expect([...importers].sort()).toEqual(['src/cli/commands/bench.ts', 'src/cli/render/bench.ts']);
  });

  it('the bench folder never reaches up into the CLI', async () => {
    const fromBench = await importsUnder('src/bench');
    expect(fromBench.length).toBeGreaterThan(10);
    expect(fromBench.filter((i) => i.target.startsWith('src/cli/'))).toEqual([]);
  });
});
