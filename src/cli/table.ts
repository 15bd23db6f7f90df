import { fitText } from './format.js';

/** A column of a plain table. */
export interface Column {
  header: string;
  /** Numbers are right-aligned. */
  align?: 'left' | 'right';
  /**
   * When the table is too wide, columns with a `drop` rank are left out,
   * highest rank first, before the flexible column is cut.
   */
  drop?: number;
  /**
   * The one column cut (with "…") to fit the width. Droppable columns go
   * before it gets narrower than 30; it goes itself below 8.
   */
  flex?: boolean;
}

/** A row: one cell per column, or leading cells and then text that runs across the rest. */
export type Row = string[] | { cells: string[]; span: string };

export interface TableText {
  text: string;
  /** Headers of the columns left out to fit the width. */
  hidden: string[];
  /** True when cells of the flexible column were cut (or it was left out). */
  cut: boolean;
}

const GAP = '  ';
const MIN_FLEX = 8;
const FLEX_READABLE = 30;

/**
 * A borderless table (header, then one line per row, no rules between rows)
 * that fits `width` columns: droppable columns go first, then the flexible one
 * is cut. `width` 0 or Infinity means no limit (output to a file or a pipe).
 */
export function formatTable(columns: Column[], rows: Row[], width: number): TableText {
  const limit = width > 0 ? width - 1 : Infinity;
  // A spanning row's text does not widen the columns it runs across.
  const natural = columns.map((c, i) =>
    Math.max(c.header.length, ...rows.map((r) => ((Array.isArray(r) ? r : r.cells)[i] ?? '').length)),
  );
  let shown = columns.map((_, i) => i);
  const widthOf = (indices: number[], widths: number[]) =>
    indices.reduce((sum, i) => sum + widths[i]!, 0) + GAP.length * Math.max(0, indices.length - 1);

  const droppable = columns
    .map((c, i) => ({ i, rank: c.drop }))
    .filter((c): c is { i: number; rank: number } => c.rank !== undefined)
    .sort((a, b) => b.rank - a.rank);
  // Deciding what to drop, the flexible column counts at a readable width, not its whole text.
  const flexAt = columns.findIndex((c) => c.flex);
  const planned = natural.map((w, i) => (i === flexAt ? Math.min(w, FLEX_READABLE) : w));
  const hidden: string[] = [];
  for (const { i } of droppable) {
    if (widthOf(shown, planned) <= limit) break;
    shown = shown.filter((j) => j !== i);
    hidden.push(columns[i]!.header);
  }

  const widths = [...natural];
  let cut = false;
  const flex = shown.find((i) => columns[i]!.flex);
  if (flex !== undefined && widthOf(shown, widths) > limit) {
    const room = widths[flex]! - (widthOf(shown, widths) - limit);
    cut = true;
    if (room >= MIN_FLEX) widths[flex] = room;
    else {
      shown = shown.filter((j) => j !== flex);
      hidden.push(columns[flex]!.header);
    }
  }

  const line = (cells: string[]) =>
    shown
      .map((i, k) => {
        const text = fitText(cells[i] ?? '', widths[i]!);
        const last = k === shown.length - 1;
        if (columns[i]!.align === 'right') return text.padStart(widths[i]!);
        return last ? text : text.padEnd(widths[i]!);
      })
      .join(GAP)
      .trimEnd();
  const lines = [line(columns.map((c) => c.header))];
  for (const row of rows) {
    if (Array.isArray(row)) {
      lines.push(line(row));
      continue;
    }
    const prefix = shown
      .filter((i) => i < row.cells.length)
      .map((i) => fitText(row.cells[i]!, widths[i]!).padEnd(widths[i]!))
      .join(GAP);
    const indent = prefix.length + GAP.length;
    lines.push(...wrap(row.span, limit - indent).map((part, k) => (k === 0 ? `${prefix.padEnd(indent)}${part}` : `${' '.repeat(indent)}${part}`)));
  }
  return { text: lines.join('\n'), hidden, cut };
}

/** Splits `text` into lines of at most `width` characters, at spaces where it can. */
export function wrap(text: string, width: number): string[] {
  if (!Number.isFinite(width) || text.length <= width || width < 20) return [text];
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width);
    const at = space > width / 2 ? space : width;
    lines.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  if (rest) lines.push(rest);
  return lines;
}
