import { errorMessage, GeoError, TransportError } from '../../errors.js';
import { tasksRelease } from '../../store/completion.js';
import type { Queryable } from '../../store/pool.js';
import type { TaskMessage } from '../../transports/message.js';
import type { ReceivedMessage, TransportConsumer } from '../../transports/transport.js';
import type { Notify, TraceSpan, WorkEvents } from '../events.js';
import type { TaskHandler } from '../job-types/job-type.js';
import type { HeldTask, Renewer } from './renewal.js';
import type { StoppedJobs } from './stopped-jobs.js';
import type { Stopping } from './stopping.js';
import type { WorkTally } from './tally.js';

/** What the stages of one worker run share. */
export interface WorkScope {
  db: Queryable;
  consumer: TransportConsumer;
  worker: string;
  leaseSeconds: number;
  tally: WorkTally;
  renewer: Renewer;
  stopping: Stopping;
  /** Jobs ended or paused since their tasks were claimed: what is held of them is not started. */
  stoppedJobs: StoppedJobs;
  /** A completion or failure reported that it finished its stage. */
  stageFinished(): void;
  notice: Notify;
  events: WorkEvents;
}

/** A task this worker claimed, from its delivery to its report. */
export interface ClaimedTask {
  delivery: ReceivedMessage;
  message: TaskMessage;
  attempt: number;
  taskType: string;
  parameters: Record<string, unknown>;
  held: HeldTask;
  /** The handler that runs it, once the worker found it has one. */
  handler?: TaskHandler;
  /** How long its handler ran (ms), once it has. */
  handlerMs: number;
  /** Its `geo.task` span while traced, from the handler's start to the report. */
  span: TraceSpan | undefined;
}

/**
 * Acknowledges a delivery: the worker's last duty for every message of a geo
 * task, whatever became of the task (the database owns redelivery). A lost
 * lock is counted and logged, never fatal: the message comes back and its
 * next claim finds the task finished or held. Any other transport error is
 * logged for the same reason; errors that are not the transport's (a bug,
 * the database) go on up.
 */
export function acknowledge(scope: WorkScope, m: ReceivedMessage, held?: HeldTask): Promise<void> {
  return settle(scope, m, held, 'acknowledge', () => scope.consumer.complete(m));
}

export async function settle(scope: WorkScope, m: ReceivedMessage, held: HeldTask | undefined, what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    const task = m.message?.taskId ?? m.messageId;
    if (err instanceof GeoError && err.code === 'LOCK_LOST') {
      if (!held?.lockLost) {
        scope.tally.add('lockLost');
        scope.events.lockLost?.();
      }
      if (held) held.lockLost = true;
      scope.notice(`${what} of task ${task}: the message lock was lost; the message comes back and is acknowledged then`, {
        event: 'lock_lost',
        taskId: task,
      });
      return;
    }
    if (err instanceof TransportError) {
      scope.notice(`${what} of task ${task} failed (the message comes back when its lock lapses): ${errorMessage(err)}`, {
        event: 'settle_failed',
        taskId: task,
      });
      return;
    }
    throw err;
  }
}

/**
 * Gives claimed tasks back unrun (shutdown, or a job type this worker cannot
 * run): their claims are released, which owes each a new delivery after
 * `delaySeconds` (the attempt does not count), then their messages are
 * acknowledged.
 */
export async function giveBack(scope: WorkScope, tasks: readonly ClaimedTask[], delaySeconds = 0): Promise<number> {
  if (tasks.length === 0) return 0;
  const released = await tasksRelease({ db: scope.db, held: tasks.map((t) => t.held), delaySeconds });
  for (const t of tasks) t.span?.end(undefined, { 'geo.outcome': 'released' });
  await Promise.all(tasks.map((t) => acknowledge(scope, t.delivery, t.held)));
  return released;
}
