import { errorMessage, GeoError } from '../../errors.js';
import { PermanentTaskError, type TaskContext, type TaskHandler } from '../job-types/job-type.js';
import { getJobType } from '../job-types/registry.js';

/** A handler found for a task, or why none can run it (never fixed by another attempt). */
export type HandlerLookup = { handler: TaskHandler } | { reason: 'UnknownJobType' | 'UnknownTaskType'; description: string };

/**
 * Finds the handler of a task's stage in this process's job types: what a
 * delivery names, its job type and the task type of one of its stages.
 */
export function findHandler(jobTypeName: string, stageNumber: number, taskType: string): HandlerLookup {
  let jobType: ReturnType<typeof getJobType>;
  try {
    jobType = getJobType(jobTypeName);
  } catch (err) {
    if (err instanceof GeoError && err.code === 'UNKNOWN_JOB_TYPE') return { reason: 'UnknownJobType', description: err.message };
    throw err;
  }
  const stage = jobType.stages.find((s) => s.stage === stageNumber && s.taskType === taskType);
  if (!stage) {
    return {
      reason: 'UnknownTaskType',
      description: `job type "${jobTypeName}" has no task type "${taskType}" at stage ${stageNumber}`,
    };
  }
  return { handler: stage.handler };
}

/** How an attempt ended: its result, or its error and whether another attempt may succeed. */
export type AttemptOutcome = { ok: true; result: unknown } | { ok: false; error: string; retryable: boolean };

/**
 * Runs one attempt. A handler error is an outcome, not an exception:
 * PermanentTaskError fails the task at once, anything else may be retried.
 */
export async function runAttempt(handler: TaskHandler, parameters: Record<string, unknown>, context: TaskContext): Promise<AttemptOutcome> {
  try {
    const result = await handler(parameters, context);
    return { ok: true, result: result === undefined ? null : result };
  } catch (err) {
    return { ok: false, error: failureText(err), retryable: !(err instanceof PermanentTaskError) };
  }
}

/**
 * The error text stored with the task (and shown by `geo status`): the
 * message, written the same way whether the handler threw an Error or a
 * PermanentTaskError (whether it may be retried is recorded apart); an error
 * class of the handler's own (TypeError, a library's) is named, since its
 * name says what went wrong.
 */
export function failureText(err: unknown): string {
  if (!(err instanceof Error)) return errorMessage(err);
  const plain = err.name === 'Error' || err instanceof PermanentTaskError || !err.name;
  return plain ? err.message : `${err.name}: ${err.message}`;
}
