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
