import { InputError } from '../../errors.js';

/**
 * Task keys end up in task ids and Service Bus message ids (at most 128
 * characters, with the 16-hex job prefix, the stage and a retry suffix), so
 * they are short and free of spaces and slashes.
 */
export const TASK_KEY = /^[A-Za-z0-9][A-Za-z0-9._~:=+@-]{0,99}$/;

export const TASK_KEY_RULE = 'letters, digits and . _ ~ : = + @ -, at most 100 characters, starting with a letter or digit';

/** Why `key` cannot be a task key, or undefined when it can. */
export function taskKeyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return `the task key must be text (got ${typeof key})`;
  if (!TASK_KEY.test(key)) return `task key ${JSON.stringify(key.length > 40 ? `${key.slice(0, 37)}...` : key)} is not valid (${TASK_KEY_RULE})`;
  return undefined;
}

export function assertTaskKey(where: string, key: unknown): asserts key is string {
  const problem = taskKeyProblem(key);
  if (problem) throw new InputError('JOB_TYPE_INVALID', `${where}: ${problem}`);
}
