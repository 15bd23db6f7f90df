import fs from 'node:fs';

/** The table grows (doubles) past this share of used slots. */
const MAX_LOAD = 0.75;
/** A new table is sized so that the expected keys fill this share of it. */
const TARGET_LOAD = 0.7;
const MIN_CAPACITY = 1 << 16;
/** Records are appended here and written to the log file a block at a time. */
const BLOCK_BYTES = 1 << 20;
/** Bytes read from the log file at once to compare a key: later lookups near it need no read. */
const WINDOW_BYTES = 64 * 1024;
/** Record: line (uint32), key length (uint8), key bytes, padded to 4 bytes. */
const RECORD_HEAD = 5;
const MAX_KEY_BYTES = 255;
const MAX_RECORD = (RECORD_HEAD + MAX_KEY_BYTES + 3) & ~3;

/**
 * The set of task keys seen so far in an input, with the line each was first
 * seen on, exact and in bounded memory. The keys themselves go to a log file
 * (with their first line); memory holds one table of 6 bytes a slot: a
 * 16-bit tag from the key's hash and where its record is in the log. That is
 * about 9 bytes a key, against 40 for a table that also held the keys (a JS
 * Map: 60 and more, in small heap objects the collector keeps walking).
 * The log is read only when a slot's tag equals the key's, which for a new
 * key happens about once in 20,000 adds: in memory for the newest records,
 * else through a window read from the file.
 *
 * Keys are ASCII (the task-key rule) of at most 255 characters, given as
 * bytes.
 */
export class KeySet {
  private capacity: number;
  /** capacity / 2^32: a hash times this is its home slot. */
  private scale: number;
  private size = 0;
  /**
   * Per slot, three 16-bit words (one cache line for most probes): the
   * key's tag, then its record's offset in the log / 4 plus one (0: empty),
   * low half first.
   */
  private table: Uint16Array;
  private readonly fd: number;
  private readonly block = Buffer.allocUnsafeSlow(BLOCK_BYTES);
  private blockUsed = 0;
  /** Offset in the log of block[0]: everything before it is in the file. */
  private blockStart = 0;
  private readonly window = Buffer.allocUnsafeSlow(WINDOW_BYTES);
  private windowStart = 0;
  private windowLength = 0;

  /** `file`: the log (created, removed by the caller); `expected`: about how many keys will come. */
  constructor(file: string, expected = 0) {
    this.capacity = Math.max(MIN_CAPACITY, Math.ceil(expected / TARGET_LOAD));
    this.scale = this.capacity / 4294967296;
    this.table = new Uint16Array(this.capacity * 3);
    this.fd = fs.openSync(file, 'w+', 0o600);
  }

  get count(): number {
    return this.size;
  }

  /** Memory the table holds (the log is on disk but for one block and one read window). */
  get tableBytes(): number {
    return this.table.byteLength;
  }

  /**
   * Adds the key in bytes[start, end), first seen on `line`; returns the line
   * it was first seen on when it was already there, else 0.
   */
  add(bytes: Uint8Array, start: number, end: number, line: number): number {
    if (end - start > MAX_KEY_BYTES) throw new Error(`KeySet keys are at most ${MAX_KEY_BYTES} bytes (got ${end - start})`);
    const hash = hashOf(bytes, start, end);
    const tag = tagOf(hash);
    const table = this.table;
    const capacity = this.capacity;
    for (let slot = Math.floor(hash * this.scale); ; slot = slot + 1 === capacity ? 0 : slot + 1) {
      const at = 3 * slot;
      const ref = table[at + 1]! + table[at + 2]! * 0x10000;
      if (ref === 0) {
        const added = this.append(bytes, start, end, line);
        table[at] = tag;
        table[at + 1] = added & 0xffff;
        table[at + 2] = added >>> 16;
        if (++this.size > capacity * MAX_LOAD) this.grow();
        return 0;
      }
      if (table[at] === tag) {
        const first = this.lineIfSame(ref, bytes, start, end);
        if (first !== 0) return first;
      }
    }
  }

  /** Closes the log and lets the table go (the caller removes the file). */
  close(): void {
    this.table = new Uint16Array(0);
    fs.closeSync(this.fd);
  }

  /** Appends a record; returns its reference for the table. */
  private append(bytes: Uint8Array, start: number, end: number, line: number): number {
    const length = end - start;
    const size = (RECORD_HEAD + length + 3) & ~3;
    if (this.blockUsed + size > BLOCK_BYTES) this.writeBlock();
    const offset = this.blockStart + this.blockUsed;
    if (offset / 4 + 1 > 0xffffffff) throw new Error('KeySet log is full (16 GB of keys)');
    const block = this.block;
    const at = this.blockUsed;
    block.writeUInt32LE(line, at);
    block[at + 4] = length;
    // Keys are short: a loop is cheaper than a subarray to copy from.
    for (let i = 0; i < length; i++) block[at + RECORD_HEAD + i] = bytes[start + i]!;
    this.blockUsed += size;
    return offset / 4 + 1;
  }

  private writeBlock(): void {
    let written = 0;
    while (written < this.blockUsed) written += fs.writeSync(this.fd, this.block, written, this.blockUsed - written, this.blockStart + written);
    this.blockStart += this.blockUsed;
    this.blockUsed = 0;
  }

  /** The record's line when its key is bytes[start, end), else 0. */
  private lineIfSame(ref: number, bytes: Uint8Array, start: number, end: number): number {
    const offset = (ref - 1) * 4;
    let source: Buffer;
    let at: number;
    if (offset >= this.blockStart) {
      source = this.block;
      at = offset - this.blockStart;
    } else {
      if (offset < this.windowStart || offset + MAX_RECORD > this.windowStart + this.windowLength) this.readWindow(offset);
      source = this.window;
      at = offset - this.windowStart;
    }
    const length = source[at + 4]!;
    if (length !== end - start) return 0;
    for (let i = 0; i < length; i++) if (source[at + RECORD_HEAD + i] !== bytes[start + i]) return 0;
    return source.readUInt32LE(at);
  }

  private readWindow(offset: number): void {
    // The log file holds every record before blockStart: a window never reaches past it.
    const length = Math.min(WINDOW_BYTES, this.blockStart - offset);
    this.readLog(this.window, length, offset);
    this.windowStart = offset;
    this.windowLength = length;
  }

  private readLog(into: Buffer, length: number, offset: number): void {
    for (let read = 0; read < length; ) {
      const n = fs.readSync(this.fd, into, read, length - read, offset + read);
      if (n === 0) throw new Error(`KeySet log ended at ${offset + read} bytes, before ${offset + length}`);
      read += n;
    }
  }

  /**
   * Doubles the table. Slots hold no whole hash, so each key's is computed
   * again from the log, read from the start (only when the keys outgrow the
   * table they were sized for).
   */
  private grow(): void {
    this.writeBlock();
    this.capacity *= 2;
    this.scale = this.capacity / 4294967296;
    this.table = new Uint16Array(0);
    const table = new Uint16Array(this.capacity * 3);
    const capacity = this.capacity;
    const chunk = Buffer.allocUnsafeSlow(BLOCK_BYTES);
    for (let base = 0; base < this.blockStart; ) {
      const length = Math.min(BLOCK_BYTES, this.blockStart - base);
      this.readLog(chunk, length, base);
      let at = 0;
      // A record cut off by the end of this read is read again at the start of the next.
      while (at + RECORD_HEAD <= length && at + RECORD_HEAD + chunk[at + 4]! <= length) {
        const keyLength = chunk[at + 4]!;
        const hash = hashOf(chunk, at + RECORD_HEAD, at + RECORD_HEAD + keyLength);
        let slot = Math.floor(hash * this.scale);
        while (table[3 * slot + 1] !== 0 || table[3 * slot + 2] !== 0) slot = slot + 1 === capacity ? 0 : slot + 1;
        const ref = (base + at) / 4 + 1;
        table[3 * slot] = tagOf(hash);
        table[3 * slot + 1] = ref & 0xffff;
        table[3 * slot + 2] = ref >>> 16;
        at += (RECORD_HEAD + keyLength + 3) & ~3;
      }
      base += at;
    }
    this.table = table;
  }
}

/** FNV-1a over the bytes, then murmur3's finaliser so that similar keys spread over the table; unsigned. */
function hashOf(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * 16 bits of another mix of the whole hash: keys in one run of slots have
 * hashes alike in their high bits (those choose the slot), so the tag must
 * not be those bits.
 */
function tagOf(hash: number): number {
  let h = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) & 0xffff;
}
