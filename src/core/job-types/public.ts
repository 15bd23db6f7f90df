/**
 * The public API for writing job types: `import { defineJobType, z } from 'geo/job-types'`
 * (docs/job-types.md). Everything exported here is part of geo's stable interface.
 */
export { z } from 'zod';
export { defineJobType, isDefinedJobType, type DefinedJobType } from './define.js';
export { integer, number, type RangeOptions } from './fields.js';
export { PermanentTaskError, DEFAULT_RETRY_POLICY, type RetryPolicy, type TaskContext, type TaskOutcome } from './job-type.js';
export type { Handler, ItemsSpec, ItemsStageSpec, JobResultInputs, JobTypeSpec, ParamsStageSpec, ResultsStageSpec, StageSpec, TaskSpec } from './spec.js';
export { TASK_KEY, TASK_KEY_RULE } from './task-key.js';
export { tileAt, tileBounds, tilesCovering, type BoundingBox, type Tile, type TileBounds } from './tiles-math.js';
