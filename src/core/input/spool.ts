import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readLines } from './lines.js';

const FLUSH_AT = 256 * 1024;

/**
 * The accepted items of an input, as canonical JSON lines in a temporary
 * file written by the first pass; its sha256 is the items' part of the job id. The
 * second pass reads this instead of the input: no second CSV parse or schema
 * validation, standard input needs no copy of its own, and the items cannot
 * change between the passes. About the size of the input; removed at the end.
 */
export class ItemSpool {
  private buffered: string[] = [];
  private bufferedLength = 0;
  /** Over exactly the bytes written: every item's canonical JSON and a newline, in order. */
  private readonly hash = crypto.createHash('sha256');

  private constructor(
    private readonly folder: string,
    private readonly file: string,
    private readonly handle: fs.FileHandle,
  ) {}

  static async create(dir = os.tmpdir()): Promise<ItemSpool> {
    const folder = await fs.mkdtemp(path.join(dir, 'geo-items-'));
    const file = path.join(folder, 'items.ndjson');
    return new ItemSpool(folder, file, await fs.open(file, 'w', 0o600));
  }

  /** Adds one item's JSON (no newline); call flush() now and then. */
  add(json: string): void {
    this.buffered.push(json, '\n');
    this.bufferedLength += json.length + 1;
  }

  /** Adds several items' JSON at once, each already followed by a newline. */
  addLines(text: string): void {
    this.buffered.push(text);
    this.bufferedLength += text.length;
  }

  /** Writes what is buffered once there is enough of it (or always, with force). */
  async flush(force = false): Promise<void> {
    if (this.bufferedLength === 0 || (!force && this.bufferedLength < FLUSH_AT)) return;
    const text = this.buffered.join('');
    this.buffered = [];
    this.bufferedLength = 0;
    this.hash.update(text);
    await this.handle.write(text);
  }

  /** Writes the rest and returns the sha256 of the items (hex). */
  async finish(): Promise<string> {
    await this.flush(true);
    await this.handle.close();
    return this.hash.digest('hex');
  }

  /** The items in order, parsed back from their JSON, a read chunk at a time. */
  async *items(): AsyncGenerator<unknown[]> {
    for await (const lines of readLines(createReadStream(this.file, { highWaterMark: 64 * 1024 }), { maxLineBytes: Infinity })) {
      yield lines.map((line) => JSON.parse(line.text!));
    }
  }

  async remove(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fs.rm(this.folder, { recursive: true, force: true });
  }
}
