import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from '../../../src/store/pool.js';
import type { CliResult } from '../../support/cli.js';
import type { ChaosJob } from './chaos-checks.js';

/**
 * Writes what a failing chaos run needs to be understood into a file in the
 * temporary folder and returns its path: the summary, the jobs, the problems
 * found, the rows of every stage and of every task left unfinished, what the
 * finishing commands printed, and every worker's stderr.
 */
export async function writeEvidence(params: {
  db: Pool;
  name: string;
  summary: unknown;
  jobs: ChaosJob[];
  problems: string[];
  deadLettered: string[];
  commands: Array<{ title: string; run: CliResult }>;
  workerLogs: string[];
}): Promise<string> {
  const { db, jobs } = params;
  const ids = jobs.map((j) => j.jobId);
  const rows = async (sql: string, values: unknown[] = [ids]) => (await db.query(sql, values)).rows.map((r) => JSON.stringify(r));
  const file = path.join(os.tmpdir(), `geo-chaos-${params.name}-${process.pid}.log`);
  await fs.writeFile(
    file,
    [
      JSON.stringify(params.summary, null, 2),
      'jobs:',
      ...jobs.map((j) => JSON.stringify(j)),
      'problems:',
      ...params.problems,
      'dead-lettered:',
      ...params.deadLettered,
      'stages:',
      ...(await rows(`SELECT * FROM stages WHERE job_id = ANY($1) ORDER BY job_id, stage`)),
      'unfinished tasks:',
      ...(await rows(`SELECT * FROM tasks WHERE job_id = ANY($1) AND status IN ('pending_queue', 'queued', 'processing') ORDER BY task_id`)),
      'redeliveries:',
      ...(await rows(`SELECT * FROM redeliveries WHERE job_id = ANY($1) ORDER BY task_id`)),
      'stage completions:',
      ...(await rows(`SELECT * FROM stage_completions WHERE job_id = ANY($1) ORDER BY job_id, stage`)),
      'sessions:',
      ...(await rows(`SELECT *, session_id IN (SELECT geo_live_sessions()) AS live FROM sessions`, [])),
      ...params.commands.map((c) => `--- ${c.title} (${c.run.code ?? c.run.signal}):\n${c.run.stdout}\n${c.run.stderr}`),
      ...params.workerLogs,
    ].join('\n'),
  );
  return file;
}
