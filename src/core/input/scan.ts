import { GeoError, InputError } from '../../errors.js';
import { ID_PREFIX_LENGTH } from '../ids.js';
import type { JobItems, JobType } from '../job-types/job-type.js';
import { taskKeyProblem } from '../job-types/task-key.js';
import { CanonicalJson } from './canonical.js';
import { KeySet } from './key-set.js';
import type { MessageLimit } from './limits.js';
import { readLines, type Line } from './lines.js';
import { ItemDecoder } from './records.js';
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

/**
 * Pass one over an input: decodes and validates every line, checks each
 * item's message against the transport's size limit, reports duplicates
 * (the same task key again; the first is kept), hashes the accepted items
 * and spools them for pass two. Nothing is written to the database; memory
 * holds the set of keys, never the items.
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
}): Promise<InputScan> {
  const { source, jobType, limit } = params;
  if (!jobType.items) throw new InputError('INPUT_NOT_ACCEPTED', `${jobType.name} takes no input items (--input is for job types built from items)`);
  const started = Date.now();
  const spool = await ItemSpool.create(params.spoolDir);
  try {
    const checker = new LineChecker(jobType, jobType.items, params.params, source, limit, spool, params.onRejected);
    for await (const lines of readLines(source.read(), { maxLineBytes: maxLineBytes(limit) })) {
      if (params.signal?.aborted) throw new GeoError('incomplete', 'INTERRUPTED', 'interrupted while reading the input; nothing was submitted');
      for (const line of lines) checker.check(line);
      await spool.flush();
      params.onProgress?.({ lines: checker.counts.lines, items: checker.counts.items, rejected: checker.counts.rejected });
    }
    const sha256 = await spool.finish();
    const elapsedMs = Date.now() - started;
    return { label: source.label, format: source.format, ...checker.counts, elapsedMs, sha256, spool, dispose: () => spool.remove() };
  } catch (err) {
    await spool.remove();
    throw err;
  }
}

/** The per-line work of pass one. */
class LineChecker {
  readonly counts = { lines: 0, items: 0, rejected: 0, duplicates: 0, blankLines: 0 };
  private readonly decoder: ItemDecoder;
  private readonly keys = new KeySet();
  private readonly canonical = new CanonicalJson();
  private readonly envelope: number;

  constructor(
    jobType: JobType,
    private readonly items: JobItems<Record<string, unknown>>,
    private readonly params: Record<string, unknown>,
    source: InputSource,
    private readonly limit: MessageLimit,
    private readonly spool: ItemSpool,
    private readonly onRejected: (rejected: RejectedLine) => void,
  ) {
    this.decoder = new ItemDecoder(jobType.name, items as never, source.format, source.label, (bytes) => tooLong(bytes, limit));
    this.envelope = limit.envelopeBytes({ jobType: jobType.name, taskType: jobType.stages[0]!.taskType, idPrefixLength: ID_PREFIX_LENGTH });
  }

  check(line: Line): void {
    this.counts.lines = line.number;
    const decoded = this.decoder.decode(line);
    if ('header' in decoded) return;
    if ('blank' in decoded) {
      this.counts.blankLines++;
      return;
    }
    if ('error' in decoded) return this.reject(line.number, decoded.error);
    const key = this.items.key(decoded.item);
    const keyProblem = taskKeyProblem(key);
    if (keyProblem) return this.reject(line.number, keyProblem);
    const canonical = this.canonical.of(decoded.item);
    // Without a task mapper the parameters are the item: its canonical text has the same length.
    const parameters = this.items.parameters ? JSON.stringify(this.items.parameters(decoded.item, this.params)) : canonical;
    const bytes = this.limit.encodedBytes(this.envelope + key.length + Buffer.byteLength(parameters));
    if (bytes > this.limit.maxBytes) {
      return this.reject(line.number, `makes a task message of ${count(bytes)} bytes; the ${this.limit.transport} transport carries at most ${count(this.limit.maxBytes)}`);
    }
    const first = this.keys.add(key, line.number);
    if (first !== 0) {
      this.counts.duplicates++;
      return this.reject(line.number, `duplicates line ${first} (task key ${key}); the first one is kept`);
    }
    this.spool.add(canonical);
    this.counts.items++;
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

function tooLong(bytes: number, limit: MessageLimit): string {
  return `is ${count(bytes)} bytes long, more than any ${limit.transport} task message can carry (${count(limit.maxBytes)} bytes)`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
