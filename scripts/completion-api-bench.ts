/**
 * Throughput of the completion API as an outside worker uses it: each task
 * delivered by id, one geo_claim_task call and one geo_complete_task call,
 * from --connections connections at once, all tasks in one stage (its row is
 * the one every completion updates). With --group N the connections instead
 * use geo's own worker path: geo_claim_next for N tasks, then one
 * geo_complete_tasks call for them. --async-commit sets synchronous_commit =
 * off on the worker sessions (docs/architecture.md, "Completion API", says
 * why that is safe and what it costs).
 *
 *   npx tsx scripts/completion-api-bench.ts                      # 20,000 tasks, 8 connections
 *   npx tsx scripts/completion-api-bench.ts --tasks 50000 --group 100
 *   npx tsx scripts/completion-api-bench.ts --async-commit
 *   DATABASE_URL=postgres://... npx tsx scripts/completion-api-bench.ts
 *
 * Without DATABASE_URL it starts an embedded server in a temporary GEO_HOME
 * and stops it at the end; either way it works in a database of its own,
 * dropped at the end. Prints one JSON document on stdout.
 */
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { batchIdFor, idPrefixFor, jobIdFor, taskIdFor } from '../src/core/ids.js';
import { DEFAULT_RETRY_POLICY } from '../src/core/job-types/job-type.js';
import { newClaimOwner } from '../src/core/protocol/leases.js';
import { batchesInsert, type NewBatch } from '../src/store/batches.js';
import { tasksClaim, tasksClaimNext, tasksComplete, tasksCompleteMany } from '../src/store/completion.js';
import { jobsInsert } from '../src/store/jobs.js';
import { migrate } from '../src/store/migrate.js';
import { openPool, type Pool } from '../src/store/pool.js';
import { stagesEnsure, stagesMarkWritten } from '../src/store/stages.js';
import { admin, benchServer, withDatabase } from './support/database.js';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '8' },
    group: { type: 'string' },
    'async-commit': { type: 'boolean', default: false },
  },
});
const taskCount = Number(values.tasks);
const connections = Number(values.connections);
const group = values.group === undefined ? undefined : Number(values.group);

const server = await benchServer('geo-completion-bench-');
const database = `geo_completion_bench_${crypto.randomBytes(4).toString('hex')}`;
await admin(server.adminUrl, `CREATE DATABASE ${database}`);
const pool = await openPool({ connectionString: withDatabase(server.adminUrl, database), max: connections + 1, applicationName: 'geo-completion-bench' });
try {
  await migrate(pool);
  const { jobId, taskIds } = await writeStage(pool);
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  if (values['async-commit']) for (const client of clients) await client.query('SET synchronous_commit = off');
  const started = performance.now();
  try {
    const finishers = await Promise.all(clients.map((client, i) => (group ? runGrouped(client, `w${i}`, group) : runSingle(client, `w${i}`, taskIds))));
    const elapsedMs = performance.now() - started;
    const { rows } = await pool.query(
      `SELECT status, completed_count AS completed, (SELECT count(*)::int FROM stage_completions WHERE job_id = $1) AS outbox
       FROM stages WHERE job_id = $1`,
      [jobId],
    );
    const document = {
      synchronousCommit: !values['async-commit'],
      mode: group ? `geo_claim_next(${group}) + geo_complete_tasks` : 'geo_claim_task + geo_complete_task per task',
      tasks: taskCount,
      connections,
      elapsedMs: Math.round(elapsedMs),
      tasksPerSecond: Math.round((taskCount / elapsedMs) * 1000),
      stage: { ...rows[0], finishers: finishers.reduce((a, b) => a + b, 0) },
    };
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  } finally {
    for (const client of clients) client.release();
  }
} finally {
  await pool.end();
  await admin(server.adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await server.close();
}

/** One local job with one stage of `taskCount` queued tasks, written as the producer writes them. */
async function writeStage(db: Pool): Promise<{ jobId: string; taskIds: string[] }> {
  const parameters = { bench: crypto.randomUUID() };
  const jobId = jobIdFor('hello_world', parameters);
  const prefix = idPrefixFor(jobId);
  await jobsInsert(db, {
    jobId,
    jobType: 'hello_world',
    parameters,
    processingPath: 'local',
    tasksAreMessages: true,
    idPrefix: prefix,
    destination: { transport: 'local' },
    stageCount: 1,
  });
  await stagesEnsure(db, {
    jobId,
    stage: 1,
    name: 'greeting',
    taskCount,
    batchSize: 100,
    retry: DEFAULT_RETRY_POLICY,
    acceptPartial: false,
    leaseSeconds: 60,
  });
  const taskIds: string[] = [];
  let batches: NewBatch[] = [];
  for (let start = 0; start < taskCount; start += 100) {
    const tasks = [];
    for (let i = start; i < Math.min(start + 100, taskCount); i++) {
      const taskId = taskIdFor(prefix, 1, `greet-${i}`);
      taskIds.push(taskId);
      tasks.push({ taskId, taskIndex: i, parameters: { i } });
    }
    const batchIndex = start / 100;
    batches.push({ batchId: batchIdFor(prefix, 1, batchIndex), jobId, stage: 1, batchIndex, taskType: 'greeting', transport: 'local', tasks });
    if (batches.length === 10) {
      await batchesInsert(db, { batches, queued: true, leaseSeconds: 60, owner: newClaimOwner(null) });
      batches = [];
    }
  }
  if (batches.length > 0) await batchesInsert(db, { batches, queued: true, leaseSeconds: 60, owner: newClaimOwner(null) });
  await stagesMarkWritten(db, { jobId, stage: 1, taskCount });
  return { jobId, taskIds };
}

/** A worker given messages by a broker: the next task id, claimed and completed in two calls. */
async function runSingle(db: pg.PoolClient, worker: string, queue: string[]): Promise<number> {
  let finishers = 0;
  for (let taskId = queue.pop(); taskId !== undefined; taskId = queue.pop()) {
    const claim = await tasksClaim({ db, taskId, worker, leaseSeconds: 60 });
    if (claim.outcome !== 'claimed') throw new Error(`${taskId}: ${claim.outcome}`);
    const done = await tasksComplete({ db, taskId, claim: claim.claim!, resultJson: JSON.stringify({ message: `done by ${worker}` }) });
    if (done.stageCompleted) finishers++;
  }
  return finishers;
}

/** geo's local worker: a group claimed from the queue, completed in one call. */
async function runGrouped(db: pg.PoolClient, worker: string, size: number): Promise<number> {
  let finishers = 0;
  for (;;) {
    const claimed = await tasksClaimNext({ db, worker, maxTasks: size, leaseSeconds: 60, jobTypes: ['hello_world'] });
    if (claimed.length === 0) return finishers;
    const answers = await tasksCompleteMany({
      db,
      completions: claimed.map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: `done by ${worker}` }) })),
    });
    finishers += [...answers.values()].filter((a) => a.stageCompleted).length;
  }
}
