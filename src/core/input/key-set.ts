/**
 * The set of task keys seen so far in an input file, with the line each was
 * first seen on. A million keys in a JS Set<string> cost about 60 MB of small
 * heap objects that the collector keeps walking; here the key bytes live in
 * one growing buffer and the hash table in typed arrays (about 40 MB for a
 * million tile keys), and the comparison is exact.
 *
 * Keys are ASCII (the task-key rule) and at most 255 bytes long.
 */
export class KeySet {
  private capacity = 1 << 16;
  private size = 0;
  private hashes = new Uint32Array(this.capacity);
  /** Offset of the key in the arena plus one; 0 marks an empty slot. */
  private offsets = new Uint32Array(this.capacity);
  private lines = new Uint32Array(this.capacity);
  private arena = Buffer.allocUnsafe(1 << 20);
  private arenaUsed = 0;

  get count(): number {
    return this.size;
  }

  /** Adds `key` first seen on `line`; returns the earlier line when the key was already there (0 when new). */
  add(key: string, line: number): number {
    if (key.length > 255 || !ASCII.test(key)) throw new Error(`KeySet keys are ASCII of at most 255 characters (got ${JSON.stringify(key)})`);
    const hash = hashOf(key);
    const mask = this.capacity - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const offset = this.offsets[slot]!;
      if (offset === 0) {
        this.insert(slot, hash, key, line);
        return 0;
      }
      if (this.hashes[slot] === hash && this.equals(offset - 1, key)) return this.lines[slot]!;
    }
  }

  /** Compared in JS: for keys this short a loop beats a call into Buffer.compare. */
  private equals(at: number, key: string): boolean {
    const arena = this.arena;
    if (arena[at] !== key.length) return false;
    for (let i = 0; i < key.length; i++) if (arena[at + 1 + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  private insert(slot: number, hash: number, key: string, line: number): void {
    if (this.arenaUsed + key.length + 1 > this.arena.length) {
      const grown = Buffer.allocUnsafe(this.arena.length * 2);
      this.arena.copy(grown, 0, 0, this.arenaUsed);
      this.arena = grown;
    }
    const at = this.arenaUsed;
    this.arena[at] = key.length;
    this.arena.write(key, at + 1, 'latin1');
    this.arenaUsed += key.length + 1;
    this.hashes[slot] = hash;
    this.offsets[slot] = at + 1;
    this.lines[slot] = line;
    this.size++;
    if (this.size * 10 > this.capacity * 7) this.grow();
  }

  private grow(): void {
    const old = { hashes: this.hashes, offsets: this.offsets, lines: this.lines };
    this.capacity *= 2;
    this.hashes = new Uint32Array(this.capacity);
    this.offsets = new Uint32Array(this.capacity);
    this.lines = new Uint32Array(this.capacity);
    const mask = this.capacity - 1;
    for (let i = 0; i < old.offsets.length; i++) {
      if (old.offsets[i] === 0) continue;
      let slot = old.hashes[i]! & mask;
      while (this.offsets[slot] !== 0) slot = (slot + 1) & mask;
      this.hashes[slot] = old.hashes[i]!;
      this.offsets[slot] = old.offsets[i]!;
      this.lines[slot] = old.lines[i]!;
    }
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** FNV-1a over the characters, then murmur3's finaliser so that similar keys spread over the table. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Line numbers in increasing order (the rejected ones), in a growing typed array. */
export class LineList {
  private values = new Uint32Array(1024);
  private length = 0;

  get count(): number {
    return this.length;
  }

  push(line: number): void {
    if (this.length === this.values.length) {
      const grown = new Uint32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = line;
  }

  /** A reader for lines given in increasing order: has(line) walks forward once over the list. */
  cursor(): { has(line: number): boolean } {
    let i = 0;
    return {
      has: (line) => {
        while (i < this.length && this.values[i]! < line) i++;
        return i < this.length && this.values[i] === line;
      },
    };
  }
}
