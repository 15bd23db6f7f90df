import { Worker } from 'node:worker_threads';
import { GeoError } from '../../errors.js';
import type { CheckWorkerData } from './check-worker.js';
import type { CheckedChunk } from './checker.js';
import type { LineChunk } from './lines.js';

/**
 * The old generation leaves room for items of a few MB. The young one keeps
 * V8's default: capped at 8 MB, a worker spent 3.0 of its 5.3 s per million
 * tiles collecting (a chunk's lines outlived the small young generation).
 */
const WORKER_HEAP = { maxOldGenerationSizeMb: 96 };

/**
 * Worker threads that run pass one's per-line checks (parse, validate, key,
 * size, canonical JSON) on chunks of lines, so that a large input is checked
 * on every core while the database waits; the main thread keeps what needs
 * order (duplicates, the spool, the hash) and takes the outcomes in order.
 */
export class CheckPool {
  private next = 0;
  private sequence = 0;
  private readonly waiting = new Map<number, { resolve: (chunk: CheckedChunk) => void; reject: (err: Error) => void }>();

  private constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      worker.on('message', (message: (CheckedChunk & { id: number }) | { id: number; error: string }) => {
        const pending = this.waiting.get(message.id);
        if (!pending) return;
        this.waiting.delete(message.id);
        if ('error' in message) pending.reject(new GeoError('internal', 'INPUT_CHECK_FAILED', `checking the input failed: ${message.error}`));
        else pending.resolve(message);
      });
      worker.on('error', (err) => this.failAll(err));
    }
  }

  /** Starts `size` workers and waits until each has loaded its job types. */
  static async start(data: CheckWorkerData, size: number): Promise<CheckPool> {
    const workers = Array.from(
      { length: size },
      () => new Worker(new URL('./check-worker.js', import.meta.url), { workerData: data, resourceLimits: WORKER_HEAP }),
    );
    try {
      await Promise.all(workers.map(ready));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    return new CheckPool(workers);
  }

  /** Checks one chunk on the next worker (its bytes are transferred, not copied). */
  check(chunk: LineChunk): Promise<CheckedChunk> {
    const id = this.sequence++;
    const worker = this.workers[this.next++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, chunk }, [chunk.bytes.buffer as ArrayBuffer]);
    });
  }

  get size(): number {
    return this.workers.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private failAll(err: Error): void {
    for (const pending of this.waiting.values()) pending.reject(err);
    this.waiting.clear();
  }
}

function ready(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.once('message', (message: { ready?: true; failed?: string }) => {
      if (message.ready) resolve();
      else reject(new GeoError('internal', 'INPUT_CHECK_FAILED', `a check worker could not start: ${message.failed}`));
    });
    worker.once('error', reject);
  });
}
