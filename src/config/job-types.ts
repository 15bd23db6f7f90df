import { InputError } from '../errors.js';
import type { Env } from './index.js';

/** The job-type modules to load and where that list came from (named in error messages). */
export interface JobTypeModuleList {
  paths: string[];
  from: '--job-types' | 'GEO_JOB_TYPES';
}

/**
 * `--job-types a.mjs,b.mjs` (the flag wins when given) or GEO_JOB_TYPES:
 * comma-separated module paths, relative to the working directory.
 */
export function jobTypeModules(env: Env, flag?: string): JobTypeModuleList {
  const from = flag !== undefined ? '--job-types' : 'GEO_JOB_TYPES';
  const raw = flag ?? env.GEO_JOB_TYPES ?? '';
  return {
    from,
    paths: raw
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
  };
}

/**
 * Worker threads `geo submit --input` may use to check a large input
 * (GEO_INPUT_WORKERS). Off by default: on this 2-vCPU machine shared with other
 * work a worker took the check from 3.4-6.6 s to 7-13 s for a million lines
 * (load 6), though it saved a third when the machine was quiet (docs/job-types.md).
 */
export const DEFAULT_INPUT_WORKERS = 0;

export function inputWorkers(env: Env): number {
  const raw = env.GEO_INPUT_WORKERS?.trim();
  if (raw === undefined || raw === '') return DEFAULT_INPUT_WORKERS;
  if (!/^\d+$/.test(raw) || Number(raw) > 16) {
    throw new InputError('CONFIG_INVALID', `GEO_INPUT_WORKERS: must be a whole number from 0 to 16 (got "${raw}")`);
  }
  return Number(raw);
}
