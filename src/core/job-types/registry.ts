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
