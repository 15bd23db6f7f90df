import { ID_PREFIX_LENGTH } from '../ids.js';
import type { JobItems, JobType } from '../job-types/job-type.js';
import { taskKeyProblem } from '../job-types/task-key.js';
import { CanonicalJson } from './canonical.js';
import type { MessageLimit } from './limits.js';
import type { Line } from './lines.js';
import { ItemDecoder } from './records.js';
import type { InputFormat } from './source.js';

/**
 * A line's outcome as pass one needs it. `item`: its task key and canonical
 * JSON (what is hashed and spooled). Codes are numbers so a worker thread can
 * send a chunk's outcomes in a typed array.
 */
export const CHECKED = { blank: 0, header: 1, error: 2, item: 3 } as const;
export type CheckedKind = (typeof CHECKED)[keyof typeof CHECKED];

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
 * canonical JSON. No shared state, so it can run on worker threads; keys and
 * duplicates are the caller's.
 */
export class ItemChecker {
  private readonly decoder: ItemDecoder;
  private readonly items: JobItems<Record<string, unknown>>;
  private readonly canonical = new CanonicalJson();
  private readonly envelope: number;

  constructor(private readonly setup: CheckerSetup) {
    const { jobType, limit } = setup;
    this.items = jobType.items!;
    this.decoder = new ItemDecoder(jobType.name, this.items as never, setup.format, setup.label, (bytes) => tooLong(bytes, limit), setup.columns);
    this.envelope = limit.envelopeBytes({ jobType: jobType.name, taskType: jobType.stages[0]!.taskType, idPrefixLength: ID_PREFIX_LENGTH });
  }

  /** The CSV header's columns once read (undefined for NDJSON and before the header). */
  get columns(): string[] | undefined {
    return this.decoder.columns;
  }

  get ready(): boolean {
    return this.decoder.ready;
  }

  /** The outcome of one line: [kind, key, text] with text the canonical JSON of an item or the reason of an error. */
  check(line: Line): [CheckedKind, string?, string?] {
    const decoded = this.decoder.decode(line);
    if ('header' in decoded) return [CHECKED.header];
    if ('blank' in decoded) return [CHECKED.blank];
    if ('error' in decoded) return [CHECKED.error, undefined, decoded.error];
    const key = this.items.key(decoded.item);
    const keyProblem = taskKeyProblem(key);
    if (keyProblem) return [CHECKED.error, undefined, keyProblem];
    const canonical = this.canonical.of(decoded.item);
    // Without a task mapper the parameters are the item: its canonical text has the same length.
    const parameters = this.items.parameters ? JSON.stringify(this.items.parameters(decoded.item, this.setup.params)) : canonical;
    const { limit } = this.setup;
    const bytes = limit.encodedBytes(this.envelope + key.length + Buffer.byteLength(parameters));
    if (bytes > limit.maxBytes) {
      return [CHECKED.error, undefined, `makes a task message of ${count(bytes)} bytes; the ${limit.transport} transport carries at most ${count(limit.maxBytes)}`];
    }
    return [CHECKED.item, key, canonical];
  }
}

/** Why a line longer than any message of the transport was refused. */
export function tooLong(bytes: number, limit: MessageLimit): string {
  return `is ${count(bytes)} bytes long, more than any ${limit.transport} task message can carry (${count(limit.maxBytes)} bytes)`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
