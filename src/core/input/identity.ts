import crypto from 'node:crypto';
import { canonicalJson } from '../ids.js';
import type { PreparedJob } from '../prepare-job.js';
import type { InputScan } from './scan.js';

/**
 * A job built from input items is identified by its type, its parameters and
 * its items' content: sha256(type + ":" + canonical JSON of the parameters +
 * ":items:" + sha256 of the accepted items). The same file submitted again is
 * the same job (and resumes it); a changed file is a new job. Items are
 * hashed as validated (canonical JSON), so the same tiles as CSV or NDJSON,
 * with or without a BOM or CRLF, are the same job.
 */
export function inputJobId(jobType: string, parameters: Record<string, unknown>, itemsSha256: string): string {
  return crypto
    .createHash('sha256')
    .update(`${jobType}:${canonicalJson(parameters)}:items:${itemsSha256}`)
    .digest('hex');
}

export function withInputIdentity(job: PreparedJob, scan: Pick<InputScan, 'sha256'>): PreparedJob {
  return { ...job, jobId: inputJobId(job.jobType.name, job.parameters, scan.sha256) };
}
