/**
 * The public API for writing job types: `import { defineJobType, z } from 'geo/job-types'`
 * (docs/job-types.md). Everything exported here is part of geo's stable interface.
 */
export { z } from 'zod';
export { type DefinedJobType, defineJobType, isDefinedJobType } from './define.js';
export { integer, number, type RangeOptions } from './fields.js';
export { DEFAULT_RETRY_POLICY, PermanentTaskError, type RetryPolicy, type TaskContext, type TaskOutcome } from './job-type.js';
export type { Handler, ItemsSpec, ItemsStageSpec, JobResultInputs, JobTypeSpec, ParamsStageSpec, ResultsStageSpec, StageSpec, TaskSpec } from './spec.js';
export { TASK_KEY, TASK_KEY_RULE } from './task-key.js';
export { type BoundingBox, type Tile, type TileBounds, tileAt, tileBounds, tilesCovering } from './tiles-math.js';
