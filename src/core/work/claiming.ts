import { type TaskClaim, tasksClaimMany } from '../../store/completion.js';
import type { ReceivedMessage } from '../../transports/transport.js';
import { type HeldTask, Lost } from './renewal.js';
import { acknowledge, type ClaimedTask, settle, type WorkScope } from './scope.js';
import type { WorkCounts } from './tally.js';

/** What a claim that took nothing means for its delivery's count. */
const NOT_CLAIMED: Record<Exclude<TaskClaim['outcome'], 'claimed'>, keyof WorkCounts> = {
  finished: 'duplicates',
  busy: 'busy',
  cancelled: 'cancelled',
  paused: 'cancelled',
  missing: 'missing',
};

/**
 * Turns received deliveries into claimed tasks. A body that is not a task
 * message is dead-lettered (it is not geo's); a delivery the transport
 * claimed while receiving (the local queue) is claimed already; the others
 * are claimed together in one statement (geo_claim_tasks). A delivery whose
 * claim takes nothing (the task is finished, held by a live claim, cancelled,
 * gone) is acknowledged and counted: the database owns redelivery, so no
 * message is ever left for later.
 */
export async function claimDeliveries(scope: WorkScope, deliveries: readonly ReceivedMessage[]): Promise<ClaimedTask[]> {
  const claimed: ClaimedTask[] = [];
  const toClaim: ReceivedMessage[] = [];
  const malformed: ReceivedMessage[] = [];
  for (const delivery of deliveries) {
    if (!delivery.message) malformed.push(delivery);
    else if (delivery.claimed) claimed.push(fromDelivery(delivery, delivery.claimed));
    else toClaim.push(delivery);
  }
  const settled = malformed.map(async (delivery) => {
    scope.tally.add('malformed');
    await settle(scope, delivery, undefined, 'dead-letter', () =>
      scope.consumer.deadLetter(delivery, 'MalformedMessage', delivery.parseError ?? 'not a task message'),
    );
    scope.tally.add('deadLettered');
  });
  if (toClaim.length > 0) {
    const answers = await tasksClaimMany({
      db: scope.db,
      taskIds: toClaim.map((d) => d.message!.taskId),
      worker: scope.worker,
      leaseSeconds: scope.leaseSeconds,
    });
    const taken = new Set<string>();
    for (const delivery of toClaim) {
      const taskId = delivery.message!.taskId;
      const answer = answers.get(taskId);
      // One receive can bring two messages of one task: the second finds the first's claim.
      if (answer?.outcome === 'claimed' && !taken.has(taskId)) {
        taken.add(taskId);
        claimed.push(fromDelivery(delivery, { claim: answer.claim!, attempt: answer.attempt!, taskType: answer.taskType!, parameters: answer.parameters! }));
        continue;
      }
      const outcome = answer?.outcome === 'claimed' ? 'busy' : (answer?.outcome ?? 'missing');
      scope.tally.add(NOT_CLAIMED[outcome]);
      settled.push(acknowledge(scope, delivery));
    }
  }
  await Promise.all(settled);
  return claimed;
}

function fromDelivery(
  delivery: ReceivedMessage,
  claim: { claim: string; attempt: number; taskType: string; parameters: Record<string, unknown> },
): ClaimedTask {
  const message = delivery.message!;
  // A delivery the transport claimed has no lock of its own to renew: its claim's lease is the lock.
  const held: HeldTask = { taskId: message.taskId, claim: claim.claim, delivery: delivery.claimed ? undefined : delivery, lost: new Lost() };
  return {
    delivery,
    message,
    attempt: claim.attempt,
    taskType: claim.taskType,
    parameters: claim.parameters,
    held,
    handlerMs: 0,
    span: undefined,
  };
}
