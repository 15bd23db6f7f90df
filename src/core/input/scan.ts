import { GeoError, InputError } from '../../errors.js';
import type { JobType } from '../job-types/job-type.js';
import { loadedJobTypeModules } from '../job-types/loader.js';
import { CheckPool } from './check-pool.js';
import type { CheckedChunk, CheckWorkerData } from './check-worker.js';
import { CHECKED, ItemChecker, tooLong, type CheckedKind } from './checker.js';
import { KeySet } from './key-set.js';
import type { MessageLimit } from './limits.js';
import { readLineChunks, splitLineChunk, type LineChunk } from './lines.js';
import type { InputSource } from './source.js';
import { ItemSpool } from './spool.js';

export interface RejectedLine {
  line: number;
  message: string;
}

/** What the first pass over an input found. */
export interface InputScan {
  label: string;
  format: InputSource['format'];
  /** Physical lines read (a CSV header counts). */
  lines: number;
  /** Items accepted: the stage's task count. */
  items: number;
  /** Lines rejected, duplicates included. */
  rejected: number;
  duplicates: number;
  blankLines: number;
  /** How long the first pass took. */
  elapsedMs: number;
  /** sha256 over the accepted items (canonical JSON, one per line, in order): part of the job id. */
  sha256: string;
  /** The accepted items, for the second pass; removed by `dispose`. */
  spool: ItemSpool;
  dispose(): Promise<void>;
}

export interface ScanProgress {
  lines: number;
  items: number;
  rejected: number;
}

/** Inputs smaller than this are checked on the main thread only: workers take longer to start. */
const PARALLEL_MIN_BYTES = 4 * 1024 * 1024;
/** Chunks in flight per worker: enough to keep each busy while the main thread takes outcomes in order. */
const CHUNKS_PER_WORKER = 3;

/**
 * Pass one over an input: decodes and validates every line, checks each
 * item's message against the transport's size limit, reports duplicates
 * (the same task key again; the first is kept), hashes the accepted items
 * and spools them for pass two. Nothing is written to the database; memory
 * holds the set of keys, never the items. For a large input the per-line
 * checks run on `workers` worker threads, chunk by chunk; duplicates, the
 * spool and the hash stay on this thread, in line order, so the outcome is
 * the same either way.
 */
export async function scanInput(params: {
  source: InputSource;
  jobType: JobType;
  params: Record<string, unknown>;
  limit: MessageLimit;
  onRejected: (rejected: RejectedLine) => void;
  onProgress?: (progress: ScanProgress) => void;
  signal?: AbortSignal;
  /** Where the item spool goes; default: the system's temporary folder. */
  spoolDir?: string;
  /** Worker threads for a large input (0: check on this thread only). */
  workers?: number;
}): Promise<InputScan> {
  const { source, jobType, limit } = params;
  if (!jobType.items) throw new InputError('INPUT_NOT_ACCEPTED', `${jobType.name} takes no input items (--input is for job types built from items)`);
  const started = Date.now();
  const spool = await ItemSpool.create(params.spoolDir);
  const checker = new ItemChecker({ jobType, params: params.params, format: source.format, label: source.label, limit });
  // About 24 bytes a line (a tile is 20-25): the key table is sized once instead of growing.
  const state = new ScanState(spool, limit, params.onRejected, Math.min(source.sizeBytes ?? 0, 1 << 30) / 24);
  const parallel = (params.workers ?? 0) > 0 && (source.sizeBytes === undefined || source.sizeBytes >= PARALLEL_MIN_BYTES);
  let starting: Promise<CheckPool> | undefined;
  let pool: CheckPool | undefined;
  let startFailure: unknown;
  const inFlight: Array<{ chunk: Omit<LineChunk, 'bytes'>; checked: Promise<CheckedChunk> }> = [];
  const takeOldest = async () => {
    const { chunk, checked } = inFlight.shift()!;
    state.acceptChunk(chunk, await checked);
  };
  try {
    for await (const chunk of readLineChunks(source.read(), { maxLineBytes: maxLineBytes(limit) })) {
      if (params.signal?.aborted) throw new GeoError('incomplete', 'INTERRUPTED', 'interrupted while reading the input; nothing was submitted');
      if (startFailure) throw startFailure;
      state.counts.lines = chunk.firstLine + chunk.count - 1;
      if (pool) {
        const { bytes: _transferred, ...meta } = chunk;
        inFlight.push({ chunk: meta, checked: pool.check(chunk) });
        while (inFlight.length > pool.size * CHUNKS_PER_WORKER) await takeOldest();
      } else {
        // Until the workers are ready (and, for CSV, until the header is read), this thread checks.
        const overlong = new Map(chunk.overlong.map((o) => [o.number, o.bytes]));
        for (const line of splitLineChunk(chunk)) {
          const bytes = overlong.get(line.number);
          if (bytes !== undefined) state.accept(line.number, CHECKED.error, undefined, tooLong(bytes, limit));
          else state.accept(line.number, ...checker.check(line));
        }
        if (parallel && !starting && checker.ready) {
          starting = CheckPool.start(workerData(params, checker), params.workers!);
          starting.then(
            (p) => (pool = p),
            (err: unknown) => (startFailure = err),
          );
        }
      }
      await spool.flush();
      params.onProgress?.({ lines: state.counts.lines, items: state.counts.items, rejected: state.counts.rejected });
    }
    while (inFlight.length > 0) await takeOldest();
    if (startFailure) throw startFailure;
    const sha256 = await spool.finish();
    const elapsedMs = Date.now() - started;
    // Bound, not a closure: a closure here would share this scope's context and keep the key set alive through pass two.
    return { label: source.label, format: source.format, ...state.counts, elapsedMs, sha256, spool, dispose: spool.remove.bind(spool) };
  } catch (err) {
    await spool.remove();
    throw err;
  } finally {
    await (await starting?.catch(() => undefined))?.close();
  }
}

function workerData(params: { jobType: JobType; params: Record<string, unknown>; source: InputSource; limit: MessageLimit }, checker: ItemChecker): CheckWorkerData {
  return {
    jobType: params.jobType.name,
    modules: loadedJobTypeModules(),
    params: params.params,
    format: params.source.format,
    label: params.source.label,
    limit: { transport: params.limit.transport, storageEncoding: params.limit.storageEncoding },
    columns: checker.columns,
  };
}

/** What pass one keeps across lines, in line order: the counts, the keys seen, the spool. */
class ScanState {
  readonly counts = { lines: 0, items: 0, rejected: 0, duplicates: 0, blankLines: 0 };
  private readonly keys: KeySet;

  constructor(
    private readonly spool: ItemSpool,
    private readonly limit: MessageLimit,
    private readonly onRejected: (rejected: RejectedLine) => void,
    expectedKeys: number,
  ) {
    this.keys = new KeySet(expectedKeys);
  }

  accept(line: number, kind: CheckedKind, key?: string, text?: string): void {
    switch (kind) {
      case CHECKED.header:
        return;
      case CHECKED.blank:
        this.counts.blankLines++;
        return;
      case CHECKED.error:
        return this.reject(line, text!);
    }
    if (this.isDuplicate(key!, line)) return;
    this.spool.add(text!);
    this.counts.items++;
  }

  /** A worker's outcomes for one chunk; its items go to the spool as one text unless one was a duplicate. */
  acceptChunk(chunk: Omit<LineChunk, 'bytes'>, checked: CheckedChunk): void {
    const keys = checked.keys === '' ? [] : checked.keys.split('\n');
    const overlong = new Map(chunk.overlong.map((o) => [o.number, o.bytes]));
    let item = 0;
    let error = 0;
    let duplicates: Set<number> | undefined;
    for (let i = 0; i < checked.kinds.length; i++) {
      const line = chunk.firstLine + i;
      const bytes = overlong.get(line);
      if (bytes !== undefined) {
        this.reject(line, tooLong(bytes, this.limit));
        continue;
      }
      switch (checked.kinds[i]) {
        case CHECKED.blank:
          this.counts.blankLines++;
          break;
        case CHECKED.error:
          this.reject(line, checked.errors[error++]![1]);
          break;
        case CHECKED.item:
          if (this.isDuplicate(keys[item]!, line)) (duplicates ??= new Set()).add(item);
          else this.counts.items++;
          item++;
      }
    }
    if (!duplicates) return this.spool.addLines(checked.items);
    checked.items.split('\n').forEach((json, i) => {
      if (i < keys.length && !duplicates.has(i)) this.spool.add(json);
    });
  }

  private isDuplicate(key: string, line: number): boolean {
    const first = this.keys.add(key, line);
    if (first === 0) return false;
    this.counts.duplicates++;
    this.reject(line, `duplicates line ${first} (task key ${key}); the first one is kept`);
    return true;
  }

  private reject(line: number, message: string): void {
    this.counts.rejected++;
    this.onRejected({ line, message: message.length > 300 ? `${message.slice(0, 297)}...` : message });
  }
}

/** Lines are cut off well above the message limit: whitespace and a stage's own parameters may shrink an item. */
export function maxLineBytes(limit: MessageLimit): number {
  return Math.max(2 * limit.maxBytes, 128 * 1024);
}
