import { jobTypeNames } from '../../../src/core/job-types/registry.js';
import { prepareJob } from '../../../src/core/prepare-job.js';
import { submitJob } from '../../../src/core/submit.js';
import type { WorkOptions, WorkSummary } from '../../../src/core/work/options.js';
import { runWork } from '../../../src/core/work/runtime.js';
import type { Pool } from '../../../src/store/pool.js';
import { createConsumer, destinationOf } from '../../../src/transports/index.js';
import type { ReceivedMessage, TransportConsumer } from '../../../src/transports/transport.js';
import { type Lane, LOCK_SECONDS } from './harness.js';

let workers = 0;

export interface WorkerHooks {
  /** Called with what each receive of a worker's consumer returned. */
  onReceive?(received: ReceivedMessage[]): void;
}

/** Runs `count` worker runtimes in this process, each with its own consumer, until they all stop; returns their summaries. */
export async function runWorkers(db: Pool, lane: Lane, count: number, options: Partial<WorkOptions> = {}, hooks: WorkerHooks = {}): Promise<WorkSummary[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const worker = `test-worker-${++workers}`;
      const leaseSeconds = options.leaseSeconds ?? LOCK_SECONDS;
      const consumer = watched(await createConsumer(lane.transport, lane.config(), { worker, leaseSeconds, jobTypes: jobTypeNames(), db }), hooks);
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
            destination: destinationOf(lane.transport, lane.config()),
            ...options,
          },
        });
      } finally {
        await consumer.close();
      }
    }),
  );
}

/** The consumer, telling `hooks` what it receives. */
function watched(consumer: TransportConsumer, hooks: WorkerHooks): TransportConsumer {
  if (!hooks.onReceive) return consumer;
  return Object.assign(Object.create(consumer) as TransportConsumer, {
    async receive(max: number, waitMs: number) {
      const received = await consumer.receive(max, waitMs);
      hooks.onReceive!(received);
      return received;
    },
  });
}

/** Creates a job and queues its first stage on the lane's transport. */
export async function submit(db: Pool, lane: Lane, jobType: string, params: Record<string, unknown>): Promise<string> {
  const transport = await lane.producer();
  const result = await submitJob({
    db,
    transport,
    job: prepareJob(jobType, params),
    destination: destinationOf(lane.transport, lane.config()),
    options: { batchSize: 100, concurrency: 4, leaseSeconds: 30, sendPolicy: { maxAttempts: 10, baseMs: 100, maxMs: 2_000 } },
  });
  if (result.queued !== result.tasks) throw new Error(`submit queued ${result.queued} of ${result.tasks} tasks`);
  return result.jobId;
}

/** The sum of one count over several summaries. */
export function total(summaries: WorkSummary[], key: keyof WorkSummary): number {
  return summaries.reduce((sum, s) => sum + Number(s[key]), 0);
}
