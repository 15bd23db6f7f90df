import { InputError } from '../errors.js';
import { type JobRow, jobsFindByPrefix, jobsGet } from '../store/jobs.js';
import type { Queryable } from '../store/pool.js';

/** Loads a job by its id or an unambiguous prefix of it (at least 8 characters). */
export async function loadJob(db: Queryable, idOrPrefix: string): Promise<JobRow> {
  const id = idOrPrefix.trim().toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(id)) {
    throw new InputError('INVALID_JOB_ID', `"${idOrPrefix}" is not a job id (64 hex characters, or at least the first 8)`);
  }
  const job = id.length === 64 ? await jobsGet(db, id) : await findUnique(db, id);
  if (!job) throw new InputError('JOB_NOT_FOUND', `no job ${idOrPrefix}`);
  return job;
}

async function findUnique(db: Queryable, prefix: string): Promise<JobRow | undefined> {
  const matches = await jobsFindByPrefix(db, prefix);
  if (matches.length > 1) throw new InputError('AMBIGUOUS_JOB_ID', `job id prefix ${prefix} matches several jobs; give more of it`);
  return matches[0] ? jobsGet(db, matches[0]) : undefined;
}
