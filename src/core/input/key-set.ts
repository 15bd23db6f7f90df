/**
 * The set of task keys seen so far in an input file, with the line each was
 * first seen on. A million keys in a JS Map cost about 60 MB of small heap
 * objects that the collector keeps walking; here the key bytes live in one
 * growing buffer and the open-addressing table in one typed array (hash,
 * key offset, line: one cache line per probe), about 40 MB for a million
 * tile keys, and the comparison is exact.
 *
 * Keys are ASCII (the task-key rule) of at most 255 characters.
 */
export class KeySet {
  private capacity: number;
  private size = 0;
  /** Per slot: hash, key offset in the arena plus one (0: empty), first line. */
  private table: Uint32Array;
  private arena: Buffer;
  private arenaUsed = 0;

  /** `expected`: about how many keys will come, so the table rarely has to grow (each growth rehashes every key). */
  constructor(expected = 0) {
    this.capacity = 1 << 16;
    while (this.capacity * 0.7 < expected) this.capacity *= 2;
    this.table = new Uint32Array(this.capacity * 3);
    // Growing copies the arena (old and new held at once): start at about 16 bytes a key.
    this.arena = Buffer.allocUnsafe(Math.max(1 << 20, Math.ceil(expected) * 16));
  }

  get count(): number {
    return this.size;
  }

  /** Adds `key` first seen on `line`; returns the earlier line when the key was already there (0 when new). */
  add(key: string, line: number): number {
    if (key.length > 255) throw new Error(`KeySet keys are at most 255 characters (got ${key.length})`);
    const hash = hashOf(key);
    const mask = this.capacity - 1;
    const table = this.table;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const at = slot * 3;
      const offset = table[at + 1]!;
      if (offset === 0) {
        this.insert(at, hash, key, line);
        return 0;
      }
      if (table[at] === hash && this.equals(offset - 1, key)) return table[at + 2]!;
    }
  }

  /** Compared in JS: for keys this short a loop beats a call into Buffer.compare. */
  private equals(at: number, key: string): boolean {
    const arena = this.arena;
    if (arena[at] !== key.length) return false;
    for (let i = 0; i < key.length; i++) if (arena[at + 1 + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  private insert(at: number, hash: number, key: string, line: number): void {
    if (this.arenaUsed + key.length + 1 > this.arena.length) {
      const grown = Buffer.allocUnsafe(Math.ceil(this.arena.length * 1.5));
      this.arena.copy(grown, 0, 0, this.arenaUsed);
      this.arena = grown;
    }
    const start = this.arenaUsed;
    const arena = this.arena;
    arena[start] = key.length;
    for (let i = 0; i < key.length; i++) {
      const code = key.charCodeAt(i);
      if (code > 0x7f) throw new Error(`KeySet keys are ASCII (got ${JSON.stringify(key)})`);
      arena[start + 1 + i] = code;
    }
    this.arenaUsed += key.length + 1;
    this.table[at] = hash;
    this.table[at + 1] = start + 1;
    this.table[at + 2] = line;
    this.size++;
    if (this.size * 10 > this.capacity * 7) this.grow();
  }

  private grow(): void {
    const old = this.table;
    this.capacity *= 2;
    const table = new Uint32Array(this.capacity * 3);
    const mask = this.capacity - 1;
    for (let i = 0; i < old.length; i += 3) {
      if (old[i + 1] === 0) continue;
      let slot = old[i]! & mask;
      while (table[slot * 3 + 1] !== 0) slot = (slot + 1) & mask;
      table[slot * 3] = old[i]!;
      table[slot * 3 + 1] = old[i + 1]!;
      table[slot * 3 + 2] = old[i + 2]!;
    }
    this.table = table;
  }
}

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
