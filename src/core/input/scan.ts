import fs from 'node:fs';
import path from 'node:path';
import { GeoError, InputError } from '../../errors.js';
import type { JobType } from '../job-types/job-type.js';
import { loadedJobTypeModules } from '../job-types/loader.js';
import { CheckPool } from './check-pool.js';
import type { CheckWorkerData } from './check-worker.js';
import { CHECKED, type CheckedChunk, ItemChecker } from './checker.js';
import { KeySet } from './key-set.js';
import type { MessageLimit } from './limits.js';
import { type LineChunk, readLineChunks } from './lines.js';
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
 * holds a table of the keys' hashes (the keys go to a log file next to the
 * spool), never the items. Lines are checked a chunk at a time, on this
 * thread or, for a large input, on `workers` worker threads; duplicates, the
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
  const state = new ScanState(spool, path.join(spool.folder, 'keys.log'), params.onRejected, source.sizeBytes);
  const parallel = (params.workers ?? 0) > 0 && (source.sizeBytes === undefined || source.sizeBytes >= PARALLEL_MIN_BYTES);
  let starting: Promise<CheckPool> | undefined;
  let pool: CheckPool | undefined;
  let startFailure: unknown;
  const inFlight: Array<{ chunk: ChunkMeta; checked: Promise<CheckedChunk> }> = [];
  const takeOldest = async () => {
    const { chunk, checked } = inFlight.shift()!;
    state.accept(chunk, await checked);
  };
  try {
    for await (const chunk of readLineChunks(source.read(), { maxLineBytes: maxLineBytes(limit) })) {
      if (params.signal?.aborted) throw new GeoError('incomplete', 'INTERRUPTED', 'interrupted while reading the input; nothing was submitted');
      if (startFailure) throw startFailure;
      const meta = { firstLine: chunk.firstLine, count: chunk.count, byteLength: chunk.bytes.byteLength };
      if (pool) {
        inFlight.push({ chunk: meta, checked: pool.check(chunk) });
        while (inFlight.length > pool.size * CHUNKS_PER_WORKER) await takeOldest();
      } else {
        // Until the workers are ready (and, for CSV, until the header is read), this thread checks.
        state.accept(meta, checker.checkChunk(chunk));
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
    state.close();
    const sha256 = await spool.finish();
    const elapsedMs = Date.now() - started;
    // Bound, not a closure: a closure here would share this scope's context and keep the key set alive through pass two.
    return { label: source.label, format: source.format, ...state.counts, elapsedMs, sha256, spool, dispose: spool.remove.bind(spool) };
  } catch (err) {
    state.close();
    await spool.remove();
    throw err;
  } finally {
    await (await starting?.catch(() => undefined))?.close();
  }
}

function workerData(
  params: { jobType: JobType; params: Record<string, unknown>; source: InputSource; limit: MessageLimit },
  checker: ItemChecker,
): CheckWorkerData {
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

/** What pass one still knows of a chunk whose bytes went to a worker. */
type ChunkMeta = Pick<LineChunk, 'firstLine' | 'count'> & { byteLength: number };

/** What pass one keeps across lines, in line order: the counts, the keys seen, the spool. */
class ScanState {
  readonly counts = { lines: 0, items: 0, rejected: 0, duplicates: 0, blankLines: 0 };
  private keys?: KeySet;

  constructor(
    private readonly spool: ItemSpool,
    private readonly keyLog: string,
    private readonly onRejected: (rejected: RejectedLine) => void,
    private readonly sizeBytes: number | undefined,
  ) {}

  /** One chunk's outcomes; its items go to the spool as they are unless one was a duplicate. */
  accept(chunk: ChunkMeta, checked: CheckedChunk): void {
    this.counts.lines = chunk.firstLine + chunk.count - 1;
    const keys = checked.keys;
    this.keys ??= new KeySet(this.keyLog, this.expectedKeys(chunk));
    const set = this.keys;
    let keyAt = 0;
    let item = 0;
    let error = 0;
    let duplicates: Set<number> | undefined;
    for (let i = 0; i < checked.kinds.length; i++) {
      const line = chunk.firstLine + i;
      switch (checked.kinds[i]) {
        case CHECKED.blank:
          this.counts.blankLines++;
          break;
        case CHECKED.error:
          this.reject(line, checked.errors[error++]![1]);
          break;
        case CHECKED.item: {
          const end = keys.indexOf(LF, keyAt);
          const first = set.add(keys, keyAt, end, line);
          if (first === 0) this.counts.items++;
          else {
            duplicates ??= new Set();
            duplicates.add(item);
            this.counts.duplicates++;
            const key = Buffer.from(keys.buffer, keys.byteOffset + keyAt, end - keyAt).toString('latin1');
            this.reject(line, `duplicates line ${first} (task key ${key}); the first one is kept`);
          }
          keyAt = end + 1;
          item++;
        }
      }
    }
    if (!duplicates) {
      this.spool.add(checked.items);
      return;
    }
    let start = 0;
    for (let i = 0; i < item; i++) {
      const end = checked.items.indexOf(LF, start) + 1;
      if (!duplicates.has(i)) this.spool.add(checked.items.subarray(start, end));
      start = end;
    }
  }

  /** Removes the key log: pass two needs only the spool. */
  close(): void {
    if (!this.keys) return;
    this.keys.close();
    this.keys = undefined;
    fs.rmSync(this.keyLog, { force: true });
  }

  /**
   * Keys to size the table for: the input's size at the first chunk's bytes
   * per line (a table sized for too many keys costs memory for all of them;
   * one sized for too few doubles as it fills).
   */
  private expectedKeys(first: ChunkMeta): number {
    if (this.sizeBytes === undefined || first.byteLength === 0) return 0;
    return Math.min(this.sizeBytes, 1 << 30) / Math.max(first.byteLength / first.count, 8);
  }

  private reject(line: number, message: string): void {
    this.counts.rejected++;
    this.onRejected({ line, message: message.length > 300 ? `${message.slice(0, 297)}...` : message });
  }
}

const LF = 0x0a;

/** Lines are cut off well above the message limit: whitespace and a stage's own parameters may shrink an item. */
export function maxLineBytes(limit: MessageLimit): number {
  return Math.max(2 * limit.maxBytes, 128 * 1024);
}
