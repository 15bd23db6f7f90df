import type { Pool } from '../../../src/store/pool.js';
import { prepareJob } from '../../../src/core/jobs.js';
import { jobTypeNames } from '../../../src/core/job-types/registry.js';
import { submitJob } from '../../../src/core/submit.js';
import type { WorkOptions, WorkSummary } from '../../../src/core/work/options.js';
import { runWork } from '../../../src/core/work/runtime.js';
import { createConsumer } from '../../../src/transports/index.js';
import { LOCK_SECONDS, type Lane } from './harness.js';

let workers = 0;

/** Runs `count` worker runtimes in this process, each with its own consumer, until they all stop; returns their summaries. */
export async function runWorkers(db: Pool, lane: Lane, count: number, options: Partial<WorkOptions> = {}): Promise<WorkSummary[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const worker = `test-worker-${++workers}`;
      const leaseSeconds = options.leaseSeconds ?? LOCK_SECONDS;
      const consumer = await createConsumer(lane.transport, lane.config(), { worker, leaseSeconds, jobTypes: jobTypeNames(), db });
      try {
        return await runWork({
          db,
          consumer,
          transportFor: () => lane.producer(),
          options: {
            worker,
            transport: consumer.name,
            concurrency: 4,
            maxPrefetch: 1_000,
            leaseSeconds,
            graceMs: 5_000,
            untilIdle: true,
            idleMs: 1_500,
            advanceOnly: false,
            backstopMs: 1_000,
            advance: { batchSize: 100, concurrency: 2, leaseSeconds: 30 },
            ...options,
          },
        });
      } finally {
        await consumer.close();
      }
    }),
  );
}

/** Creates a job and queues its first stage on the lane's transport. */
export async function submit(db: Pool, lane: Lane, jobType: string, params: Record<string, unknown>): Promise<string> {
  const transport = await lane.producer();
  const result = await submitJob({
    db,
    transport,
    job: prepareJob(jobType, params),
    destination: { transport: transport.name },
    options: { batchSize: 100, concurrency: 4, leaseSeconds: 30, sendPolicy: { maxAttempts: 10, baseMs: 100, maxMs: 2_000 } },
  });
  if (result.queued !== result.tasks) throw new Error(`submit queued ${result.queued} of ${result.tasks} tasks`);
  return result.jobId;
}

/** The sum of one count over several summaries. */
export function total(summaries: WorkSummary[], key: keyof WorkSummary): number {
  return summaries.reduce((sum, s) => sum + Number(s[key]), 0);
}
