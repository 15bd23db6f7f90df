import { InputError } from '../../errors.js';
import { helloWorld } from './hello-world.js';
import type { JobType } from './job-type.js';

const JOB_TYPES = new Map<string, JobType>([[helloWorld.name, helloWorld as unknown as JobType]]);

export function jobTypeNames(): string[] {
  return [...JOB_TYPES.keys()].sort();
}

export function getJobType(name: string): JobType {
  const type = JOB_TYPES.get(name);
  if (!type) {
    throw new InputError('UNKNOWN_JOB_TYPE', `unknown job type "${name}"; known job types: ${jobTypeNames().join(', ')}`);
  }
  return type;
}

/** A job type to add to this process, and where it came from (for messages). */
export interface RegisteredJobType {
  jobType: JobType;
  origin: string;
}

/**
 * Adds job types to this process (tests register their own; user modules
 * will load through here). A name already taken by another definition is refused.
 */
export function registerJobTypes(entries: RegisteredJobType[]): void {
  for (const { jobType, origin } of entries) {
    const existing = JOB_TYPES.get(jobType.name);
    if (existing && existing !== jobType) throw new InputError('JOB_TYPE_DUPLICATE', `job type "${jobType.name}" (${origin}) is already defined`);
  }
  for (const { jobType } of entries) JOB_TYPES.set(jobType.name, jobType);
}
