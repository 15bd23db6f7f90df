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
  return crypto.createHash('sha256').update(`${jobType}:${canonicalJson(parameters)}`).digest('hex');
}

/** task_id = <first 8 hex of job_id>-s<stage>-<semantic key>, e.g. 1a2b3c4d-s1-greet-17. */
export function taskIdFor(jobId: string, stage: number, key: string): string {
  return `${jobId.slice(0, 8)}-s${stage}-${key}`;
}

/** batch_id = <first 8 hex of job_id>-s<stage>-b<k>. */
export function batchIdFor(jobId: string, stage: number, batchIndex: number): string {
  return `${jobId.slice(0, 8)}-s${stage}-b${batchIndex}`;
}
