import { createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { GeoError, InputError } from '../errors.js';
import { archiveJobLine, archiveStageLines, archiveTaskPages } from '../store/archive.js';
import type { JobRow } from '../store/jobs.js';
import type { Queryable } from '../store/pool.js';

export interface ArchiveResult {
  jobId: string;
  file: string;
  gzip: boolean;
  stages: number;
  tasks: number;
  /** Size of the file written. */
  bytes: number;
  elapsedMs: number;
}

/** The caller's signal asked to stop: the partial file was removed and nothing was archived. */
export class ArchiveInterrupted extends GeoError {
  constructor(file: string) {
    super('incomplete', 'INTERRUPTED', `interrupted: ${file} was not written`);
  }
}

/**
 * Writes the job, its stages and every task (parameters, result, error,
 * attempt, history) to `file` as NDJSON, gzip-compressed when the name ends
 * in `.gz`, then a last line `{"record": "end", "stages", "tasks"}` by which a
 * reader tells a whole archive from a cut one. The file appears under its
 * name only when complete and flushed to disk (written under a temporary name
 * beside it, synced, renamed), so a prune that deletes after this returns
 * never deletes what is not on disk. Tasks are read a page of batches at a
 * time: memory stays flat for a job of millions.
 */
export async function archiveJob(params: {
  db: Queryable;
  job: JobRow;
  file: string;
  signal?: AbortSignal;
  onProgress?: (tasks: number) => void;
}): Promise<ArchiveResult> {
  const { db, job, file } = params;
  const started = performance.now();
  const existing = await fs.stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw new InputError('OUTPUT_UNWRITABLE', `${file} is a folder: name a file to write the archive to`);
  const gzip = file.endsWith('.gz');
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  let stages = 0;
  let tasks = 0;
  // What failed reading (the database, a stop) is rethrown as it is; anything else failed writing the file.
  let readFailure: unknown;
  async function* lines(): AsyncGenerator<string> {
    try {
      yield* rows();
    } catch (err) {
      readFailure = err;
      throw err;
    }
  }
  async function* rows(): AsyncGenerator<string> {
    const jobLine = await archiveJobLine(db, job.jobId);
    if (jobLine === undefined) throw new InputError('JOB_NOT_FOUND', `no job ${job.jobId}`);
    yield `${jobLine}\n`;
    const stageLines = await archiveStageLines(db, job.jobId);
    stages = stageLines.length;
    if (stageLines.length > 0) yield `${stageLines.join('\n')}\n`;
    for await (const page of archiveTaskPages(db, { jobId: job.jobId })) {
      if (params.signal?.aborted) throw new ArchiveInterrupted(file);
      tasks += page.tasks;
      yield page.text;
      params.onProgress?.(tasks);
    }
    yield `${JSON.stringify({ record: 'end', jobId: job.jobId, stages, tasks })}\n`;
  }
  let out: WriteStream;
  try {
    out = createWriteStream(partial, { flags: 'wx' });
    await new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
  } catch (err) {
    throw new InputError('OUTPUT_UNWRITABLE', `${file} cannot be written: ${(err as Error).message}`, { cause: err });
  }
  try {
    const source = Readable.from(lines());
    await (gzip ? pipeline(source, createGzip(), out) : pipeline(source, out));
    const handle = await fs.open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(partial, file);
  } catch (err) {
    await fs.rm(partial, { force: true });
    if (readFailure !== undefined) throw readFailure;
    throw new InputError('OUTPUT_UNWRITABLE', `${file} cannot be written: ${(err as Error).message}`, { cause: err });
  }
  const { size } = await fs.stat(file);
  return { jobId: job.jobId, file, gzip, stages, tasks, bytes: size, elapsedMs: performance.now() - started };
}
