import { isUtf8 } from 'node:buffer';

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

/** Whole lines of an input as one buffer, checked on this thread or on a worker (see readLineChunks). */
export interface LineChunk {
  /** Complete lines, each ending in LF; an overlong line stands here as an empty one. Its own ArrayBuffer, so it can be transferred. */
  bytes: Uint8Array;
  /** Number of the first line in `bytes`. */
  firstLine: number;
  /** Lines in `bytes`. */
  count: number;
  /** Lines too long to keep, by number, with their length in bytes. */
  overlong: Array<{ number: number; bytes: number }>;
}

/**
 * The same lines as readLines, as line-aligned chunks of bytes: one copy per
 * read (so a chunk can be transferred to a worker), no object per line. A BOM
 * at the start is dropped; a line longer than `maxLineBytes` becomes an empty
 * line listed in `overlong`. Only a line that spans reads, or one inside a
 * read longer than `maxLineBytes`, can be overlong, so lines are otherwise
 * only counted.
 */
export async function* readLineChunks(input: AsyncIterable<Buffer>, options: { maxLineBytes: number }): AsyncGenerator<LineChunk> {
  const max = options.maxLineBytes;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let next = 1;
  const emit = (parts: Uint8Array[], overlong: LineChunk['overlong'], count: number): LineChunk => {
    let total = 0;
    for (const part of parts) total += part.length;
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    const chunk = { bytes, firstLine: next, count, overlong };
    next += count;
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
    const parts: Uint8Array[] = [];
    const overlong: LineChunk['overlong'] = [];
    // The first line ends the bytes carried over from earlier reads.
    const firstLf = chunk.indexOf(LF);
    const headBytes = pendingBytes + firstLf;
    if (headBytes > max) {
      overlong.push({ number: next, bytes: headBytes });
      parts.push(EMPTY_LINE);
    } else parts.push(...pending, chunk.subarray(0, firstLf + 1));
    let count = 1;
    if (lastLf - firstLf <= max) {
      // No line in the rest of this read can be longer than the limit: count them, copy them at once.
      for (let lf = chunk.indexOf(LF, firstLf + 1); lf !== -1 && lf <= lastLf; lf = chunk.indexOf(LF, lf + 1)) count++;
      parts.push(chunk.subarray(firstLf + 1, lastLf + 1));
    } else {
      let start = firstLf + 1;
      for (let lf = chunk.indexOf(LF, start); lf !== -1 && lf <= lastLf; lf = chunk.indexOf(LF, start)) {
        if (lf - start > max) {
          overlong.push({ number: next + count, bytes: lf - start });
          parts.push(EMPTY_LINE);
        } else parts.push(chunk.subarray(start, lf + 1));
        count++;
        start = lf + 1;
      }
    }
    pendingBytes = chunk.length - lastLf - 1;
    pending = pendingBytes === 0 ? [] : pendingBytes <= max ? [chunk.subarray(lastLf + 1)] : [];
    yield emit(parts, overlong, count);
  }
  if (pendingBytes > 0) {
    yield pendingBytes > max ? emit([EMPTY_LINE], [{ number: next, bytes: pendingBytes }], 1) : emit([...pending, EMPTY_LINE], [], 1);
  }
}

const EMPTY_LINE = Buffer.from([LF]);

/**
 * The text of each line of a chunk, without its line ending (LF or CRLF);
 * undefined for a line that is not valid UTF-8. Splitting on LF before
 * decoding is safe: 0x0A never occurs inside a multi-byte UTF-8 sequence.
 * One validity check for the whole chunk; per-line checks only when it fails.
 */
export function decodeLines(chunk: Pick<LineChunk, 'bytes'>): Array<string | undefined> {
  const bytes = Buffer.from(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.bytes.byteLength);
  const valid = isUtf8(bytes);
  const texts: Array<string | undefined> = [];
  let start = 0;
  for (let lf = bytes.indexOf(LF); lf !== -1; lf = bytes.indexOf(LF, start)) {
    const end = lf > start && bytes[lf - 1] === CR ? lf - 1 : lf;
    texts.push(valid || isUtf8(bytes.subarray(start, end)) ? bytes.toString('utf8', start, end) : undefined);
    start = lf + 1;
  }
  return texts;
}
