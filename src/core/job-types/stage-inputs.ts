import type { Queryable } from '../../store/pool.js';
import { stagesGet } from '../../store/stages.js';
import { tasksStreamResults } from '../../store/tasks.js';
import type { StageInputs, StageSizes } from './job-type.js';

/** A job's validated input items, streamed in order in chunks (`geo submit --input`: the file's second pass). */
export interface StageItems {
  count: number;
  items(): AsyncIterable<unknown[]>;
}

/** What a stage's builder reads: earlier stages' results, and the input items when the caller has them. */
export function stageInputs(db: Queryable, jobId: string, items?: StageItems): StageInputs {
  return {
    results: (stage) => tasksStreamResults(db, { jobId, stage }),
    ...(items ? { items: () => items.items() } : {}),
  };
}

/** What a stage's task count reads: the item count, and the stored counts of this job's stages. */
export function stageSizes(db: Queryable, jobId: string, items?: StageItems): StageSizes {
  return {
    itemCount: items?.count,
    taskCountOf: async (stage) => (await stagesGet(db, jobId, stage))?.taskCount,
  };
}
