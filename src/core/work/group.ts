import { tasksCompleteMany } from '../../store/completion.js';
import type { TaskMessage } from '../../transports/message.js';
import type { ReceivedMessage } from '../../transports/transport.js';
import { findHandler, runAttempt, type AttemptOutcome } from './handlers.js';
import type { HeldTask } from './renewal.js';
import { reportFailure } from './report.js';
import { giveBack, settle, type WorkScope } from './scope.js';

interface Entry {
  delivery: ReceivedMessage;
  message: TaskMessage;
  attempt: number;
  held: HeldTask;
  outcome?: AttemptOutcome & { reason?: string };
}

/**
 * A group of deliveries the transport claimed while receiving (the local
 * queue's geo_claim_next): the handlers run, at most `concurrency` at once,
 * and the group's results are recorded with ONE statement
 * (geo_complete_tasks); failures go through geo_fail_task one by one (they
 * are rare, and each needs its own retry decision). When the grace period
 * runs out, finished results are still recorded and the rest is given back.
 */
export async function handleGroup(scope: WorkScope, group: ReceivedMessage[]): Promise<{ handlersMs: number }> {
  const entries: Entry[] = group.map((delivery) => {
    const message = delivery.message!;
    return { delivery, message, attempt: delivery.claimed!.attempt, held: { taskId: message.taskId, lost: new AbortController() } };
  });
  scope.tally.add('tasks', entries.length);
  for (const e of entries) scope.renewer.hold(e.held, e.delivery.lockedUntil.getTime() - scope.leaseSeconds * 1000);
  const startedAt = Date.now();
  let handlersMs: number;
  try {
    await Promise.race([runAll(scope, entries), scope.stopping.givenUp]);
    handlersMs = Date.now() - startedAt;
  } finally {
    for (const e of entries) scope.renewer.release(e.held);
  }

  const succeeded = entries.filter((e) => e.outcome?.ok);
  const answers = await tasksCompleteMany({
    db: scope.db,
    completions: succeeded.map((e) => ({ taskId: e.message.taskId, result: (e.outcome as { result: unknown }).result })),
  });
  for (const e of succeeded) {
    const answer = answers.get(e.message.taskId);
    scope.tally.add(answer?.outcome === 'completed' ? 'completed' : 'duplicates');
    if (answer?.stageCompleted) scope.stageFinished();
  }
  await Promise.all(succeeded.map((e) => settle(scope, e.delivery, e.held, 'complete', () => scope.consumer.complete(e.delivery))));
  for (const e of entries) {
    const outcome = e.outcome;
    if (outcome && !outcome.ok) await reportFailure(scope, e.delivery, e.held, e.message, e.attempt, outcome);
  }
  await giveBack(scope, entries.filter((e) => !e.outcome));
  return { handlersMs };
}

/** Runs the group's handlers with `concurrency` runners; none starts once the grace period is over. */
async function runAll(scope: WorkScope, entries: Entry[]): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < entries.length && !scope.stopping.signal.aborted) {
      const e = entries[next++]!;
      const lookup = findHandler(e.message);
      if ('reason' in lookup) {
        e.outcome = { ok: false, error: lookup.description, retryable: false, reason: lookup.reason };
        continue;
      }
      const context = { taskId: e.message.taskId, jobId: e.message.jobId, stage: e.message.stage, attempt: e.attempt, signal: e.held.lost.signal };
      const outcome = await runAttempt(lookup.handler, e.message.parameters, context);
      // A result that arrives after the group was given up is dropped: the task was given back.
      if (!scope.stopping.signal.aborted) e.outcome = outcome;
    }
  };
  await Promise.all(Array.from({ length: Math.min(scope.concurrency, entries.length) }, runner));
}
