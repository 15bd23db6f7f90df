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
 * The input's chunks with a leading UTF-8 BOM removed. The check needs three
 * bytes, which a tiny first chunk may not have: bytes that could still be a
 * BOM are held until they cannot, and an input that is nothing but part of
 * one comes out as it is.
 */
async function* withoutBom(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const raw of input) {
    if (!head) {
      yield raw;
      continue;
    }
    const start: Buffer = Buffer.concat([head, raw]);
    if (start.length < BOM.length && BOM.slice(0, start.length).every((b, i) => start[i] === b)) {
      head = start;
      continue;
    }
    head = undefined;
    yield BOM.every((b, i) => start[i] === b) ? start.subarray(BOM.length) : start;
  }
  if (head && head.length > 0) yield head;
}

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

  for await (const chunk of withoutBom(input)) {
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

/** Whole lines of an input as one buffer, for a worker thread to split and check (see readLineChunks). */
export interface LineChunk {
  /** Complete lines, each ending in LF; an overlong line stands here as an empty one. */
  bytes: Uint8Array;
  /** Number of the first line in `bytes`. */
  firstLine: number;
  /** Lines in `bytes`. */
  count: number;
  /** Lines too long to keep, by number, with their length in bytes. */
  overlong: Array<{ number: number; bytes: number }>;
}

/**
 * The same lines as readLines, as line-aligned chunks of bytes (what is
 * handed to worker threads: one copy per chunk, transferred, not cloned per
 * line). A BOM at the start is dropped; a line longer than `maxLineBytes`
 * becomes an empty line listed in `overlong`.
 */
export async function* readLineChunks(input: AsyncIterable<Buffer>, options: { maxLineBytes: number }): AsyncGenerator<LineChunk> {
  const max = options.maxLineBytes;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let next = 1;
  const emit = (parts: Buffer[], overlong: LineChunk['overlong'], lines: number): LineChunk => {
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    const chunk = { bytes, firstLine: next, count: lines, overlong };
    next += lines;
    return chunk;
  };
  for await (const chunk of withoutBom(input)) {
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf === -1) {
      if (pendingBytes + chunk.length <= max) pending.push(chunk);
      else pending = [];
      pendingBytes += chunk.length;
      continue;
    }
    const parts: Buffer[] = [];
    const overlong: LineChunk['overlong'] = [];
    let lines = 0;
    let start = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1 && lf <= lastLf; lf = chunk.indexOf(LF, start)) {
      const bytes = (start === 0 ? pendingBytes : 0) + (lf - start);
      if (bytes > max) {
        overlong.push({ number: next + lines, bytes });
        parts.push(EMPTY_LINE);
      } else {
        if (start === 0) parts.push(...pending);
        parts.push(chunk.subarray(start, lf + 1));
      }
      lines++;
      start = lf + 1;
    }
    pending = start < chunk.length ? [chunk.subarray(start)] : [];
    pendingBytes = chunk.length - start;
    yield emit(parts, overlong, lines);
  }
  if (pendingBytes > 0) {
    yield pendingBytes > max ? emit([EMPTY_LINE], [{ number: next, bytes: pendingBytes }], 1) : emit([...pending, EMPTY_LINE], [], 1);
  }
}

const EMPTY_LINE = Buffer.from([LF]);

/** The lines of a LineChunk, decoded (the worker side of readLineChunks). */
export function splitLineChunk(chunk: Pick<LineChunk, 'bytes' | 'firstLine'>): Line[] {
  const bytes = Buffer.from(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.bytes.byteLength);
  const valid = isUtf8(bytes);
  const lines: Line[] = [];
  let start = 0;
  for (let lf = bytes.indexOf(LF); lf !== -1; lf = bytes.indexOf(LF, start)) {
    lines.push(decode(bytes, start, lf, chunk.firstLine + lines.length, valid));
    start = lf + 1;
  }
  return lines;
}
