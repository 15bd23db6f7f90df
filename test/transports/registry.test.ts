import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from '@babel/parser';
import { describe, expect, it, vi } from 'vitest';

// Every Azure SDK import is recorded instead of loaded: the registry must load none.
const sdkImports = vi.hoisted(() => [] as string[]);
vi.mock('@azure/service-bus', () => {
  sdkImports.push('@azure/service-bus');
  return {};
});
vi.mock('@azure/storage-queue', () => {
  sdkImports.push('@azure/storage-queue');
  return {};
});
vi.mock('@azure/identity', () => {
  sdkImports.push('@azure/identity');
  return {};
});

const SRC = path.resolve(import.meta.dirname, '../../src');
/** The folders that may name a transport: the transports themselves and their configuration. */
const MAY_NAME = ['transports', 'config'].map((folder) => path.join(SRC, folder) + path.sep);

/** String literals (and plain template literals) in TypeScript `source` that equal one of `names`, with their lines. */
function namedIn(source: string, names: readonly string[]): Array<{ name: string; line: number }> {
  const found: Array<{ name: string; line: number }> = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const n = node as {
      type?: string;
      value?: unknown;
      quasis?: Array<{ value: { cooked: string } }>;
      expressions?: unknown[];
      loc?: { start: { line: number } };
    };
    const text = n.type === 'StringLiteral' ? n.value : n.type === 'TemplateLiteral' && n.expressions?.length === 0 ? n.quasis?.[0]?.value.cooked : undefined;
    if (typeof text === 'string' && names.includes(text)) found.push({ name: text, line: n.loc!.start.line });
    for (const [key, value] of Object.entries(node)) if (key !== 'loc' && key !== 'extra') visit(value);
  };
  visit(parse(source, { sourceType: 'module', plugins: ['typescript'] }).program);
  return found;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}

describe('the transports registry', () => {
  it('loads no Azure SDK until a transport is opened', async () => {
    const registry = await import('../../src/transports/index.js');
    expect(registry.transportKinds().map((k) => k.name)).toEqual(['local', 'servicebus', 'storage-queue']);
    expect(sdkImports).toEqual([]);
    // The mocks do see an SDK import: opening a transport's implementation makes one.
    await import('../../src/transports/servicebus-connect.js');
    expect(sdkImports).toContain('@azure/service-bus');
  });

  it('has a kind for every name, each under its own name, and local as the default', async () => {
    const { DEFAULT_TRANSPORT, TRANSPORT_NAMES, transportKind } = await import('../../src/transports/index.js');
    for (const name of TRANSPORT_NAMES) expect(transportKind(name).name).toBe(name);
    expect(DEFAULT_TRANSPORT).toBe('local');
    // The default needs nothing but the database.
    expect(transportKind(DEFAULT_TRANSPORT).tasksAreMessages).toBe(true);
    expect(transportKind(DEFAULT_TRANSPORT).queue).toBeUndefined();
  });

  it('finds a name in a string, a template and a literal type, and not in comments or longer strings', () => {
    const sample = [
      "const a = 'local';",
      'const b = `servicebus`;',
      "type C = 'storage-queue';",
      "// 'local' in a comment",
      "const d = 'local queue';",
      // A template with a substitution is not a plain literal, so it must not count.
      `const e = \`\${a}servicebus\`;`,
    ].join('\n');
    expect(namedIn(sample, ['local', 'servicebus', 'storage-queue'])).toEqual([
      { name: 'local', line: 1 },
      { name: 'servicebus', line: 2 },
      { name: 'storage-queue', line: 3 },
    ]);
  });

  it('no source file outside src/transports and src/config names a transport', async () => {
    const { TRANSPORT_NAMES } = await import('../../src/transports/index.js');
    const files = (await sourceFiles(SRC)).filter((file) => !MAY_NAME.some((folder) => file.startsWith(folder)));
    expect(files.length).toBeGreaterThan(100);
    const named: string[] = [];
    for (const file of files) {
      for (const { name, line } of namedIn(await fs.readFile(file, 'utf8'), TRANSPORT_NAMES)) {
        named.push(`${path.relative(SRC, file)}:${line} '${name}'`);
      }
    }
    // Take the name from the registry (transportKind, DEFAULT_TRANSPORT) or a capability instead.
    expect(named).toEqual([]);
  });
});
