import crypto from 'node:crypto';
import { GeoError, InputError } from '../../errors.js';
import { ID_PREFIX_LENGTH, canonicalJson } from '../ids.js';
import type { JobType } from '../job-types/job-type.js';
import { taskKeyProblem } from '../job-types/task-key.js';
import { KeySet, LineList } from './key-set.js';
import type { MessageLimit } from './limits.js';
import { readLines } from './lines.js';
import { ItemDecoder } from './records.js';
import type { InputSource } from './source.js';

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
  /** sha256 over the accepted items (canonical JSON, one per line, in order): part of the job id. */
  sha256: string;
  /** The rejected line numbers, for the second pass to skip. */
  rejectedLines: LineList;
}

export interface ScanProgress {
  lines: number;
  items: number;
  rejected: number;
}

/**
 * Pass one over an input: decodes and validates every line, checks each
 * item's message against the transport's size limit, reports duplicates
 * (the same task key again; the first is kept) and hashes the accepted items.
 * Nothing is written; memory holds the set of keys, never the items.
 */
export async function scanInput(params: {
  source: InputSource;
  jobType: JobType;
  params: Record<string, unknown>;
  limit: MessageLimit;
  onRejected: (rejected: RejectedLine) => void;
  onProgress?: (progress: ScanProgress) => void;
  signal?: AbortSignal;
}): Promise<InputScan> {
  const { source, jobType, limit } = params;
  const items = jobType.items;
  if (!items) throw new InputError('INPUT_NOT_ACCEPTED', `${jobType.name} takes no input items (--input is for job types built from items)`);
  const firstStage = jobType.stages[0]!;
  const envelope = limit.envelopeBytes({ jobType: jobType.name, taskType: firstStage.taskType, idPrefixLength: ID_PREFIX_LENGTH });
  const decoder = new ItemDecoder(jobType.name, items as never, source.format, source.label, (bytes) => tooLong(bytes, limit));
  const keys = new KeySet();
  const rejectedLines = new LineList();
  const hash = crypto.createHash('sha256');
  const scan = { lines: 0, items: 0, rejected: 0, duplicates: 0, blankLines: 0 };
  const reject = (line: number, message: string) => {
    scan.rejected++;
    rejectedLines.push(line);
    params.onRejected({ line, message: message.length > 300 ? `${message.slice(0, 297)}...` : message });
  };

  for await (const lines of readLines(source.read(), { maxLineBytes: maxLineBytes(limit) })) {
    if (params.signal?.aborted) throw new GeoError('incomplete', 'INTERRUPTED', 'interrupted while reading the input; nothing was submitted');
    for (const line of lines) {
      scan.lines = line.number;
      const decoded = decoder.decode(line);
      if ('header' in decoded) continue;
      if ('blank' in decoded) {
        scan.blankLines++;
        continue;
      }
      if ('error' in decoded) {
        reject(line.number, decoded.error);
        continue;
      }
      const key = items.key(decoded.item);
      const keyProblem = taskKeyProblem(key);
      if (keyProblem) {
        reject(line.number, keyProblem);
        continue;
      }
      const parameters = JSON.stringify(items.parameters(decoded.item, params.params));
      const bytes = limit.encodedBytes(envelope + key.length + Buffer.byteLength(parameters));
      if (bytes > limit.maxBytes) {
        reject(line.number, `makes a task message of ${count(bytes)} bytes; the ${limit.transport} transport carries at most ${count(limit.maxBytes)}`);
        continue;
      }
      const first = keys.add(key, line.number);
      if (first !== 0) {
        scan.duplicates++;
        reject(line.number, `duplicates line ${first} (task key ${key}); the first one is kept`);
        continue;
      }
      hash.update(canonicalJson(decoded.item));
      hash.update('\n');
      scan.items++;
    }
    params.onProgress?.({ lines: scan.lines, items: scan.items, rejected: scan.rejected });
  }
  return { label: source.label, format: source.format, ...scan, sha256: hash.digest('hex'), rejectedLines };
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
