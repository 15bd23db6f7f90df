import { InputError } from '../../errors.js';
import { columnsOf } from '../job-types/describe.js';
import { safeParseHuman } from '../job-types/issues.js';
import type { JobItems } from '../job-types/job-type.js';
import { cellValue, csvHeaderProblem, splitCsvLine } from './csv.js';
import type { InputFormat } from './source.js';

/** A line's outcome: a validated item, a blank line, a CSV header, or why it was rejected. */
export type Decoded = { item: unknown } | { blank: true } | { header: true } | { error: string };

const BLANK = { blank: true } as const;
const HEADER = { header: true } as const;
const NOT_UTF8 = { error: 'is not valid UTF-8 text' } as const;

/**
 * Turns the lines of one input into validated items: NDJSON values or CSV
 * rows (the first non-blank line of a CSV file is its header, checked against
 * the item schema's fields), each parsed with the job type's item schema.
 * A CSV decoder remembers its header (or is given the one another read).
 */
export class ItemDecoder {
  private readonly fields;

  constructor(
    private readonly typeName: string,
    private readonly items: JobItems<never>,
    private readonly format: InputFormat,
    private readonly label: string,
    /** The CSV header's columns, once known. */
    public columns?: string[],
  ) {
    this.fields = format === 'csv' ? columnsOf(items.schema) : undefined;
    if (format === 'csv' && !this.fields) {
      throw new InputError('INPUT_FORMAT_UNSUPPORTED', `${typeName} items are not objects with named fields, so they cannot come from CSV; use NDJSON`);
    }
  }

  /** True once lines are items: always for NDJSON, after the header for CSV. */
  get ready(): boolean {
    return this.format === 'ndjson' || this.columns !== undefined;
  }

  /** One line's text (without its ending), or undefined when the line is not valid UTF-8; `number` names the line in a header error. */
  decode(text: string | undefined, number: number): Decoded {
    if (text === undefined) return NOT_UTF8;
    if (isBlank(text)) return BLANK;
    if (this.format === 'csv' && !this.columns) {
      this.readHeader(text, number);
      return HEADER;
    }
    const value = this.format === 'ndjson' ? parseJson(text) : this.parseRow(text);
    if ('error' in value) return value;
    const parsed = safeParseHuman(this.items.schema, value.value);
    if (!parsed.success) {
      return { error: parsed.error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ') };
    }
    return { item: parsed.data };
  }

  private readHeader(text: string, number: number): void {
    const cells = splitCsvLine(text);
    const columns = Array.isArray(cells) ? cells : undefined;
    const problem = columns ? csvHeaderProblem(columns, this.fields!) : cells && 'error' in cells ? cells.error : undefined;
    if (problem || !columns) {
      throw new InputError(
        'INPUT_HEADER_MISMATCH',
        `${this.label} line ${number}: the CSV header "${text.slice(0, 80)}" does not match ${this.typeName} items: ${problem} (the columns are ${this.fields!.all.join(', ')})`,
      );
    }
    this.columns = columns;
  }

  private parseRow(text: string): { value: unknown } | { error: string } {
    const cells = splitCsvLine(text);
    if (!Array.isArray(cells)) return cells;
    const columns = this.columns!;
    if (cells.length !== columns.length) return { error: `has ${cells.length} field${cells.length === 1 ? '' : 's'}; the header has ${columns.length}` };
    const row: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) {
      const value = cellValue(cells[i]!, this.fields!.types[columns[i]!]);
      if (value !== undefined) row[columns[i]!] = value;
    }
    return { value: row };
  }
}

function parseJson(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: `is not valid JSON (${err instanceof Error ? err.message : String(err)})` };
  }
}

/** Same as text.trim() === '' without making the trimmed copy: a line of an item starts with a non-space. */
function isBlank(text: string): boolean {
  const first = text.charCodeAt(0);
  if (first > 0x20 && first < 0x7f) return false;
  return text.trim() === '';
}
