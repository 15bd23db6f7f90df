import type { StageBatchState } from '../../store/batches.js';
import type { BatchResult } from './record.js';
import type { SentBatch } from './send.js';

/** Task and batch counts of one stage as a dispatch sees them. */
export interface StageCounts {
  tasks: number;
  batches: number;
  queued: number;
  pendingQueue: number;
  failed: number;
}

/**
 * What one dispatch of a stage has done so far: the stage's tasks by outcome
 * (for progress and the result) and the run's own counters. Each step's
 * output is entered here by the dispatch as soon as the step returns.
 */
export class StageLedger {
  queued = 0;
  pendingQueue = 0;
  failed = 0;
  batchesDone = 0;
  /** Tasks in batches this run wrote. */
  createdTasks = 0;
  /** Tasks this run put on the queue. */
  sentTasks = 0;
  /** Batches an earlier run left pending that this run claimed and sent again. */
  resumedBatches = 0;
  /** Batches another process took over from this run. */
  lostBatches = 0;
  /** Batches another process wrote, holds or took over: awaited at the end. */
  readonly heldElsewhere: string[] = [];
  readonly tasks: number;
  readonly batches: number;

  constructor(stage: { taskCount: number; batchSize: number }) {
    this.tasks = stage.taskCount;
    this.batches = Math.ceil(stage.taskCount / stage.batchSize);
  }

  /** One batch's final counts. */
  add(counts: { queued?: number; pendingQueue?: number; failed?: number }): void {
    this.queued += counts.queued ?? 0;
    this.pendingQueue += counts.pendingQueue ?? 0;
    this.failed += counts.failed ?? 0;
    this.batchesDone++;
  }

  /** Batches an earlier run finished (queued or failed): nothing left to do for them. */
  addFinished(existing: Iterable<StageBatchState>): void {
    for (const batch of existing) {
      if (batch.status !== 'pending_queue') this.add({ queued: batch.taskCount - batch.failedTasks, failed: batch.failedTasks });
    }
  }

  /** Step 1's batches; with a transport whose rows are its messages they are queued already. */
  addWritten(batches: ReadonlyArray<{ messages: unknown[] }>, queuedWithTasks: boolean): void {
    for (const { messages } of batches) this.createdTasks += messages.length;
    if (!queuedWithTasks) return;
    for (const { messages } of batches) this.add({ queued: messages.length });
    this.sentTasks += batches.reduce((n, b) => n + b.messages.length, 0);
  }

  leaveToHolder(batchId: string): void {
    this.heldElsewhere.push(batchId);
  }

  /** Step 3's results for the batches sent in step 2; a lost batch is its new holder's to report. */
  addRecorded(sent: SentBatch[], results: BatchResult[]): void {
    for (const b of sent) if (!results.find((r) => r.batchId === b.batchId)?.lost) this.sentTasks += b.acknowledged.length;
    for (const result of results) {
      if (!result.lost) {
        this.add(result);
        continue;
      }
      this.lostBatches++;
      this.leaveToHolder(result.batchId);
    }
  }

  /** Tasks not yet written to the database (the run stopped before them). */
  get notWritten(): number {
    return Math.max(0, this.tasks - this.queued - this.pendingQueue - this.failed);
  }

  snapshot(): StageCounts & { batchesDone: number; notWritten: number } {
    return {
      tasks: this.tasks,
      batches: this.batches,
      queued: this.queued,
      pendingQueue: this.pendingQueue,
      failed: this.failed,
      batchesDone: this.batchesDone,
      notWritten: this.notWritten,
    };
  }
}
