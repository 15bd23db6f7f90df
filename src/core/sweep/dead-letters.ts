import type { Pool } from '../../store/pool.js';
import { redeliveriesOweForDeadLetters } from '../../store/redeliveries.js';
import type { DeadLetter, TransportProducer } from '../../transports/transport.js';

/** Dead letters read per queue and sweep, at most. */
const MAX_PER_QUEUE = 1_000;
const READ = 32;

export interface DeadLetterOutcome {
  /** Tasks whose message had been poisoned while they still waited for it: owed a new delivery. */
  redelivered: number;
  /** geo's messages taken off a dead-letter queue (their task is owed a delivery, finished, or held). */
  removed: number;
}

/**
 * Takes geo's task messages back from the dead-letter (poison) queues of
 * `transports`. A host that gives up on a message (Azure Functions after
 * maxDequeueCount / max delivery count) would otherwise leave its task
 * waiting for a message nobody sends: each task still waiting is owed a new
 * delivery, and geo's message is removed in every case (the database is the
 * record of failures). Messages that are not geo's are left where they are.
 */
export async function drainDeadLetters(params: { db: Pool; transports: readonly TransportProducer[]; signal?: AbortSignal }): Promise<DeadLetterOutcome> {
  const outcome: DeadLetterOutcome = { redelivered: 0, removed: 0 };
  for (const transport of params.transports) {
    if (!transport.readDeadLetters) continue;
    const notOurs: DeadLetter[] = [];
    try {
      for (let read = 0; read < MAX_PER_QUEUE && !params.signal?.aborted; ) {
        const letters = await transport.readDeadLetters(READ);
        if (letters.length === 0) break;
        read += letters.length;
        const ours = letters.filter((l) => l.message);
        notOurs.push(...letters.filter((l) => !l.message));
        const owed = await redeliveriesOweForDeadLetters(
          params.db,
          ours.map((l) => l.message!.taskId),
        );
        outcome.redelivered += owed.length;
        // Removed only once the delivery is owed in the database: a crash in between leaves both.
        await Promise.all(ours.map((l) => l.remove()));
        outcome.removed += ours.length;
      }
    } finally {
      // Held until the end of the read, so the same ones are not read again within it.
      await Promise.all(notOurs.map((l) => l.release().catch(() => undefined)));
    }
  }
  return outcome;
}
