import { isUtf8 } from 'node:buffer';

/** One physical line of an input file (1-based), decoded, or why it could not be. */
export interface Line {
  number: number;
  /** The text without its line ending; undefined when the line is unusable. */
  text?: string;
  /** Set when the line is not valid UTF-8. */
  invalidUtf8?: boolean;
  /** Set (to the line's length in bytes) when it is longer than maxLineBytes: its bytes were not kept. */
  tooLongBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const BOM = [0xef, 0xbb, 0xbf];

/**
 * Splits a byte stream into lines, a chunk's worth at a time (one array per
 * chunk, so a consumer pays one await per chunk, not per line). LF or CRLF
 * endings, a UTF-8 byte order mark at the start is dropped, and a line longer
 * than `maxLineBytes` is reported by length without being held in memory.
 * Splitting on LF is safe before decoding: 0x0A never occurs inside a
 * multi-byte UTF-8 sequence.
 */
export async function* readLines(input: AsyncIterable<Buffer>, options: { maxLineBytes: number }): AsyncGenerator<Line[]> {
  const max = options.maxLineBytes;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let number = 0;
  let atStart = true;
  let head = Buffer.alloc(0);

  for await (const raw of input) {
    let chunk = raw;
    if (atStart) {
      // The BOM check needs three bytes, which a tiny first chunk may not have.
      head = Buffer.concat([head, chunk]);
      if (head.length < BOM.length && BOM.slice(0, head.length).every((b, i) => head[i] === b)) continue;
      chunk = BOM.every((b, i) => head[i] === b) ? head.subarray(BOM.length) : head;
      atStart = false;
    }
    const lines: Line[] = [];
    const lastLf = chunk.lastIndexOf(LF);
    // One validity check for the chunk's whole lines; per-line checks only when it fails.
    const wholeValid = lastLf >= 0 && isUtf8(chunk.subarray(0, lastLf));
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        const rest = chunk.length - start;
        if (rest > 0) {
          if (pendingBytes + rest <= max) pending.push(chunk.subarray(start));
          else pending = [];
          pendingBytes += rest;
        }
        break;
      }
      number++;
      const bytes = pendingBytes + (lf - start);
      if (bytes > max) lines.push({ number, tooLongBytes: bytes });
      else if (pending.length === 0) lines.push(decode(chunk, start, lf, number, wholeValid));
      else {
        const joined = Buffer.concat([...pending, chunk.subarray(start, lf)]);
        lines.push(decode(joined, 0, joined.length, number, false));
      }
      pending = [];
      pendingBytes = 0;
      start = lf + 1;
    }
    if (lines.length > 0) yield lines;
  }
  if (atStart && head.length > 0 && !BOM.every((b, i) => head[i] === b)) {
    pending = [head];
    pendingBytes = head.length;
  }
  if (pendingBytes > 0) {
    number++;
    const rest = Buffer.concat(pending);
    yield [pendingBytes > max ? { number, tooLongBytes: pendingBytes } : decode(rest, 0, rest.length, number, false)];
  }
}

/** The text of bytes[start, end) without a trailing CR; no Buffer per line on the common path. */
function decode(bytes: Buffer, start: number, end: number, number: number, knownValid: boolean): Line {
  const stop = end > start && bytes[end - 1] === CR ? end - 1 : end;
  if (!knownValid && !isUtf8(bytes.subarray(start, stop))) return { number, invalidUtf8: true };
  return { number, text: bytes.toString('utf8', start, stop) };
}
