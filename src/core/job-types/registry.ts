import { InputError } from '../../errors.js';
import { helloWorld } from './hello-world.js';
import type { JobType } from './job-type.js';
import { tiles } from './tiles.js';

/** A known job type and where it came from: `built in`, or the module path given. */
export interface RegisteredJobType {
  jobType: JobType;
  origin: string;
}

export const BUILT_IN = 'built in';

const BUILT_IN_TYPES = [helloWorld, tiles] as unknown as JobType[];

/**
 * The job types of this process: the built-in ones plus those loaded from
 * `--job-types` / GEO_JOB_TYPES at start-up (src/core/job-types/loader.ts).
 * Process-wide because every command (submit, queue-stage, retry-pending,
 * work) must see the same set for the same job.
 */
const registry = new Map<string, RegisteredJobType>(BUILT_IN_TYPES.map((jobType) => [jobType.name, { jobType, origin: BUILT_IN }]));

export function jobTypeNames(): string[] {
  return [...registry.keys()].sort();
}

/** Every known job type, sorted by name. */
export function listJobTypes(): RegisteredJobType[] {
  return jobTypeNames().map((name) => registry.get(name)!);
}

export function findJobType(name: string): RegisteredJobType | undefined {
  return registry.get(name);
}

export function getJobType(name: string): JobType {
  const type = registry.get(name);
  if (!type) {
    throw new InputError(
      'UNKNOWN_JOB_TYPE',
      `unknown job type "${name}"; known job types: ${jobTypeNames().join(', ')} (load your own with --job-types FILE or GEO_JOB_TYPES)`,
    );
  }
  return type.jobType;
}

/** Adds job types; all or none (the caller has checked names against each other and this registry). */
export function registerJobTypes(entries: RegisteredJobType[]): void {
  for (const entry of entries) {
    const existing = registry.get(entry.jobType.name);
    if (existing && existing.jobType !== entry.jobType) {
      throw new InputError('JOB_TYPE_DUPLICATE', `job type "${entry.jobType.name}" is defined by ${existing.origin} and by ${entry.origin}`);
    }
  }
  for (const entry of entries) registry.set(entry.jobType.name, entry);
}
