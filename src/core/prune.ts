import fs from 'node:fs/promises';
import path from 'node:path';
import { sleep } from '../concurrency/backoff.js';
import { InputError } from '../errors.js';
import type { JobStatus } from '../statuses.js';
import { jobsGet } from '../store/jobs.js';
import type { Pool, PoolClient } from '../store/pool.js';
import {
  type CandidatesCursor,
  type PruneCandidate,
  pruneBatches,
  pruneBegin,
  pruneCandidates,
  pruneJobRow,
  pruneRedeliveries,
  pruneStartedAt,
  pruneTryLock,
  pruneUnlock,
  type TableSizes,
  tableSizes,
} from '../store/prune.js';
import { ArchiveInterrupted, type ArchiveResult, archiveJob } from './archive.js';

/** Statuses a prune may delete: every finished one. */
export const PRUNABLE_STATUSES = ['completed', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export type PrunableStatus = (typeof PRUNABLE_STATUSES)[number];

/**
 * Batches (with their tasks) per delete statement. Each statement is its own
 * transaction holding row locks only on what it deletes; 20 batches of 100
 * tasks take some tens of milliseconds (docs/operations.md, measured).
 */
export const DEFAULT_CHUNK_BATCHES = 20;
const REDELIVERY_CHUNK = 5_000;
const CANDIDATES_PAGE = 100;
/** How long a job whose last batches another process holds is waited for before it is left to a later prune. */
const HELD_BATCHES_PATIENCE_MS = 30_000;

export interface PruneOptions {
  statuses: readonly PrunableStatus[];
  /** Jobs that finished before this are pruned. */
  cutoff: Date;
  dryRun: boolean;
  /** Each job is archived to `<dir>/<jobId>.ndjson.gz` before anything of it is deleted. */
  archiveDir?: string;
  chunkBatches?: number;
}

export type PrunedOutcome = 'pruned' | 'would-prune' | 'skipped';
export type SkipReason = 'pruned-by-another' | 'running-tasks' | 'not-finished' | 'batches-held' | 'gone' | 'interrupted';

export interface PrunedJob {
  jobId: string;
  jobType: string;
  status: JobStatus;
  finishedAt: Date;
  outcome: PrunedOutcome;
  reason?: SkipReason;
  /** Tasks deleted (or, on a dry run, that would be). */
  tasks: number;
  batches: number;
  /** The archive written before deleting; absent without --archive-dir. */
  archive?: ArchiveResult;
  /** An earlier prune began deleting this job (and wrote its archive, if it was asked to). */
  resumed: boolean;
}

export interface PruneProgress {
  jobsDone: number;
  tasksDeleted: number;
  /** Tasks of the jobs found so far (grows as further pages of jobs are read). */
  tasksFound: number;
  jobId?: string;
  phase: 'archiving' | 'deleting';
}

export interface PruneResult {
  cutoff: Date;
  statuses: readonly PrunableStatus[];
  dryRun: boolean;
  jobs: PrunedJob[];
  tasksDeleted: number;
  batchesDeleted: number;
  /** The longest delete statement: the longest any row lock of the prune was held (ms). */
  longestStatementMs: number;
  statements: number;
  sizesBefore: TableSizes;
  sizesAfter: TableSizes;
  interrupted: boolean;
  elapsedMs: number;
}

/**
 * `geo prune`: deletes finished jobs of `statuses` that ended before the
 * cutoff, oldest first, each archived first with `archiveDir`. Safe to run
 * twice at once and from cron: a job is taken under an advisory lock (a
 * second prune skips it; a prune that dies drops it), marked before its rows
 * are deleted (so retry-failed cannot reopen it half-deleted), and a later
 * prune finishes a job an earlier one was stopped in. Never a running job,
 * nor a finished one with tasks still running. Deletes in short statements,
 * so a concurrent geo work never waits long on a prune (docs/operations.md).
 */
export async function pruneJobs(params: {
  db: Pool;
  options: PruneOptions;
  signal?: AbortSignal;
  onProgress?: (progress: PruneProgress) => void;
}): Promise<PruneResult> {
  const { db, options, signal } = params;
  const started = performance.now();
  const result: PruneResult = {
    cutoff: options.cutoff,
    statuses: options.statuses,
    dryRun: options.dryRun,
    jobs: [],
    tasksDeleted: 0,
    batchesDeleted: 0,
    longestStatementMs: 0,
    statements: 0,
    sizesBefore: await tableSizes(db),
    sizesAfter: { tasks: 0, batches: 0 },
    interrupted: false,
    elapsedMs: 0,
  };
  if (options.archiveDir && !options.dryRun) await prepareArchiveDir(options.archiveDir);
  const progress: PruneProgress = { jobsDone: 0, tasksDeleted: 0, tasksFound: 0, phase: 'deleting' };
  // Advisory locks are held by a connection: one kept for the whole run.
  const locks = options.dryRun ? undefined : await db.connect();
  try {
    let after: CandidatesCursor | undefined;
    for (;;) {
      if (signal?.aborted) break;
      const page = await pruneCandidates(db, { statuses: options.statuses, cutoff: options.cutoff, after, limit: CANDIDATES_PAGE });
      if (page.length === 0) break;
      const last = page[page.length - 1]!;
      after = { finishedMicros: last.finishedMicros, jobId: last.jobId };
      progress.tasksFound += page.reduce((sum, c) => sum + c.tasks, 0);
      for (const candidate of page) {
        if (signal?.aborted) break;
        const pruned = locks ? await pruneOne({ db, locks, candidate, options, signal, result, progress, onProgress: params.onProgress }) : dryRun(candidate);
        result.jobs.push(pruned);
        progress.jobsDone++;
        params.onProgress?.({ ...progress });
      }
    }
  } finally {
    locks?.release();
  }
  result.interrupted = signal?.aborted ?? false;
  result.sizesAfter = await tableSizes(db);
  result.elapsedMs = performance.now() - started;
  return result;
}

function dryRun(candidate: PruneCandidate): PrunedJob {
  return {
    ...describe(candidate),
    outcome: 'would-prune',
    tasks: candidate.tasks,
    batches: 0,
  };
}

function describe(candidate: PruneCandidate) {
  return {
    jobId: candidate.jobId,
    jobType: candidate.jobType,
    status: candidate.status,
    finishedAt: candidate.finishedAt,
    resumed: candidate.pruneStartedAt !== null,
  };
}

async function pruneOne(params: {
  db: Pool;
  locks: PoolClient;
  candidate: PruneCandidate;
  options: PruneOptions;
  signal?: AbortSignal;
  result: PruneResult;
  progress: PruneProgress;
  onProgress?: (progress: PruneProgress) => void;
}): Promise<PrunedJob> {
  const { db, locks, candidate, options, result, progress } = params;
  const pruned: PrunedJob = { ...describe(candidate), outcome: 'skipped', tasks: 0, batches: 0 };
  if (!(await pruneTryLock(locks, candidate.jobId))) return { ...pruned, reason: 'pruned-by-another' };
  try {
    // Read again under the lock: another prune may have finished it, or retry-failed reopened it.
    const job = await jobsGet(db, candidate.jobId);
    if (!job) return { ...pruned, reason: 'gone' };
    pruned.resumed = (await pruneStartedAt(db, job.jobId)) !== null;
    if (options.archiveDir && !pruned.resumed) {
      // Archived before the mark, so what is archived is what the mark then finds finished.
      progress.jobId = job.jobId;
      progress.phase = 'archiving';
      params.onProgress?.({ ...progress });
      try {
        pruned.archive = await archiveJob({ db, job, file: path.join(options.archiveDir, `${job.jobId}.ndjson.gz`), signal: params.signal });
      } catch (err) {
        if (err instanceof ArchiveInterrupted) return { ...pruned, reason: 'interrupted' };
        throw err;
      }
    }
    const begun = await pruneBegin(db, { jobId: job.jobId, statuses: options.statuses, cutoff: options.cutoff });
    if (begun !== 'begun') {
      // Not deleted after all: an archive of a job that stays would only mislead.
      if (pruned.archive) await fs.rm(pruned.archive.file, { force: true });
      pruned.archive = undefined;
      return { ...pruned, reason: begun === 'missing' ? 'gone' : begun };
    }
    progress.phase = 'deleting';
    progress.jobId = job.jobId;
    const timed = async <T>(statement: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const value = await statement();
      result.longestStatementMs = Math.max(result.longestStatementMs, performance.now() - t0);
      result.statements++;
      return value;
    };
    while ((await timed(() => pruneRedeliveries(db, { jobId: job.jobId, limit: REDELIVERY_CHUNK }))) > 0) {
      if (params.signal?.aborted) return { ...pruned, reason: 'interrupted' };
    }
    let heldSince: number | undefined;
    for (;;) {
      if (params.signal?.aborted) return { ...pruned, reason: 'interrupted' };
      const chunk = await timed(() => pruneBatches(db, { jobId: job.jobId, maxBatches: options.chunkBatches ?? DEFAULT_CHUNK_BATCHES }));
      pruned.tasks += chunk.tasks;
      pruned.batches += chunk.batches;
      result.tasksDeleted += chunk.tasks;
      result.batchesDeleted += chunk.batches;
      progress.tasksDeleted = result.tasksDeleted;
      params.onProgress?.({ ...progress });
      if (!chunk.left) break;
      if (chunk.batches === 0) {
        // What is left is held by another process for a moment (a cancel marking rows): wait for it, within reason.
        heldSince ??= performance.now();
        if (performance.now() - heldSince > HELD_BATCHES_PATIENCE_MS) return { ...pruned, reason: 'batches-held' };
        await sleep(100, params.signal);
      } else heldSince = undefined;
    }
    await timed(() => pruneJobRow(db, job.jobId));
    return { ...pruned, outcome: 'pruned' };
  } finally {
    await pruneUnlock(locks, candidate.jobId);
  }
}

async function prepareArchiveDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new InputError('OUTPUT_UNWRITABLE', `--archive-dir ${dir} cannot be created: ${(err as Error).message}`, { cause: err });
  }
  const stat = await fs.stat(dir);
  if (!stat.isDirectory()) throw new InputError('OUTPUT_UNWRITABLE', `--archive-dir ${dir} is not a folder`);
}
