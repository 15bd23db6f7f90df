import type { Pool } from '../../../src/store/pool.js';
import type { Fault, PlanJob } from './chaos-plan.mjs';
import * as plan from './chaos-plan.mjs';

export type { Fault };

/** A submitted `chaos` job: its parameters decide every outcome. */
export interface ChaosJob extends PlanJob {
  jobId: string;
}

interface TaskRow {
  jobId: string;
  stage: number;
  index: number;
  status: string;
  error: string | null;
  result: { i?: number; v?: number } | null;
  attempt: number;
}

/** What the run left behind, counted for its summary. */
export interface Outcome {
  jobs: Record<string, number>;
  tasks: Record<string, number>;
  /** Tasks that ran more than once, and the extra attempts they took. */
  retriedTasks: number;
  extraAttempts: number;
}

/**
 * Everything wrong with the database after the run, as sentences (empty when
 * all is well): each job ended as its fault says it must, every task is in a
 * final state, nothing is owed, pending or unadvanced, and every stage's
 * counters equal its task rows.
 */
export async function findProblems(db: Pool, jobs: ChaosJob[]): Promise<{ problems: string[]; outcome: Outcome }> {
  const problems: string[] = [];
  const ids = jobs.map((j) => j.jobId);
  const { rows: jobRows } = await db.query<{ jobId: string; status: string; result: unknown; errors: unknown }>(
    `SELECT job_id AS "jobId", status, result, errors FROM jobs WHERE job_id = ANY($1)`,
    [ids],
  );
  const { rows: stageRows } = await db.query<{
    jobId: string;
    stage: number;
    status: string;
    error: string | null;
    taskCount: number;
    completed: number;
    failed: number;
  }>(
    `SELECT job_id AS "jobId", stage, status, error, task_count AS "taskCount", completed_count AS completed, failed_count AS failed
     FROM stages WHERE job_id = ANY($1)`,
    [ids],
  );
  const { rows: tasks } = await db.query<TaskRow>(
    `SELECT job_id AS "jobId", stage, task_index AS index, status, error, result, attempt FROM tasks WHERE job_id = ANY($1)`,
    [ids],
  );

  for (const t of tasks) {
    if (['pending_queue', 'queued', 'processing'].includes(t.status))
      problems.push(`task ${t.jobId.slice(0, 16)} s${t.stage} #${t.index} is left ${t.status} (attempt ${t.attempt})`);
  }
  for (const s of stageRows) {
    const own = tasks.filter((t) => t.jobId === s.jobId && t.stage === s.stage);
    const completed = own.filter((t) => t.status === 'completed').length;
    const failed = own.filter((t) => t.status === 'failed').length;
    if (s.completed !== completed || s.failed !== failed) {
      problems.push(
        `stage ${s.stage} of ${s.jobId.slice(0, 16)} counts ${s.completed} completed and ${s.failed} failed; its rows say ${completed} and ${failed}`,
      );
    }
  }
  for (const job of jobs)
    problems.push(
      ...jobProblems(
        job,
        jobRows.find((r) => r.jobId === job.jobId),
        stageRows.filter((s) => s.jobId === job.jobId),
        tasks.filter((t) => t.jobId === job.jobId),
      ),
    );

  const leftovers: Array<[string, string]> = [
    ['batch left pending_queue', `SELECT batch_id AS id FROM batches WHERE job_id = ANY($1) AND status = 'pending_queue'`],
    ['redelivery never sent', `SELECT task_id AS id FROM redeliveries WHERE job_id = ANY($1) AND sent_at IS NULL`],
    ['stage completion never handled', `SELECT job_id || ' s' || stage AS id FROM stage_completions WHERE job_id = ANY($1) AND handled_at IS NULL`],
  ];
  for (const [what, sql] of leftovers) {
    const { rows } = await db.query<{ id: string }>(sql, [ids]);
    for (const r of rows) problems.push(`${what}: ${r.id}`);
  }

  const count = <T>(items: T[], key: (item: T) => string) =>
    items.reduce<Record<string, number>>((acc, item) => {
      acc[key(item)] = (acc[key(item)] ?? 0) + 1;
      return acc;
    }, {});
  const retried = tasks.filter((t) => t.attempt > 1);
  return {
    problems,
    outcome: {
      jobs: count(jobRows, (j) => j.status),
      tasks: count(tasks, (t) => t.status),
      retriedTasks: retried.length,
      extraAttempts: retried.reduce((sum, t) => sum + t.attempt - 1, 0),
    },
  };
}

function jobProblems(
  job: ChaosJob,
  row: { status: string; result: unknown; errors: unknown } | undefined,
  stages: Array<{ stage: number; status: string; error: string | null; taskCount: number }>,
  tasks: TaskRow[],
): string[] {
  const name = `job ${job.jobId.slice(0, 16)} (${job.tag}, fault ${job.fault}, n ${job.n})`;
  if (!row) return [`${name} has no row`];
  const problems: string[] = [];
  const say = (text: string) => problems.push(`${name}: ${text}`);
  const expected = job.fault === 'none' ? 'completed' : 'failed';
  if (row.status !== expected) say(`is ${row.status}, expected ${expected}`);

  const first = tasks.filter((t) => t.stage === 1);
  const failing = new Set<number>(job.fault === 'permanent' ? plan.permanentTasks(job) : job.fault === 'bigint' ? [plan.bigintTask(job)] : []);
  if (first.length !== job.n) say(`stage 1 has ${first.length} task rows`);
  for (const t of first) {
    if (failing.has(t.index)) {
      const error = job.fault === 'bigint' ? 'RESULT_NOT_JSON: result.v is a BigInt' : plan.MESSAGES.permanent(t.index);
      if (t.status !== 'failed' || !t.error?.includes(error)) say(`stage 1 task ${t.index} is ${t.status} (${t.error}), expected failed with "${error}"`);
    } else if (t.status !== 'completed' || t.result?.v !== plan.taskValue(job, t.index)) {
      say(`stage 1 task ${t.index} is ${t.status} with ${JSON.stringify(t.result)} (${t.error}), expected completed with v ${plan.taskValue(job, t.index)}`);
    }
  }

  const second = tasks.filter((t) => t.stage === 2);
  const stage2 = stages.find((s) => s.stage === 2);
  if (job.fault === 'permanent' || job.fault === 'bigint') {
    if (stage2 || second.length > 0) say(`stage 2 exists (${stage2?.status}, ${second.length} tasks) although stage 1 failed`);
  } else if (job.fault === 'stage2') {
    const message = plan.MESSAGES.stage2(plan.stage2BreaksAt(job));
    if (stage2?.status !== 'failed' || !stage2.error?.includes(message))
      say(`stage 2 is ${stage2?.status} (${stage2?.error}), expected failed with "${message}"`);
    if (!JSON.stringify(row.errors).includes(message)) say(`the job's errors ${JSON.stringify(row.errors)} do not name "${message}"`);
    for (const t of second) if (t.status !== 'completed' && t.status !== 'cancelled') say(`stage 2 task ${t.index} is ${t.status} after its builder failed`);
  } else {
    if (second.length !== job.n) say(`stage 2 has ${second.length} task rows`);
    for (const t of second) {
      if (t.status !== 'completed' || t.result?.v !== plan.taskValue(job, t.index) + 1)
        say(`stage 2 task ${t.index} is ${t.status} with ${JSON.stringify(t.result)} (${t.error})`);
    }
    if (job.fault === 'result' && !stage2?.error?.includes(plan.MESSAGES.result))
      say(`stage 2's error is ${stage2?.error}, expected "${plan.MESSAGES.result}"`);
    if (job.fault === 'none') {
      const sum = second.reduce((s, t) => s + plan.taskValue(job, t.index) + 1, 0);
      if (JSON.stringify(row.result) !== JSON.stringify({ sum, count: job.n }))
        say(`result ${JSON.stringify(row.result)}, expected ${JSON.stringify({ sum, count: job.n })}`);
    }
  }
  return problems;
}
