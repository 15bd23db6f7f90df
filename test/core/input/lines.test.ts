import { describe, expect, it } from 'vitest';
import { decodeLines, readLineChunks } from '../../../src/core/input/lines.js';

type Line = { number: number; text?: string; invalidUtf8?: true; tooLongBytes?: number };

/** The lines of an input read in `chunks`, as the checker sees them. */
async function lines(chunks: Array<Buffer | string>, maxLineBytes = 1024): Promise<Line[]> {
  async function* source() {
    for (const c of chunks) yield Buffer.isBuffer(c) ? c : Buffer.from(c, 'utf8');
  }
  const out: Line[] = [];
  let next = 1;
  for await (const chunk of readLineChunks(source(), { maxLineBytes })) {
    expect(chunk.firstLine).toBe(next);
    const texts = decodeLines(chunk);
    expect(texts).toHaveLength(chunk.count);
    next += chunk.count;
    texts.forEach((text, i) => {
      const number = chunk.firstLine + i;
      const overlong = chunk.overlong.find((o) => o.number === number);
      if (overlong) {
        expect(text).toBe('');
        out.push({ number, tooLongBytes: overlong.bytes });
      } else out.push(text === undefined ? { number, invalidUtf8: true } : { number, text });
    });
  }
  return out;
}

/** Every split of `bytes` into two chunks, to prove chunk boundaries never change the lines. */
function splits(bytes: Buffer): Buffer[][] {
  return Array.from({ length: bytes.length + 1 }, (_, i) => [bytes.subarray(0, i), bytes.subarray(i)]);
}

describe('readLineChunks and decodeLines', () => {
  it('splits LF and CRLF lines and keeps a last line without an ending', async () => {
    expect(await lines(['a\nb\r\nc'])).toEqual([
      { number: 1, text: 'a' },
      { number: 2, text: 'b' },
      { number: 3, text: 'c' },
    ]);
  });

  it('drops a UTF-8 byte order mark at the start only, wherever the first chunk ends', async () => {
    const bytes = Buffer.from('\ufeffz,x,y\n\ufeff1\n', 'utf8');
    for (const chunks of splits(bytes)) {
      expect(await lines(chunks)).toEqual([
        { number: 1, text: 'z,x,y' },
        { number: 2, text: '\ufeff1' },
      ]);
    }
  });

  it('decodes a character split across chunks and reports invalid UTF-8 by line', async () => {
    const bytes = Buffer.concat([Buffer.from('{"n":"é"}\n', 'utf8'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('ok\n')]);
    for (const chunks of splits(bytes)) {
      expect(await lines(chunks)).toEqual([
        { number: 1, text: '{"n":"é"}' },
        { number: 2, invalidUtf8: true },
        { number: 3, text: 'ok' },
      ]);
    }
  });

  it('reports an overlong line by its length and goes on with the next one', async () => {
    const long = 'x'.repeat(5000);
    const result = await lines(['short\n', long.slice(0, 2000), long.slice(2000), '\nafter\n', long], 100);
    expect(result).toEqual([
      { number: 1, text: 'short' },
      { number: 2, tooLongBytes: 5000 },
      { number: 3, text: 'after' },
      { number: 4, tooLongBytes: 5000 },
    ]);
  });

  it('finds an overlong line inside one read that is longer than the limit, wherever it is', async () => {
    const long = 'y'.repeat(300);
    expect(await lines([`a\nb\n${long}\nc\n${long}\nd`], 100)).toEqual([
      { number: 1, text: 'a' },
      { number: 2, text: 'b' },
      { number: 3, tooLongBytes: 300 },
      { number: 4, text: 'c' },
      { number: 5, tooLongBytes: 300 },
      { number: 6, text: 'd' },
    ]);
    // A line just at the limit is kept, split over reads or not.
    const atLimit = 'z'.repeat(100);
    for (const chunks of [[`${atLimit}\nq\n`], [atLimit.slice(0, 40), `${atLimit.slice(40)}\nq\n`]]) {
      expect(await lines(chunks, 100)).toEqual([
        { number: 1, text: atLimit },
        { number: 2, text: 'q' },
      ]);
    }
  });

  it('yields nothing for an empty input and one empty line for a lone newline', async () => {
    expect(await lines([])).toEqual([]);
    expect(await lines(['\n'])).toEqual([{ number: 1, text: '' }]);
    expect(await lines(['\ufeff'])).toEqual([]);
  });

  it('gives each chunk an ArrayBuffer of its own, so it can be transferred to a worker', async () => {
    async function* source() {
      yield Buffer.from('a\nb');
      yield Buffer.from('c\nd\n');
    }
    for await (const chunk of readLineChunks(source(), { maxLineBytes: 100 })) {
      expect(chunk.bytes.byteOffset).toBe(0);
      expect(chunk.bytes.buffer.byteLength).toBe(chunk.bytes.byteLength);
    }
  });
});
