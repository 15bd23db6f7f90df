import { createWriteStream, type WriteStream } from 'node:fs';
import type { InputScan, RejectedLine } from '../../core/input/scan.js';
import { InputError } from '../../errors.js';
import { formatCount, formatSeconds, plural } from '../format.js';
import type { Output } from '../output.js';

/** Rejected lines shown on stderr before the rest are summarised. */
export const SHOWN_ON_STDERR = 10;

/**
 * Where rejected input lines go: the first ten to stderr as they are found,
 * every one to `--errors-file` (NDJSON, streamed) and, under --json, into
 * the document's `errors`.
 */
export class RejectedLines {
  readonly kept: RejectedLine[] = [];
  private count = 0;
  private file?: WriteStream;
  private fileError?: Error;

  constructor(
    private readonly output: Output,
    private readonly options: { label: string; errorsFile?: string; keep: boolean },
  ) {}

  /** Creates the errors file up front, so an unwritable path fails before the input is read. */
  async open(): Promise<void> {
    if (!this.options.errorsFile) return;
    const path = this.options.errorsFile;
    const file = createWriteStream(path, { flags: 'w' });
    await new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      file.once('error', (err) => reject(new InputError('ERRORS_FILE_UNWRITABLE', `--errors-file ${path} cannot be written: ${err.message}`)));
    });
    file.on('error', (err) => (this.fileError ??= err));
    this.file = file;
  }

  add(rejected: RejectedLine): void {
    this.count++;
    if (this.count <= SHOWN_ON_STDERR) this.output.notice(`geo: ${this.options.label} line ${rejected.line}: ${rejected.message}`);
    if (this.options.keep) this.kept.push(rejected);
    this.file?.write(`${JSON.stringify(rejected)}\n`);
  }

  async close(): Promise<void> {
    if (this.count > SHOWN_ON_STDERR) {
      const where = [this.options.errorsFile ? `in ${this.options.errorsFile}` : '--errors-file FILE', this.options.keep ? 'in the --json errors' : ''].filter(
        Boolean,
      );
      this.output.notice(`geo: ... and ${formatCount(this.count - SHOWN_ON_STDERR)} more rejected lines (all of them: ${where.join(', ')})`);
    }
    const file = this.file;
    if (!file) return;
    await new Promise<void>((resolve) => file.end(resolve));
    if (this.fileError) throw new InputError('ERRORS_FILE_UNWRITABLE', `--errors-file ${this.options.errorsFile}: ${this.fileError.message}`);
  }
}

/** The `input` object of `geo submit --input --json`. */
export function inputJson(scan: InputScan) {
  return {
    file: scan.label,
    format: scan.format,
    lines: scan.lines,
    items: scan.items,
    rejected: scan.rejected,
    duplicates: scan.duplicates,
    blankLines: scan.blankLines,
    sha256: scan.sha256,
    elapsedMs: scan.elapsedMs,
  };
}

export function renderInputSummary(output: Output, scan: InputScan): void {
  const parts = [plural(scan.items, 'item')];
  if (scan.rejected > 0) {
    parts.push(
      `${formatCount(scan.rejected)} rejected${scan.duplicates > 0 ? ` (${formatCount(scan.duplicates)} duplicate${scan.duplicates === 1 ? '' : 's'})` : ''}`,
    );
  }
  if (scan.blankLines > 0) parts.push(`${plural(scan.blankLines, 'blank line')} ignored`);
  output.line(`input ${scan.label} (${scan.format}, ${plural(scan.lines, 'line')}): ${parts.join(', ')}; checked in ${formatSeconds(scan.elapsedMs)}`);
}
