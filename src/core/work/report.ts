import { tasksFail } from '../../store/completion.js';
import { buildTaskMessage, type TaskMessage } from '../../transports/message.js';
import type { ReceivedMessage } from '../../transports/transport.js';
import type { HeldTask } from './renewal.js';
import { settle, type WorkScope } from './scope.js';

/** A failed attempt: the error text, whether another attempt may help, and a dead-letter reason when it is known up front. */
export interface FailedAttempt {
  error: string;
  retryable: boolean;
  reason?: string;
}

/**
 * Records a failed attempt (geo_fail_task, which applies the stage's retry
 * policy) and settles the delivery by the answer: `retry` -> the next
 * attempt's message at retry_at (the local queue's retry_at is the row's own),
 * `failed` -> dead-lettered with reason and description, `stale` (another
 * attempt holds the task now) -> acknowledged.
 */
export async function reportFailure(
  scope: WorkScope,
  delivery: ReceivedMessage,
  held: HeldTask,
  message: TaskMessage,
  attempt: number,
  failure: FailedAttempt,
): Promise<void> {
  const answer = await tasksFail({ db: scope.db, taskId: message.taskId, error: failure.error, attempt, retryable: failure.retryable });
  switch (answer.outcome) {
    case 'retry': {
      scope.tally.add('retried');
      const at = answer.retryAt ?? new Date();
      scope.retryScheduled(at);
      // The next message carries this claim's number: its message id is unique to the re-delivery.
      await settle(scope, delivery, held, 'schedule the retry', () => scope.consumer.deliverLater(delivery, at, buildTaskMessage(message, attempt)));
      return;
    }
    case 'failed': {
      scope.tally.add('failed');
      if (answer.stageCompleted) scope.stageFinished();
      const reason = failure.reason ?? (failure.retryable ? 'RetriesExhausted' : 'PermanentTaskError');
      await settle(scope, delivery, held, 'dead-letter', () => scope.consumer.deadLetter(delivery, reason, `attempt ${attempt}: ${failure.error}`));
      scope.tally.add('deadLettered');
      return;
    }
    case 'stale':
      scope.tally.add('stale');
      await settle(scope, delivery, held, 'complete', () => scope.consumer.complete(delivery));
      return;
    case 'missing':
      await settle(scope, delivery, held, 'dead-letter', () =>
        scope.consumer.deadLetter(delivery, 'TaskNotFound', `task ${message.taskId} is no longer in the database`),
      );
      scope.tally.add('deadLettered');
      return;
  }
}
