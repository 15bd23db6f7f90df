import { parentPort, workerData } from 'node:worker_threads';
import type { TransportName } from '../../config/index.js';
import { type JobTypeModules, loadJobTypeModules } from '../job-types/loader.js';
import { getJobType } from '../job-types/registry.js';
import { ItemChecker } from './checker.js';
import { messageLimitFor } from './limits.js';
import type { LineChunk } from './lines.js';
import type { InputFormat } from './source.js';

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
      const checked = checker.checkChunk(chunk);
      port.postMessage({ id, ...checked }, [checked.kinds.buffer, checked.keys.buffer, checked.items.buffer] as ArrayBuffer[]);
    } catch (err) {
      port.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ failed: err instanceof Error ? err.message : String(err) });
}
