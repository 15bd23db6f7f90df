import { InputError } from '../../errors.js';
import type { StageItems } from '../job-types/stage-inputs.js';
import type { PreparedJob } from '../prepare-job.js';
import type { SubmitResult } from '../submit.js';
import { withInputIdentity } from './identity.js';
import { inputItems } from './items.js';
import type { MessageLimit } from './limits.js';
import { type InputScan, type RejectedLine, type ScanProgress, scanInput } from './scan.js';
import type { InputSource } from './source.js';

export interface InputSubmitResult {
  scan: InputScan;
  /** The job id, covering the parameters and the accepted items. */
  jobId: string;
  /** The stage-1 dispatch; absent when the input was refused. */
  run?: SubmitResult;
  /** Why nothing was submitted: no valid item, or --strict and some line was rejected. */
  refusal?: InputError;
}

/**
 * `geo submit <type> --input`: reads the input once to validate, check sizes,
 * find duplicates and hash it, and only then (when something is left to
 * submit, and under `strict` only when nothing was rejected) calls `submit`
 * with the items, which a second read streams into the stage's tasks.
 * Refusals are returned, not thrown, so the caller can still report the
 * rejected lines.
 */
export async function submitInput(params: {
  job: PreparedJob;
  source: InputSource;
  limit: MessageLimit;
  strict: boolean;
  onRejected: (rejected: RejectedLine) => void;
  onScanProgress?: (progress: ScanProgress) => void;
  signal?: AbortSignal;
  /** Worker threads for checking a large input (0: this thread only). */
  workers?: number;
  submit: (job: PreparedJob, items: StageItems) => Promise<SubmitResult>;
}): Promise<InputSubmitResult> {
  const { source } = params;
  const scan = await scanInput({
    source,
    jobType: params.job.jobType,
    params: params.job.parameters,
    limit: params.limit,
    onRejected: params.onRejected,
    onProgress: params.onScanProgress,
    signal: params.signal,
    workers: params.workers,
  });
  try {
    const job = withInputIdentity(params.job, scan);
    const refusal = refusalOf(scan, params.strict);
    if (refusal) return { scan, jobId: job.jobId, refusal };
    const run = await params.submit(job, inputItems(scan));
    return { scan, jobId: job.jobId, run };
  } finally {
    await scan.dispose();
  }
}

function refusalOf(scan: InputScan, strict: boolean): InputError | undefined {
  const label = scan.label;
  if (scan.items === 0) {
    if (scan.lines === 0) return new InputError('INPUT_EMPTY', `${label} is empty; nothing was submitted`);
    if (scan.rejected === 0)
      return new InputError('INPUT_EMPTY', `${label} has no items, only blank lines${scan.format === 'csv' ? ' and a header' : ''}; nothing was submitted`);
    return new InputError('INPUT_REJECTED', `no line of ${label} is a valid item (${count(scan.rejected)} rejected); nothing was submitted`);
  }
  if (strict && scan.rejected > 0) {
    return new InputError(
      'INPUT_REJECTED',
      `--strict: ${count(scan.rejected)} of ${count(scan.items + scan.rejected)} lines of ${label} rejected; nothing was submitted`,
    );
  }
  return undefined;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
