import { errorMessage } from '../../errors.js';
import type { SpanAttributes, StartSpan, TraceSpan } from '../events.js';
import type { BatchResult } from './record.js';

/** The steps of the batch protocol a span is kept for. */
export type BatchStep = 'write' | 'send' | 'record';

/**
 * The trace spans of one dispatch: a `geo.batch` span per batch, from its
 * write (or its claim, for a resumed batch) to its record, with a child span
 * per step. Steps that serve a group of batches at once (one statement)
 * appear under each batch of the group, with the group's size. Without a
 * startSpan hook nothing is made, and each step just runs.
 */
export class BatchSpans {
  private readonly open = new Map<string, TraceSpan>();

  constructor(
    private readonly startSpan: StartSpan | undefined,
    /** What every batch span carries (job, stage, transport). */
    private readonly common: SpanAttributes,
  ) {}

  get enabled(): boolean {
    return this.startSpan !== undefined;
  }

  /** Opens the span of a batch. */
  begin(batchId: string, attributes: SpanAttributes): void {
    if (!this.startSpan) return;
    this.open.set(batchId, this.startSpan('geo.batch', { ...this.common, 'geo.batch_id': batchId, ...attributes }));
  }

  /** Runs `step` for `batchIds` (one statement or one send), as a child span of each batch's span. */
  async step<T>(name: BatchStep, batchIds: readonly string[], run: () => Promise<T>): Promise<T> {
    if (!this.startSpan || batchIds.length === 0) return run();
    const children = batchIds.flatMap((id) => {
      const parent = this.open.get(id);
      return parent ? [this.startSpan!(`geo.batch.${name}`, { 'geo.batch_id': id, 'geo.group_size': batchIds.length }, parent)] : [];
    });
    try {
      const result = await run();
      for (const child of children) child.end();
      return result;
    } catch (err) {
      for (const child of children) child.end(errorMessage(err));
      throw err;
    }
  }

  /** Ends a batch's span with how it ended. */
  end(batchId: string, error?: string, attributes?: SpanAttributes): void {
    const span = this.open.get(batchId);
    if (!span) return;
    this.open.delete(batchId);
    span.end(error, attributes);
  }

  /** Ends the spans of recorded batches (step 3) with their outcome. */
  endRecorded(results: readonly BatchResult[]): void {
    if (!this.startSpan) return;
    for (const result of results) {
      this.end(result.batchId, result.error?.message, {
        'geo.outcome': result.lost ? 'lost' : result.pendingQueue > 0 ? 'pending' : result.queued > 0 ? 'queued' : 'failed',
        'geo.queued': result.queued,
        'geo.failed': result.failed,
      });
    }
  }

  /** Ends every span still open (the dispatch stopped with an error). */
  endAll(error?: string): void {
    for (const id of [...this.open.keys()]) this.end(id, error, { 'geo.outcome': 'unfinished' });
  }
}
