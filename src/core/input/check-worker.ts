import { parentPort, workerData } from 'node:worker_threads';
import { loadJobTypeModules, type JobTypeModules } from '../job-types/loader.js';
import { getJobType } from '../job-types/registry.js';
import { CHECKED, ItemChecker } from './checker.js';
import { messageLimitFor } from './limits.js';
import { splitLineChunk, type LineChunk } from './lines.js';
import type { InputFormat } from './source.js';
import type { TransportName } from '../../config/index.js';

/** What a check worker is started with: enough to build the same ItemChecker as the main thread. */
export interface CheckWorkerData {
  jobType: string;
  modules: JobTypeModules[];
  params: Record<string, unknown>;
  format: InputFormat;
  label: string;
  limit: { transport: TransportName; storageEncoding: 'base64' | 'text' };
  columns?: string[];
}

/**
 * One chunk's outcomes: a kind per line (see CHECKED), and for the item lines
 * in order their keys and canonical JSON, each joined by newlines (neither
 * can contain one): two strings cross the thread boundary, not two per line.
 */
export interface CheckedChunk {
  id: number;
  kinds: Uint8Array;
  keys: string;
  items: string;
  /** Line index within the chunk, and why it was rejected. */
  errors: Array<[number, string]>;
}

// A worker thread of pass one (check-pool.ts): loads the same job types, then checks chunks of lines.
const data = workerData as CheckWorkerData;
const port = parentPort!;
try {
  for (const modules of data.modules) await loadJobTypeModules(modules);
  const checker = new ItemChecker({
    jobType: getJobType(data.jobType),
    params: data.params,
    format: data.format,
    label: data.label,
    limit: messageLimitFor(data.limit.transport, { storageEncoding: data.limit.storageEncoding }),
    columns: data.columns,
  });
  port.on('message', ({ id, chunk }: { id: number; chunk: LineChunk }) => {
    try {
      const lines = splitLineChunk(chunk);
      const kinds = new Uint8Array(lines.length);
      const keys: string[] = [];
      const items: string[] = [];
      const errors: Array<[number, string]> = [];
      for (let i = 0; i < lines.length; i++) {
        const [kind, key, text] = checker.check(lines[i]!);
        kinds[i] = kind;
        if (kind === CHECKED.item) {
          keys.push(key!);
          items.push(text!);
        } else if (kind === CHECKED.error) errors.push([i, text!]);
      }
      const result: CheckedChunk = { id, kinds, keys: keys.join('\n'), items: items.length > 0 ? `${items.join('\n')}\n` : '', errors };
      port.postMessage(result, [kinds.buffer]);
    } catch (err) {
      port.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ failed: err instanceof Error ? err.message : String(err) });
}
