import crypto from 'node:crypto';
import { idPrefixFor } from '../../../src/core/ids.js';
import type { TaskDefinition } from '../../../src/core/job-types/job-type.js';
import { DEFAULT_RETRY_POLICY } from '../../../src/core/job-types/job-type.js';
import { type DispatchResult, dispatchStage } from '../../../src/core/protocol/dispatch-stage.js';
import { jobsInsert } from '../../../src/store/jobs.js';
import type { Pool } from '../../../src/store/pool.js';
import { stagesEnsure } from '../../../src/store/stages.js';
import { parseTaskMessage } from '../../../src/transports/message.js';
import { createStorageQueueProducer } from '../../../src/transports/storage-queue.js';
import type { TransportProducer } from '../../../src/transports/transport.js';
import type { Azurite } from '../../support/azurite.js';
import { taskStatusCounts } from '../../support/submit.js';

/** Drives the core's dispatch directly with the real transport, where a subprocess cannot be timed. */
export function dispatchHarness(db: Pool, azurite: Azurite) {
  return {
    async newJob(name: string): Promise<string> {
      const jobId = crypto.createHash('sha256').update(name).digest('hex');
      await jobsInsert(db, {
        jobId,
        jobType: 'hello_world',
        parameters: { name },
        processingPath: 'storage-queue',
        tasksAreMessages: false,
        destination: { transport: 'storage-queue' },
        idPrefix: idPrefixFor(jobId),
        stageCount: 1,
      });
      return jobId;
    },

    transport(queue: string, messageEncoding: 'base64' | 'text' = 'base64'): Promise<TransportProducer> {
      return createStorageQueueProducer({ connectionString: azurite.connectionString, queue, createQueue: true, messageEncoding, timeoutMs: 30_000 });
    },

    async dispatch(params: {
      jobId: string;
      transport: TransportProducer;
      count: number;
      tasks: AsyncIterable<TaskDefinition> | Iterable<TaskDefinition>;
      batchSize?: number;
    }): Promise<DispatchResult> {
      // The stage row, as a submit writes it before dispatching (failures are counted on it).
      const batchSize = params.batchSize ?? 100;
      await stagesEnsure(db, {
        jobId: params.jobId,
        stage: 1,
        name: 'greeting',
        taskCount: params.count,
        batchSize,
        retry: DEFAULT_RETRY_POLICY,
        acceptPartial: false,
        leaseSeconds: 1,
      });
      return dispatchStage({
        db,
        transport: params.transport,
        job: { jobId: params.jobId, jobType: 'hello_world', idPrefix: idPrefixFor(params.jobId) },
        stage: { stage: 1, taskType: 'greeting', taskCount: params.count, batchSize },
        tasks: params.tasks,
        concurrency: 4,
        leaseSeconds: 1,
        sendPolicy: { maxAttempts: 3, baseMs: 20, maxMs: 100 },
      });
    },

    async queuedCount(jobId: string): Promise<number> {
      return (await taskStatusCounts(db, jobId)).queued ?? 0;
    },

    async tasks(jobId: string): Promise<Map<string, { status: string; error: string | null }>> {
      const { rows } = await db.query<{ taskId: string; status: string; error: string | null }>(
        `SELECT t.task_id AS "taskId", t.status AS status, t.error
         FROM task_states t WHERE t.job_id = $1`,
        [jobId],
      );
      return new Map(rows.map((r) => [r.taskId, { status: r.status, error: r.error }]));
    },
  };
}

export function* greetings(count: number, parameters: (i: number) => Record<string, unknown> = (i) => ({ i })): Generator<TaskDefinition> {
  for (let i = 0; i < count; i++) yield { index: i, key: `greet-${i}`, parameters: parameters(i) };
}

export function taskIdOf(text: string, encoding: 'base64' | 'text' = 'base64'): string {
  return parseTaskMessage(encoding === 'base64' ? Buffer.from(text, 'base64').toString('utf8') : text).taskId;
}
