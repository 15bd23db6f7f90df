import Table from 'cli-table3';
import { textWidth } from './format.js';

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

/** The columns shown and each one's width in terminal columns (indexed like `columns`). */
interface Layout {
  shown: number[];
  widths: number[];
  hidden: string[];
  cut: boolean;
}

const GAP = 2;
const MIN_FLEX = 8;
const FLEX_READABLE = 30;

/**
 * cli-table3 without borders or rules. Columns are set apart by one space of
 * right padding plus a one-space separator: cli-table3 counts one separator
 * column between the columns a spanning cell covers, so a two-space separator
 * would put spanning rows out of line with the others.
 */
const NO_BORDERS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: ' ',
};

/**
 * A borderless table (header, then one line per row, no rules between rows)
 * that fits `width` columns: droppable columns go first, then the flexible one
 * is cut. `width` 0 or Infinity means no limit (output to a file or a pipe).
 * geo decides which columns fit (cli-table3 has no notion of dropping one);
 * cli-table3 draws them, aligns, cuts cells with "…" and wraps spanning text.
 */
export function formatTable(columns: Column[], rows: Row[], width: number): TableText {
  const limit = width > 0 ? width - 1 : Infinity;
  const layout = chooseColumns(columns, rows, limit);
  return { text: draw(columns, rows, layout, limit), hidden: layout.hidden, cut: layout.cut };
}

/** geo's own part: which columns fit `limit`, and how wide the flexible one may be. */
function chooseColumns(columns: Column[], rows: Row[], limit: number): Layout {
  // A spanning row's text does not widen the columns it runs across.
  const natural = columns.map((c, i) => Math.max(textWidth(c.header), ...rows.map((r) => textWidth((Array.isArray(r) ? r : r.cells)[i] ?? ''))));
  let shown = columns.map((_, i) => i);
  const widthOf = (indices: number[], widths: number[]) => indices.reduce((sum, i) => sum + widths[i]!, 0) + GAP * Math.max(0, indices.length - 1);

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
  return { shown, widths, hidden, cut };
}

/** cli-table3's part: the shown columns drawn at their widths, trailing padding trimmed. */
function draw(columns: Column[], rows: Row[], layout: Layout, limit: number): string {
  const { shown, widths } = layout;
  // Each width plus the column's one space of right padding.
  const colWidths = shown.map((i) => widths[i]! + 1);
  const filler = fillerWidth(colWidths, rows, shown, limit);
  const extra = filler === undefined ? [] : [''];
  const table = new Table({
    head: [...shown.map((i) => columns[i]!.header), ...extra],
    chars: NO_BORDERS,
    style: { 'padding-left': 0, 'padding-right': 1, head: [], border: [], compact: true },
    colWidths: filler === undefined ? colWidths : [...colWidths, filler],
    colAligns: [...shown.map((i) => columns[i]!.align ?? 'left'), ...(filler === undefined ? [] : ['left' as const])],
    truncate: '…',
    wordWrap: false,
  });
  for (const row of rows) {
    if (Array.isArray(row)) {
      table.push([...shown.map((i) => row[i] ?? ''), ...extra]);
      continue;
    }
    const lead = shown.filter((i) => i < row.cells.length).map((i) => row.cells[i]!);
    const span: Table.Cell = { content: row.span, colSpan: colWidths.length + extra.length - lead.length, hAlign: 'left', wordWrap: true };
    table.push([...lead, span]);
  }
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/**
 * A spanning row runs to the terminal's edge, not just to the table's: an
 * empty last column (trimmed from every line) widens what it may cover, so its
 * text wraps at the edge of the terminal, or not at all without a limit.
 * cli-table3 wraps a spanning cell at its columns' widths less one padding,
 * without the separators between them. Undefined when no row spans.
 */
function fillerWidth(colWidths: number[], rows: Row[], shown: number[], limit: number): number | undefined {
  const spans = rows.filter((r): r is { cells: string[]; span: string } => !Array.isArray(r));
  if (spans.length === 0) return undefined;
  const wanted = spans.map((row) => {
    const lead = shown.filter((i) => i < row.cells.length).length;
    const indent = colWidths.slice(0, lead).reduce((sum, w) => sum + w + 1, 0);
    const covered = colWidths.slice(lead).reduce((sum, w) => sum + w, 0);
    const room = Number.isFinite(limit) ? limit - indent : textWidth(row.span);
    return room + 1 - covered;
  });
  return Math.max(1, Number.isFinite(limit) ? Math.min(...wanted) : Math.max(...wanted));
}
