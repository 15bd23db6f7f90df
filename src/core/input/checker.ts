import { ID_PREFIX_LENGTH } from '../ids.js';
import type { JobItems, JobType } from '../job-types/job-type.js';
import { taskKeyProblem } from '../job-types/task-key.js';
import { CanonicalJson } from './canonical.js';
import type { MessageLimit } from './limits.js';
import { decodeLines, type LineChunk } from './lines.js';
import { ItemDecoder } from './records.js';
import type { InputFormat } from './source.js';

/**
 * A line's outcome as pass one needs it. Codes are numbers so a chunk's
 * outcomes travel from a worker thread in a typed array.
 */
export const CHECKED = { blank: 0, header: 1, error: 2, item: 3 } as const;
export type CheckedKind = (typeof CHECKED)[keyof typeof CHECKED];

/**
 * One chunk's outcomes: a kind per line, and for its items, in line order,
 * their task keys and their canonical JSON, each followed by a newline
 * (neither can contain one). Bytes, not strings: pass one hashes and spools
 * them as they are, and they cross a thread boundary by transfer.
 */
export interface CheckedChunk {
  kinds: Uint8Array;
  /** ASCII (task keys are). */
  keys: Uint8Array;
  /** UTF-8. */
  items: Uint8Array;
  /** Line index within the chunk, and why it was rejected. */
  errors: Array<[number, string]>;
}

export interface CheckerSetup {
  jobType: JobType;
  params: Record<string, unknown>;
  format: InputFormat;
  label: string;
  limit: MessageLimit;
  /** A CSV header read elsewhere (the main thread, before it hands rows to workers). */
  columns?: string[];
}

/**
 * The part of pass one that depends on one line only: decode, validate with
 * the item schema, derive the task key, check the message size, write the
 * canonical JSON. No state shared between lines but the CSV header, so it
 * can run on worker threads; keys and duplicates are the caller's.
 */
export class ItemChecker {
  private readonly decoder: ItemDecoder;
  private readonly items: JobItems<Record<string, unknown>>;
  private readonly canonical = new CanonicalJson();
  private readonly envelope: number;

  constructor(private readonly setup: CheckerSetup) {
    const { jobType } = setup;
    this.items = jobType.items!;
    this.decoder = new ItemDecoder(jobType.name, this.items as never, setup.format, setup.label, setup.columns);
    this.envelope = setup.limit.envelopeBytes({ jobType: jobType.name, taskType: jobType.stages[0]!.taskType, idPrefixLength: ID_PREFIX_LENGTH });
  }

  /** The CSV header's columns once read (undefined for NDJSON and before the header). */
  get columns(): string[] | undefined {
    return this.decoder.columns;
  }

  get ready(): boolean {
    return this.decoder.ready;
  }

  /** Every line of a chunk, in order. */
  checkChunk(chunk: LineChunk): CheckedChunk {
    const texts = decodeLines(chunk);
    const kinds = new Uint8Array(texts.length);
    const errors: Array<[number, string]> = [];
    const overlong = chunk.overlong.length === 0 ? undefined : new Map(chunk.overlong.map((o) => [o.number - chunk.firstLine, o.bytes]));
    // Canonical JSON is about as long as the line it came from.
    const keys = new LineWriter(texts.length * 24);
    const items = new LineWriter(chunk.bytes.length + 64);
    for (let i = 0; i < texts.length; i++) {
      const tooLongBytes = overlong?.get(i);
      if (tooLongBytes !== undefined) {
        kinds[i] = CHECKED.error;
        errors.push([i, tooLong(tooLongBytes, this.setup.limit)]);
        continue;
      }
      const decoded = this.decoder.decode(texts[i], chunk.firstLine + i);
      if ('item' in decoded) {
        const key: unknown = this.items.key(decoded.item as never);
        const keyProblem = isPlainTaskKey(key) ? undefined : taskKeyProblem(key);
        const canonical = keyProblem ? '' : this.canonical.of(decoded.item);
        const problem = keyProblem ?? this.sizeProblem(key as string, decoded.item, canonical);
        if (problem) {
          kinds[i] = CHECKED.error;
          errors.push([i, problem]);
          continue;
        }
        kinds[i] = CHECKED.item;
        keys.line(key as string);
        items.line(canonical);
      } else if ('blank' in decoded) kinds[i] = CHECKED.blank;
      else if ('header' in decoded) kinds[i] = CHECKED.header;
      else {
        kinds[i] = CHECKED.error;
        errors.push([i, decoded.error]);
      }
    }
    return { kinds, keys: keys.bytes(), items: items.bytes(), errors };
  }

  /** Why the item's task message would be too large for the transport, if it would. */
  private sizeProblem(key: string, item: unknown, canonical: string): string | undefined {
    // Without a task mapper the parameters are the item: its canonical text has the same length.
    const parameters = this.items.parameters ? JSON.stringify(this.items.parameters(item as never, this.setup.params)) : canonical;
    const { limit } = this.setup;
    // A UTF-16 unit is at most 3 bytes of UTF-8: most items are known to fit without counting.
    if (limit.encodedBytes(this.envelope + key.length + 3 * parameters.length) <= limit.maxBytes) return undefined;
    const bytes = limit.encodedBytes(this.envelope + key.length + Buffer.byteLength(parameters));
    if (bytes <= limit.maxBytes) return undefined;
    return `makes a task message of ${count(bytes)} bytes; the ${limit.transport} transport carries at most ${count(limit.maxBytes)}`;
  }
}

/**
 * Lines of text written as UTF-8 into one growing buffer of its own (so it
 * can be transferred): ASCII a character at a time, which for short texts
 * beats a call into the encoder per text or joining them all to encode once.
 */
class LineWriter {
  private buffer: Uint8Array;
  private view?: Buffer;
  private used = 0;

  constructor(capacity: number) {
    // Not zeroed: every byte handed out is written first.
    this.buffer = Buffer.allocUnsafeSlow(capacity);
  }

  /** Appends `text` and a newline. */
  line(text: string): void {
    const room = 3 * text.length + 1;
    if (this.used + room > this.buffer.length) this.grow(room);
    const buffer = this.buffer;
    let at = this.used;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        this.view ??= Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        at = this.used + this.view.write(text, this.used, 'utf8');
        break;
      }
      buffer[at++] = c;
    }
    buffer[at++] = 0x0a;
    this.used = at;
  }

  /** What was written (a view of the whole buffer's first bytes). */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.used);
  }

  private grow(room: number): void {
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.buffer.length, this.used + room));
    grown.set(this.buffer.subarray(0, this.used));
    this.buffer = grown;
    this.view = undefined;
  }
}

/** Characters of a task key after the first (see TASK_KEY in job-types/task-key.ts). */
const KEY_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') KEY_CHARS[c.charCodeAt(0)] = 2;
for (const c of '._~:=+@-') KEY_CHARS[c.charCodeAt(0)] = 1;

/**
 * True for a key TASK_KEY accepts, by a table instead of the expression (a
 * tenth of pass one's time was that match). Only ever says yes to a valid
 * key; a no is explained by taskKeyProblem, which has the last word.
 */
export function isPlainTaskKey(key: unknown): key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 100) return false;
  const first = key.charCodeAt(0);
  if (first >= 128 || KEY_CHARS[first] !== 2) return false;
  for (let i = 1; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 128 || KEY_CHARS[c] === 0) return false;
  }
  return true;
}

/** Why a line longer than any message of the transport was refused. */
export function tooLong(bytes: number, limit: MessageLimit): string {
  return `is ${count(bytes)} bytes long, more than any ${limit.transport} task message can carry (${count(limit.maxBytes)} bytes)`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
