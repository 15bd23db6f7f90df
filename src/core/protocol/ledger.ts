/** Task and batch counts of one stage as a dispatch sees them. */
export interface StageCounts {
  tasks: number;
  batches: number;
  queued: number;
  pendingQueue: number;
  failed: number;
}

export class Tally {
  queued = 0;
  pendingQueue = 0;
  failed = 0;
  batchesDone = 0;

  constructor(
    readonly tasks: number,
    readonly batches: number,
  ) {}

  add(counts: { queued?: number; pendingQueue?: number; failed?: number }): void {
    this.queued += counts.queued ?? 0;
    this.pendingQueue += counts.pendingQueue ?? 0;
    this.failed += counts.failed ?? 0;
    this.batchesDone++;
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
