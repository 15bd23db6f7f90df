import { jobTypeModules } from '../config/job-types.js';
import { loadJobTypeModules } from '../core/job-types/loader.js';

/**
 * Loads `--job-types` / GEO_JOB_TYPES before any command runs, so every
 * command (submit, queue-stage, retry-pending, work, types) sees the same
 * job types. A load error is an InputError: one line, exit 2.
 */
export async function loadConfiguredJobTypes(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const modules = jobTypeModules(env, flag);
  await loadJobTypeModules({ ...modules, cwd: process.cwd() });
}
