import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const FLUSH_AT = 256 * 1024;
/** Items parsed from the spool per step of pass two: one batch of the largest size. */
const PARSED_AT_ONCE = 100;
const LF = 0x0a;

/**
 * The accepted items of an input, as canonical JSON lines in a temporary
 * file written by the first pass; its sha256 is the items' part of the job id. The
 * second pass reads this instead of the input: no second CSV parse or schema
 * validation, standard input needs no copy of its own, and the items cannot
 * change between the passes. About the size of the input; removed at the end,
 * with the folder it is in (pass one keeps its key log there too).
 */
export class ItemSpool {
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** Over exactly the bytes written: every item's canonical JSON and a newline, in order. */
  private readonly hash = crypto.createHash('sha256');

  private constructor(
    /** A folder of this spool's own. */
    readonly folder: string,
    private readonly file: string,
    private readonly handle: fs.FileHandle,
  ) {}

  static async create(dir = os.tmpdir()): Promise<ItemSpool> {
    const folder = await fs.mkdtemp(path.join(dir, 'geo-items-'));
    const file = path.join(folder, 'items.ndjson');
    return new ItemSpool(folder, file, await fs.open(file, 'w', 0o600));
  }

  /** Adds items' canonical JSON, each followed by a newline, as UTF-8; call flush() now and then. */
  add(lines: Uint8Array): void {
    if (lines.length === 0) return;
    this.buffered.push(lines);
    this.bufferedBytes += lines.length;
  }

  /** Writes what is buffered once there is enough of it (or always, with force). */
  async flush(force = false): Promise<void> {
    if (this.bufferedBytes === 0 || (!force && this.bufferedBytes < FLUSH_AT)) return;
    const pieces = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (const piece of pieces) this.hash.update(piece);
    await this.handle.writev(pieces);
  }

  /** Writes the rest and returns the sha256 of the items (hex). */
  async finish(): Promise<string> {
    await this.flush(true);
    await this.handle.close();
    return this.hash.digest('hex');
  }

  /**
   * The items in order, parsed back from their JSON a batch at a time, as
   * dispatch takes them: items parsed long before they are written would
   * outlive the young generation and grow the heap.
   */
  async *items(): AsyncGenerator<unknown[]> {
    let carried: Buffer | undefined;
    for await (const read of createReadStream(this.file, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
      const chunk: Buffer = carried ? Buffer.concat([carried, read]) : read;
      const lastLf = chunk.lastIndexOf(LF);
      carried = lastLf + 1 < chunk.length ? chunk.subarray(lastLf + 1) : undefined;
      if (lastLf === -1) continue;
      const text = chunk.toString('utf8', 0, lastLf + 1);
      let start = 0;
      while (start < text.length) {
        const batch: unknown[] = [];
        for (; batch.length < PARSED_AT_ONCE && start < text.length; ) {
          const end = text.indexOf('\n', start);
          batch.push(JSON.parse(text.slice(start, end)));
          start = end + 1;
        }
        yield batch;
      }
    }
    if (carried) throw new Error('the item spool ends inside a line');
  }

  async remove(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fs.rm(this.folder, { recursive: true, force: true });
  }
}
