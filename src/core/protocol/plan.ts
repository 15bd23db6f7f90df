import type { TaskDefinition } from '../job-types/job-type.js';

export interface PlannedBatch {
  batchIndex: number;
  tasks: TaskDefinition[];
}

/** Largest batch: Service Bus accepts at most 100 messages per transaction. */
export const MAX_BATCH_SIZE = 100;

/**
 * Groups a stream of task definitions into aligned batches: batch k holds the
 * tasks with index in [k*size, (k+1)*size), so batch ids are the same on every
 * run whatever was already written. Holds one batch at a time.
 */
export async function* alignedBatches(
  tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>,
  size: number,
): AsyncGenerator<PlannedBatch> {
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
