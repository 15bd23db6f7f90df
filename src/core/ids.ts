import crypto from 'node:crypto';

/** JSON with object keys sorted at every depth: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** job_id = sha256(job_type + ":" + canonical JSON of parameters). */
export function jobIdFor(jobType: string, parameters: Record<string, unknown>): string {
  return crypto
    .createHash('sha256')
    .update(`${jobType}:${canonicalJson(parameters)}`)
    .digest('hex');
}

/**
 * Hex digits of the job id that task and batch ids carry: 16 (64 bits), so
 * that even a billion jobs collide with a probability of about 3%. Jobs
 * written before this width keep the 8 digits they were stored with
 * (`jobs.id_prefix`), and every id of a job is built from that stored prefix.
 */
export const ID_PREFIX_LENGTH = 16;

/** The id prefix of a new job. */
export function idPrefixFor(jobId: string): string {
  return jobId.slice(0, ID_PREFIX_LENGTH);
}

/** task_id = <job id prefix>-s<stage>-<semantic key>, e.g. 1a2b3c4d5e6f7a8b-s1-greet-17. */
export function taskIdFor(idPrefix: string, stage: number, key: string): string {
  return `${idPrefix}-s${stage}-${key}`;
}

/** batch_id = <job id prefix>-s<stage>-b<k>. */
export function batchIdFor(idPrefix: string, stage: number, batchIndex: number): string {
  return `${idPrefix}-s${stage}-b${batchIndex}`;
}
