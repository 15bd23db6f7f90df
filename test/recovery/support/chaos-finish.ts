import type { Pool } from '../../../src/store/pool.js';
import { type CliResult, runGeo, startGeo } from '../../support/cli.js';
import { sleep } from '../../support/wait.js';

/** How the deployment finished the work after the chaos stopped. */
export interface FinishReport {
  /** Whether every job ended before the deadline. */
  ended: boolean;
  seconds: number;
  /** `geo work --until-idle` runs, each with its outcome. */
  workRuns: CliResult[];
  /** `geo retry-pending` runs (brokers: as cron would run it), each with its exit code. */
  retryRuns: CliResult[];
}

/** The jobs of `jobIds` still `processing`. */
export async function unendedJobs(db: Pool, jobIds: string[]): Promise<string[]> {
  const { rows } = await db.query<{ jobId: string }>(`SELECT job_id AS "jobId" FROM jobs WHERE job_id = ANY($1) AND status NOT IN ('completed', 'failed')`, [
    jobIds,
  ]);
  return rows.map((r) => r.jobId);
}

/**
 * Lets the system finish as a deployment would after its workers died: one
 * `geo work --until-idle` (another when one stops while jobs are still
 * open, up to `maxWorkRuns`) and, with `cron`, `geo retry-pending` every
 * `cronMs` meanwhile. Returns once every job ended and the last worker went
 * idle, or at the deadline.
 */
export async function finishAsDeployed(params: {
  db: Pool;
  env: Record<string, string>;
  jobIds: string[];
  workArgs: string[];
  cron: boolean;
  cronMs: number;
  deadlineMs: number;
  maxWorkRuns: number;
}): Promise<FinishReport> {
  const startedAt = Date.now();
  const deadline = startedAt + params.deadlineMs;
  const report: FinishReport = { ended: false, seconds: 0, workRuns: [], retryRuns: [] };
  let work: Promise<CliResult> | undefined;
  let kill: (() => void) | undefined;
  const startWork = () => {
    const run = startGeo(['work', '--until-idle', ...params.workArgs], params.env);
    kill = () => run.child.kill('SIGKILL');
    work = run.done.then((result) => {
      report.workRuns.push(result);
      work = undefined;
      return result;
    });
  };
  startWork();
  let lastCron = 0;
  try {
    while (Date.now() < deadline) {
      const open = await unendedJobs(params.db, params.jobIds);
      if (open.length === 0) {
        report.ended = true;
        break;
      }
      if (!work && report.workRuns.length < params.maxWorkRuns) startWork();
      if (params.cron && Date.now() - lastCron >= params.cronMs) {
        lastCron = Date.now();
        const run = await runGeo(['retry-pending', '--json'], params.env, { timeoutMs: 120_000 });
        report.retryRuns.push(run);
      }
      // The polling cadence of a watcher, not a synchronisation: the database says when all ended.
      await sleep(500);
    }
    // The last worker stops on its own once it finds nothing left to run or wait for.
    if (report.ended && work) {
      const timer = setTimeout(() => kill?.(), Math.max(30_000, deadline - Date.now()));
      await work;
      clearTimeout(timer);
    }
  } finally {
    if (work) {
      kill?.();
      await work;
    }
  }
  report.seconds = (Date.now() - startedAt) / 1000;
  return report;
}
