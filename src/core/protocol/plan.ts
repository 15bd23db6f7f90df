import type { StageBatchState } from '../../store/batches.js';
import type { TaskDefinition } from '../job-types/job-type.js';

export interface PlannedBatch {
  batchIndex: number;
  tasks: TaskDefinition[];
}

/** Largest batch: Service Bus accepts at most 100 messages per transaction. */
export const MAX_BATCH_SIZE = 100;

/**
 * Batches written by one statement (and recorded by one after sending). A
 * commit that writes costs milliseconds (its WAL flush), more than 100 rows,
 * so one commit per group instead of per batch and step (measurements in
 * docs/architecture.md). Each batch keeps its own row, id, all-or-nothing
 * insert and single transport send.
 */
export const BATCHES_PER_GROUP = 10;

/**
 * Groups a stream of task definitions into aligned batches: batch k holds the
 * tasks with index in [k*size, (k+1)*size), so batch ids are the same on every
 * run whatever was already written. Holds one batch at a time.
 */
export async function* alignedBatches(tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>, size: number): AsyncGenerator<PlannedBatch> {
  let current: PlannedBatch | undefined;
  let lastIndex = -1;
  for await (const task of tasks) {
    if (task.index <= lastIndex) {
      throw new Error(`task definitions must come in increasing index order (${task.index} after ${lastIndex})`);
    }
    lastIndex = task.index;
    const batchIndex = Math.floor(task.index / size);
    if (current && current.batchIndex !== batchIndex) {
      yield current;
      current = undefined;
    }
    current ??= { batchIndex, tasks: [] };
    current.tasks.push(task);
  }
  if (current) yield current;
}

/** Work for one round of steps 1 to 3: batches to write, and batches an earlier run left pending. */
export interface BatchGroup {
  fresh: PlannedBatch[];
  pending: Array<{ planned: PlannedBatch; prior: StageBatchState }>;
}

/**
 * The plan of one stage: its task stream cut into aligned batches, each set
 * against the batch rows that already exist, handed out in groups of up to
 * BATCHES_PER_GROUP to the dispatch's concurrent senders, which share the one
 * stream. A batch already queued (or failed) is skipped; a pending one is to
 * be resumed; a new one is to be written, unless it is incomplete because its
 * inputs are not (`partialInputs`): a batch is written whole or not at all,
 * as its id and task count are fixed once written.
 */
export class StagePlan {
  /** Task definitions the builder has produced so far. */
  built = 0;
  /** The builder's stream ran to its end. */
  ended = false;
  /** Tasks left out because their inputs are not complete yet. */
  notReady = 0;
  private readonly source: AsyncIterator<PlannedBatch>;

  constructor(
    tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>,
    private readonly stage: { taskCount: number; batchSize: number },
    private readonly existing: ReadonlyMap<number, StageBatchState>,
    private readonly partialInputs: boolean,
  ) {
    this.source = alignedBatches(this.counted(tasks), stage.batchSize)[Symbol.asyncIterator]();
  }

  /** The next batches that still need work, or undefined when the stream has none left. */
  async nextGroup(): Promise<BatchGroup | undefined> {
    const group: BatchGroup = { fresh: [], pending: [] };
    while (group.fresh.length + group.pending.length < BATCHES_PER_GROUP) {
      const next = await this.source.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const planned = next.value;
      const prior = this.existing.get(planned.batchIndex);
      if (!prior && this.partialInputs && planned.tasks.length < this.expectedSize(planned.batchIndex)) {
        this.notReady += planned.tasks.length;
        continue;
      }
      if (!prior) group.fresh.push(planned);
      else if (prior.status === 'pending_queue') group.pending.push({ planned, prior });
    }
    return group.fresh.length + group.pending.length > 0 ? group : undefined;
  }

  /** Counts the tasks the builder left out (with partialInputs): those it never produced. */
  countUnbuilt(): void {
    if (this.partialInputs) this.notReady += Math.max(0, this.stage.taskCount - this.built);
  }

  /** Ends the builder's stream early (the run stopped). */
  async close(): Promise<void> {
    await this.source.return?.(undefined);
  }

  /** The number of tasks batch k must hold to be complete. */
  private expectedSize(batchIndex: number): number {
    return Math.min(this.stage.batchSize, this.stage.taskCount - batchIndex * this.stage.batchSize);
  }

  private async *counted(tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>): AsyncGenerator<TaskDefinition> {
    for await (const task of tasks) {
      this.built++;
      yield task;
    }
  }
}
