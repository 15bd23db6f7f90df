import { performance } from 'node:perf_hooks';
import { idPrefixFor, taskIdFor } from '../core/ids.js';
import { benchTaskInsert } from '../store/bench.js';
import type { Pool } from '../store/pool.js';
import { buildTaskMessage } from '../transports/message.js';
import type { TransportProducer } from '../transports/transport.js';
import { clockFigures, type ModeRun, type RunProgress } from './mode-run.js';
import { CallClock, timedPool, timedTransport } from './timing.js';
import { BENCH_TASK_TYPE, type BenchJob, benchJobCreate, benchTasks } from './workload.js';

/** A broker that fails this many sends in a row is down; the rest would only wait on timeouts. */
const MAX_CONSECUTIVE_FAILURES = 5;

/**
 * The seeds' flow, as the baseline: for each task, one INSERT of its row (its
 * own statement, autocommit) and then one single-message send, one task after
 * another. No retries, as in the seeds; a failed send counts as a failure.
 * With the local transport the row is the message and there is no send.
 */
export async function runIndividual(params: {
  db: Pool;
  transport: TransportProducer;
  job: BenchJob;
  n: number;
  signal?: AbortSignal;
  onProgress?: RunProgress;
}): Promise<ModeRun> {
  const clock = new CallClock();
  const db = timedPool(params.db, clock);
  const transport = timedTransport(params.transport, clock);
  const { job } = params;
  const latenciesMs: number[] = [];
  let queued = 0;
  let consecutiveFailures = 0;
  let error: string | undefined;

  const started = performance.now();
  await benchJobCreate(db, { job, transport: transport.name, tasksAreMessages: transport.writesWithTasks, taskCount: params.n, batchSize: 1 });
  for (const task of benchTasks(params.n)) {
    if (params.signal?.aborted) {
      error = 'interrupted';
      break;
    }
    const taskStarted = performance.now();
    const taskId = taskIdFor(idPrefixFor(job.jobId), 1, task.key);
    // Each task is its own unit here, so its batch id is its task id.
    const message = buildTaskMessage({
      taskId,
      jobId: job.jobId,
      jobType: job.jobType,
      taskType: BENCH_TASK_TYPE,
      stage: 1,
      batchId: taskId,
      parameters: task.parameters,
    });
    await benchTaskInsert(db, { ...message, taskIndex: task.index });
    let sent = true;
    if (!transport.writesWithTasks) {
      const report = await transport.send([message]);
      sent = report.acknowledged.includes(taskId);
      if (!sent) error = report.error?.message ?? report.rejected[0]?.reason ?? 'the send reported nothing';
    }
    latenciesMs.push(performance.now() - taskStarted);
    if (sent) {
      queued++;
      consecutiveFailures = 0;
    } else if (++consecutiveFailures >= MAX_CONSECUTIVE_FAILURES) {
      error = `stopped after ${consecutiveFailures} failed sends in a row: ${error}`;
      break;
    }
    if (task.index % 50 === 49) params.onProgress?.(task.index + 1);
  }
  params.onProgress?.(params.n);
  return {
    tasks: params.n,
    queued,
    failed: params.n - queued,
    elapsedMs: performance.now() - started,
    ...clockFigures(clock),
    units: latenciesMs.length,
    latenciesMs,
    error: queued < params.n ? error : undefined,
  };
}
