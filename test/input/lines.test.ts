import { describe, expect, it } from 'vitest';
import { readLines, type Line } from '../../src/core/input/lines.js';

async function lines(chunks: Array<Buffer | string>, maxLineBytes = 1024): Promise<Line[]> {
  async function* source() {
    for (const c of chunks) yield Buffer.isBuffer(c) ? c : Buffer.from(c, 'utf8');
  }
  const out: Line[] = [];
  for await (const batch of readLines(source(), { maxLineBytes })) out.push(...batch);
  return out;
}

/** Every split of `bytes` into two chunks, to prove chunk boundaries never change the lines. */
function splits(bytes: Buffer): Buffer[][] {
  return Array.from({ length: bytes.length + 1 }, (_, i) => [bytes.subarray(0, i), bytes.subarray(i)]);
}

describe('readLines', () => {
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

  it('yields nothing for an empty input and one empty line for a lone newline', async () => {
    expect(await lines([])).toEqual([]);
    expect(await lines(['\n'])).toEqual([{ number: 1, text: '' }]);
    expect(await lines(['\ufeff'])).toEqual([]);
  });
});
