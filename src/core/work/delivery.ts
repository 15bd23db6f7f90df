import { tasksClaim, tasksComplete } from '../../store/completion.js';
import type { ReceivedMessage } from '../../transports/transport.js';
import { findHandler, runAttempt, type AttemptOutcome } from './handlers.js';
import type { HeldTask } from './renewal.js';
import { reportFailure } from './report.js';
import { giveBack, settle, type WorkScope } from './scope.js';

const GIVEN_UP: unique symbol = Symbol('given up');

/**
 * One broker delivery, from claim to settlement (deliveries the transport
 * claimed itself go through handleGroup). `onClaimed` is called once the
 * claim has answered, whatever it said.
 *
 * `busy` (another live worker's lease holds the task) leaves the message
 * unsettled: it comes back when its lock lapses. Completing it would lose the
 * task when this delivery is the holder's own message, redelivered because
 * the holder died (its lock lapses before its lease); abandoning would bring
 * it straight back and burn through the broker's delivery count. By its next
 * delivery the holder has finished (`finished`: acknowledged) or its lease
 * has lapsed (the task is claimed and run here).
 */
export async function handleDelivery(scope: WorkScope, delivery: ReceivedMessage, onClaimed: () => void): Promise<void> {
  const { tally } = scope;
  const message = delivery.message;
  if (!message) {
    onClaimed();
    tally.add('malformed');
    await settle(scope, delivery, undefined, 'dead-letter', () =>
      scope.consumer.deadLetter(delivery, 'MalformedMessage', delivery.parseError ?? 'not a task message'),
    );
    tally.add('deadLettered');
    return;
  }
  const claimedAt = Date.now();
  let claim;
  try {
    claim = await tasksClaim({ db: scope.db, taskId: message.taskId, worker: scope.worker, leaseSeconds: scope.leaseSeconds });
  } finally {
    onClaimed();
  }
  if (claim.outcome === 'finished') {
    tally.add('duplicates');
    await settle(scope, delivery, undefined, 'complete', () => scope.consumer.complete(delivery));
    return;
  }
  if (claim.outcome === 'busy') {
    tally.add('busy');
    return;
  }
  if (claim.outcome === 'missing') {
    await settle(scope, delivery, undefined, 'dead-letter', () =>
      scope.consumer.deadLetter(delivery, 'TaskNotFound', `task ${message.taskId} is not in the database`),
    );
    tally.add('deadLettered');
    return;
  }

  const attempt = claim.attempt ?? 1;
  tally.add('tasks');
  const held: HeldTask = { taskId: message.taskId, delivery, lost: new AbortController() };
  // The database's row is authoritative for what runs; the message only routes it here.
  const lookup = findHandler({ jobType: message.jobType, stage: message.stage, taskType: claim.taskType ?? message.taskType });
  if ('reason' in lookup) {
    await reportFailure(scope, delivery, held, message, attempt, { error: lookup.description, retryable: false, reason: lookup.reason });
    return;
  }
  scope.renewer.hold(held, claimedAt);
  let ended: AttemptOutcome | typeof GIVEN_UP;
  try {
    const context = { taskId: message.taskId, jobId: message.jobId, stage: message.stage, attempt, signal: held.lost.signal };
    ended = await Promise.race([
      runAttempt(lookup.handler, claim.parameters ?? message.parameters, context),
      scope.stopping.givenUp.then((): typeof GIVEN_UP => GIVEN_UP),
    ]);
  } finally {
    scope.renewer.release(held);
  }
  if (ended === GIVEN_UP) {
    await giveBack(scope, [{ held, delivery }]);
    return;
  }
  if (!ended.ok) {
    await reportFailure(scope, delivery, held, message, attempt, ended);
    return;
  }
  const done = await tasksComplete({ db: scope.db, taskId: message.taskId, result: ended.result });
  tally.add(done.outcome === 'completed' ? 'completed' : 'duplicates');
  if (done.stageCompleted) scope.stageFinished();
  await settle(scope, delivery, held, 'complete', () => scope.consumer.complete(delivery));
}
