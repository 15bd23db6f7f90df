import fs from 'node:fs/promises';
import path from 'node:path';
import GithubSlugger from 'github-slugger';
import type { Token } from 'markdown-it';
import MarkdownIt from 'markdown-it';

/** Folders that are not the repository's own documents: dependencies, test state, build output. */
const SKIPPED = new Set(['node_modules', '.git', '.geo-test', 'dist', 'test-artifacts']);

/** One broken thing, as `file: what` with the file relative to the root. */
export type Problem = string;

/** Every .md file under `root`, relative to it, sorted. */
export async function markdownFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) await walk(path.join(dir, entry.name));
      } else if (entry.isFile() && entry.name.endsWith('.md')) {
        found.push(path.relative(root, path.join(dir, entry.name)));
      }
    }
  };
  await walk(root);
  return found.sort();
}

const markdown = new MarkdownIt({ html: true });

/**
 * The anchors GitHub gives a document: one per heading, from its text as
 * rendered (code spans keep their text, link and emphasis markup goes), made
 * unique in order with -1, -2 (github-slugger is GitHub's own algorithm), plus
 * explicit `id` and `name` attributes in HTML.
 */
export function anchorsOf(text: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  const tokens = markdown.parse(text, {});
  tokens.forEach((token, i) => {
    if (token.type === 'heading_open') anchors.add(slugger.slug(plainText(tokens[i + 1]?.children ?? [])));
    if (token.type === 'html_block' || token.type === 'html_inline') {
      for (const m of token.content.matchAll(/\s(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
    }
    for (const child of token.children ?? []) {
      if (child.type === 'html_inline') for (const m of child.content.matchAll(/\s(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
    }
  });
  return anchors;
}

function plainText(children: Token[]): string {
  return children
    .filter((c) => c.type === 'text' || c.type === 'code_inline' || c.type === 'html_inline')
    .map((c) => (c.type === 'html_inline' ? '' : c.content))
    .join('');
}

/** Every link and image target in a document, in order. */
export function linksOf(text: string): string[] {
  const links: string[] = [];
  for (const token of markdown.parse(text, {})) {
    for (const child of token.children ?? []) {
      if (child.type === 'link_open') links.push(String(child.attrGet('href') ?? ''));
      if (child.type === 'image') links.push(String(child.attrGet('src') ?? ''));
    }
    if (token.type === 'html_block' || token.type === 'html_inline') {
      for (const m of token.content.matchAll(/\s(?:href|src)="([^"]+)"/g)) links.push(m[1]!);
    }
  }
  return links;
}

/**
 * Checks the .md files under `root`: every relative link (and image) names a
 * file or folder inside the repository, every #anchor names a heading of its
 * document, no link is an absolute path, and no text refers to files outside
 * the repository (a relative path that leaves it, or an absolute path in the
 * folder above it).
 */
export async function checkMarkdown(root: string): Promise<Problem[]> {
  const problems: Problem[] = [];
  const files = await markdownFiles(root);
  const texts = new Map<string, string>();
  const read = async (file: string) => {
    let text = texts.get(file);
    if (text === undefined) {
      text = await fs.readFile(path.join(root, file), 'utf8');
      texts.set(file, text);
    }
    return text;
  };
  const anchors = new Map<string, Set<string>>();
  const anchorsIn = async (file: string) => {
    let set = anchors.get(file);
    if (!set) {
      set = anchorsOf(await read(file));
      anchors.set(file, set);
    }
    return set;
  };
  const outside = `${path.dirname(path.resolve(root))}${path.sep}`;
  // The path where it starts a path of its own, not where it ends another (`src/core/work/` is not `/work/`).
  const outsidePath = new RegExp(`(?<![\\w.~/-])${outside.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

  for (const file of files) {
    const text = await read(file);
    const leaving = relativePathsIn(text).find((p) => path.normalize(path.join(path.dirname(file), p)).startsWith('..'));
    if (leaving) problems.push(`${file}: refers to ${leaving}, outside the repository`);
    if (outsidePath.test(text)) problems.push(`${file}: names an absolute path outside the repository (${outside})`);
    for (const href of linksOf(text)) {
      const problem = await checkLink(file, href);
      if (problem) problems.push(`${file}: ${problem}`);
    }
  }
  return problems;

  async function checkLink(file: string, href: string): Promise<string | undefined> {
    if (/^[a-z][a-z0-9+.-]*:/i.test(href)) return href.toLowerCase().startsWith('file:') ? `link to a local file: ${href}` : undefined;
    if (href.startsWith('/')) return `absolute link ${href} (links are relative to the document)`;
    const [rawTarget = '', anchor] = href.split('#', 2) as [string, string | undefined];
    const target = decodeURIComponent(rawTarget);
    const resolved = target === '' ? file : path.normalize(path.join(path.dirname(file), target));
    if (resolved.startsWith('..') || path.isAbsolute(resolved)) return `link ${href} leaves the repository`;
    const stat = await fs.stat(path.join(root, resolved)).catch(() => undefined);
    if (!stat) return `link ${href}: ${resolved} does not exist`;
    if (anchor === undefined) return undefined;
    if (!resolved.endsWith('.md')) {
      return /^L\d+(-L\d+)?$/.test(anchor) ? undefined : `link ${href}: an anchor into a file that is not Markdown`;
    }
    if (!(await anchorsIn(resolved)).has(decodeURIComponent(anchor))) return `link ${href}: ${resolved} has no heading #${anchor}`;
    return undefined;
  }
}

/** Paths written relative to the document that climb out of its folder (`../x`), where they start a path of their own. */
function relativePathsIn(text: string): string[] {
  return [...text.matchAll(/(?<![\w./-])(?:\.\.\/)+[\w.-][\w./-]*/g)].map((m) => m[0]);
}
