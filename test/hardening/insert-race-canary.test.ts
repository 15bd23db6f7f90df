import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newClaimOwner } from '../../src/core/protocol/leases.js';
import { batchesInsert, type NewBatch } from '../../src/store/batches.js';
import { jobsInsert } from '../../src/store/jobs.js';
import type { PoolClient, Queryable } from '../../src/store/pool.js';
import type { ClaimOwner } from '../../src/store/stage-completions.js';
import { TableBarrier } from '../support/barrier.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

/**
 * Two submitters of one job, each with WORKERS workers, as dispatch runs
 * them: worker k of either submitter writes group k (10 batches), so each
 * group is contended by two statements released by the same barrier.
 */
const WORKERS = 5;
const TASKS_PER_BATCH = 20;
/**
 * Trials for the wrong variant to show its violation. Measured on this
 * 2-core machine under load (6 agents): 56 of 200 trials (28%) violate, so
 * 60 trials all miss with probability 0.72^60, about 3e-9.
 */
const CANARY_TRIALS = 60;
const CORRECT_TRIALS = 20;

type Insert = (db: Queryable, params: { batches: NewBatch[]; owner: ClaimOwner }) => Promise<Set<string>>;

/**
 * The insert as it was before the fix, defined here on purpose: the store's
 * statement with the conflict target `(batch_id)`, which makes the primary
 * key the only arbiter. Two statements that pass the arbiter check for the
 * same batch at once then collide on batches_job_stage_index, a unique index
 * the targeted ON CONFLICT does not cover.
 */
const insertTargetingBatchId: Insert = async (db, { batches, owner }) => {
  const tasks = batches.flatMap((b) => b.tasks.map((t) => ({ ...t, batchId: b.batchId, taskType: b.taskType })));
  const { rows } = await db.query<{ batchId: string }>(
    `WITH new_batches AS (
       INSERT INTO batches (batch_id, job_id, stage, batch_index, task_count, transport, status, attempts,
                            claimed_until, claim_token)
       SELECT b.batch_id, b.job_id, b.stage, b.batch_index, b.task_count, b.transport, 'pending_queue', 0,
              now() + interval '30 seconds', $7::uuid
       FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::integer[], $6::text[])
            AS b(batch_id, job_id, stage, batch_index, task_count, transport)
       ON CONFLICT (batch_id) DO NOTHING
       RETURNING batch_id, job_id, stage
     ), new_tasks AS (
       INSERT INTO tasks (task_id, job_id, stage, task_index, batch_id, task_type, status, parameters)
       SELECT t.task_id, nb.job_id, nb.stage, t.task_index, t.batch_id, t.task_type, 'pending_queue', t.parameters::jsonb
       FROM unnest($8::text[], $9::text[], $10::integer[], $11::text[], $12::text[])
            AS t(batch_id, task_id, task_index, task_type, parameters)
       JOIN new_batches nb ON nb.batch_id = t.batch_id
     )
     SELECT batch_id AS "batchId" FROM new_batches`,
    [
      batches.map((b) => b.batchId),
      batches.map((b) => b.jobId),
      batches.map((b) => b.stage),
      batches.map((b) => b.batchIndex),
      batches.map((b) => b.tasks.length),
      batches.map((b) => b.transport),
      owner.token,
      tasks.map((t) => t.batchId),
      tasks.map((t) => t.taskId),
      tasks.map((t) => t.taskIndex),
      tasks.map((t) => t.taskType),
      tasks.map((t) => JSON.stringify(t.parameters)),
    ],
  );
  return new Set(rows.map((r) => r.batchId));
};

const insertFromStore: Insert = (db, { batches, owner }) => batchesInsert(db, { batches, queued: false, leaseSeconds: 30, owner });

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A fresh job and its groups of batches: group k holds batches 10k..10k+9. */
async function newJob(): Promise<{ jobId: string; groups: NewBatch[][] }> {
  const jobId = crypto.randomBytes(32).toString('hex');
  const prefix = jobId.slice(0, 16);
  await jobsInsert(db.pool, {
    jobId,
    jobType: 'hello_world',
    parameters: { jobId },
    processingPath: 'servicebus',
    tasksAreMessages: false,
    idPrefix: prefix,
    destination: { transport: 'servicebus' },
    stageCount: 2,
  });
  const groups = Array.from({ length: WORKERS }, (_, g) =>
    Array.from({ length: 10 }, (_, i) => {
      const k = g * 10 + i;
      return {
        batchId: `${prefix}-s1-b${k}`,
        jobId,
        stage: 1,
        batchIndex: k,
        taskType: 'greeting',
        transport: 'servicebus',
        tasks: Array.from({ length: TASKS_PER_BATCH }, (_, j) => {
          const index = k * TASKS_PER_BATCH + j;
          return { taskId: `${prefix}-s1-greet-${index}`, taskIndex: index, parameters: { i: index } };
        }),
      };
    }),
  );
  return { jobId, groups };
}

interface TrialOutcome {
  jobId: string;
  /** Per submitter: the batch ids its statements created, or the first error. */
  submitters: Array<{ created: string[]; error?: { constraint?: string; message: string } }>;
}

/**
 * One trial: both submitters' workers connect, queue on the barrier's lock,
 * and are let in together; each worker runs `insert` for its group.
 */
async function trial(insert: Insert): Promise<TrialOutcome> {
  const { jobId, groups } = await newJob();
  const barrier = await TableBarrier.hold(db.pool, 'batches');
  const clients: PoolClient[] = [];
  try {
    for (let i = 0; i < 2 * WORKERS; i++) clients.push(await db.pool.connect());
    const pids = await Promise.all(clients.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
    const submitters = [0, 1].map(async (s) => {
      const owner = newClaimOwner(null);
      const created: string[] = [];
      const outcomes = await Promise.allSettled(
        groups.map(async (group, g) => {
          for (const id of await insert(clients[s * WORKERS + g]!, { batches: group, owner })) created.push(id);
        }),
      );
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      const error = failed ? { constraint: (failed.reason as { constraint?: string }).constraint, message: String(failed.reason) } : undefined;
      return { created, error };
    });
    await barrier.waitForBlocked((blocked) => pids.every((pid) => blocked.some((b) => b.pid === pid)));
    await barrier.release();
    return { jobId, submitters: await Promise.all(submitters) };
  } finally {
    await barrier.release();
    for (const c of clients) c.release();
  }
}

describe('the barrier harness over the store-level batch insert', () => {
  it('catches the old insert (ON CONFLICT (batch_id)): a unique violation on batches_job_stage_index', async () => {
    let violations = 0;
    let trials = 0;
    while (violations === 0 && trials < CANARY_TRIALS) {
      trials++;
      const outcome = await trial(insertTargetingBatchId);
      const errors = outcome.submitters.flatMap((s) => (s.error ? [s.error] : []));
      // Whatever else a trial shows, the only error this race may produce is that violation.
      for (const error of errors) expect(error.constraint, error.message).toBe('batches_job_stage_index');
      if (errors.length > 0) violations++;
    }
    expect(violations, `no violation in ${trials} trials`).toBe(1);
  });

  it(`the store's batchesInsert under the same harness: ${CORRECT_TRIALS} trials, no error, every batch created by exactly one submitter`, async () => {
    for (let i = 0; i < CORRECT_TRIALS; i++) {
      const { jobId, submitters } = await trial(insertFromStore);
      for (const s of submitters) expect(s.error).toBeUndefined();
      const [a, b] = submitters.map((s) => s.created);
      expect(a!.filter((id) => b!.includes(id))).toEqual([]);
      expect(a!.length + b!.length).toBe(WORKERS * 10);
      const { rows } = await db.pool.query<{ batches: number; tasks: number }>(
        `SELECT (SELECT count(*)::int FROM batches WHERE job_id = $1) AS batches, (SELECT count(*)::int FROM tasks WHERE job_id = $1) AS tasks`,
        [jobId],
      );
      expect(rows[0]).toEqual({ batches: WORKERS * 10, tasks: WORKERS * 10 * TASKS_PER_BATCH });
    }
  });
});
