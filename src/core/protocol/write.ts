import { batchesInsert } from '../../store/batches.js';
import type { Queryable } from '../../store/pool.js';
import type { ClaimOwner } from '../../store/stage-completions.js';
import { buildTaskMessage, type TaskMessage } from '../../transports/message.js';
import type { TransportProducer } from '../../transports/transport.js';
import { batchIdFor, taskIdFor } from '../ids.js';
import type { TaskDefinition } from '../job-types/job-type.js';
import type { PlannedBatch } from './plan.js';

/** The job and stage a dispatch writes. */
export interface StageTarget {
  job: { jobId: string; jobType: string; idPrefix: string };
  stage: { stage: number; taskType: string; taskCount: number; batchSize: number };
}

/** A batch this run holds, with the messages still to send for it. */
export interface OutgoingBatch {
  batchId: string;
  messages: TaskMessage[];
}

/** The messages of planned tasks: the same on every run, as ids follow from the job, the stage and the task key. */
export function plannedMessages(target: StageTarget, batchId: string, tasks: TaskDefinition[]): TaskMessage[] {
  const { job, stage } = target;
  return tasks.map((t) =>
    buildTaskMessage({
      taskId: taskIdFor(job.idPrefix, stage.stage, t.key),
      jobId: job.jobId,
      jobType: job.jobType,
      taskType: stage.taskType,
      stage: stage.stage,
      batchId,
      parameters: t.parameters,
    }),
  );
}

/** A planned batch with its id and messages, ready to be written. */
export interface PreparedBatch extends OutgoingBatch {
  planned: PlannedBatch;
}

/** The ids and messages of planned batches (the same on every run). */
export function prepareBatches(target: StageTarget, batches: PlannedBatch[]): PreparedBatch[] {
  return batches.map((planned) => {
    const batchId = batchIdFor(target.job.idPrefix, target.stage.stage, planned.batchIndex);
    return { planned, batchId, messages: plannedMessages(target, batchId, planned.tasks) };
  });
}

/**
 * Step 1: the batches' rows and their tasks in one statement, `pending_queue`
 * under the owner's token and lease (`queued` when the transport's rows are
 * its messages). A batch another process wrote first stays that process's
 * (ON CONFLICT DO NOTHING decides): it comes back in `heldElsewhere`.
 */
export async function writeBatches(params: {
  db: Queryable;
  transport: TransportProducer;
  target: StageTarget;
  batches: PreparedBatch[];
  leaseSeconds: number;
  owner: ClaimOwner;
}): Promise<{ written: OutgoingBatch[]; heldElsewhere: string[] }> {
  const { target, transport, batches } = params;
  const inserted = await batchesInsert(params.db, {
    batches: batches.map(({ planned, batchId, messages }) => ({
      batchId,
      jobId: target.job.jobId,
      stage: target.stage.stage,
      batchIndex: planned.batchIndex,
      taskType: target.stage.taskType,
      transport: transport.name,
      tasks: messages.map((m, i) => ({ taskId: m.taskId, taskIndex: planned.tasks[i]!.index, parameters: m.parameters })),
    })),
    queued: transport.writesWithTasks,
    leaseSeconds: params.leaseSeconds,
    owner: params.owner,
  });
  return {
    written: batches.filter(({ batchId }) => inserted.has(batchId)).map(({ batchId, messages }) => ({ batchId, messages })),
    heldElsewhere: batches.filter(({ batchId }) => !inserted.has(batchId)).map(({ batchId }) => batchId),
  };
}
