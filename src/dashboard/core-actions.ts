import { cancelJob, pauseJob, resumeJob, retryFailed } from '../core/control.js';
import { cancelDocument, cancelEndedError, pauseEndedError, resumeEndedError, retryFailedDocument, stateChangeDocument } from '../core/control-documents.js';
import { loadJob } from '../core/jobs.js';
import type { TransportResolver } from '../core/protocol/job-transport.js';
import type { Pool } from '../store/pool.js';
import type { DashboardActions } from './actions.js';

/**
 * The job actions of `geo dashboard --allow-actions`: each does what its
 * command does (src/core/control.ts) and answers that command's `--json`
 * document; a change that cannot apply (the job has ended) is the command's
 * input error, so an HTTP 400 with its code. `transportFor` opens a job's
 * broker, which cancel needs to withdraw the retries geo scheduled there.
 */
export function coreActions(db: Pool, transportFor: TransportResolver): DashboardActions {
  return {
    async pause({ jobId }) {
      const change = await pauseJob(db, await loadJob(db, jobId));
      const ended = pauseEndedError(change);
      if (ended) throw ended;
      return stateChangeDocument(change);
    },
    async resume({ jobId }) {
      const change = await resumeJob(db, await loadJob(db, jobId));
      const ended = resumeEndedError(change);
      if (ended) throw ended;
      return stateChangeDocument(change);
    },
    async 'retry-failed'({ jobId }) {
      return retryFailedDocument(await retryFailed({ db, job: await loadJob(db, jobId) }));
    },
    async cancel({ jobId, reason }) {
      const result = await cancelJob({ db, transportFor, job: await loadJob(db, jobId), reason });
      const ended = cancelEndedError(result);
      if (ended) throw ended;
      return cancelDocument(result);
    },
  };
}
