import { InputError } from '../errors.js';
import { jobIdFor } from './ids.js';
import { humanIssue } from './job-types/issues.js';
import type { JobType } from './job-types/job-type.js';
import { getJobType } from './job-types/registry.js';

export interface PreparedJob {
  jobType: JobType;
  parameters: Record<string, unknown>;
  jobId: string;
}

/**
 * Validates a job type and its raw parameters (strings from the command
 * line) without touching the database, so bad input writes nothing. With
 * `given`, --input for a job type that takes no items is refused first.
 */
export function prepareJob(typeName: string, rawParameters: Record<string, unknown>, given?: { input: boolean }): PreparedJob {
  const jobType = getJobType(typeName);
  if (given) checkInputAccepted(jobType, given);
  const parsed = jobType.params.safeParse(rawParameters, { error: humanIssue });
  if (!parsed.success) {
    const unknown = parsed.error.issues.flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys : []));
    if (unknown.length > 0) {
      throw new InputError('INVALID_PARAMS', `${typeName}: unknown parameter ${unknown.map((k) => `"${k}"`).join(', ')}`);
    }
    const messages = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'parameters'}: ${issue.message}`);
    throw new InputError('INVALID_PARAMS', `${typeName}: ${messages.join('; ')}`);
  }
  const parameters = parsed.data;
  return { jobType, parameters, jobId: jobIdFor(jobType.name, parameters) };
}

/**
 * Refuses, before anything is written, a job whose items have no source
 * (`tiles` without --input or a bbox), two sources (--input and a bbox), or
 * --input for a job type that takes no items.
 */
export function checkItemsSource(job: PreparedJob, given: { input: boolean }): void {
  const { jobType } = job;
  checkInputAccepted(jobType, given);
  const items = jobType.items;
  if (!items) return;
  const fromParams = items.fromParams?.(job.parameters) !== undefined;
  if (given.input && fromParams) {
    throw new InputError('INPUT_CONFLICT', `${jobType.name}: give either --input or the parameters that describe items, not both`);
  }
  if (!given.input && !fromParams) {
    const alternative = items.fromParams ? `, or ${items.paramsHint ?? 'the parameters that describe items (geo types)'}` : '';
    throw new InputError('INPUT_REQUIRED', `${jobType.name} is built from items: give --input FILE (NDJSON or CSV)${alternative}`);
  }
}

/**
 * Refuses --input for a job type that takes no items. Checked before its
 * parameters too: otherwise the first complaint is a parameter the user
 * meant the file to replace (`hello_world: n: is required`).
 */
export function checkInputAccepted(jobType: JobType, given: { input: boolean }): void {
  if (given.input && !jobType.items) {
    throw new InputError('INPUT_NOT_ACCEPTED', `${jobType.name} takes no input items; --input is for job types built from items (geo types lists them)`);
  }
}
