import path from 'node:path';

// The end-to-end scenario's job and what goes wrong in it (scenario.ts runs it, outcome.ts checks it).

/** functions_hello: hello_world's stages with fast retries (see the module). */
export const JOB_TYPE_MODULE = path.join(import.meta.dirname, 'functions-hello.mjs');
export const TASKS = 2_000;
/** The Functions app's lease (GEO_LEASE_SECONDS): short, so a killed worker's task comes back soon. */
export const LEASE_SECONDS = 5;

/** Its handler blocks on its first call, and the test kills that worker process. */
export const BLOCKED = 150;
/** Its message is put on the queue a second time. */
export const DUPLICATED = 42;
/**
 * The first delivery of it each host receives is invoked twice at once (an earlier delivery may have
 * gone to a host that was killed, or lapsed under load). The invocation that runs it is held in
 * its handler until the other has answered busy (the test then creates its release file).
 */
export const DOUBLE_INVOKED = 321;

const every = (step: number, offset: number) => Array.from({ length: TASKS / step }, (_, k) => k * step + offset);

/** What the handlers do besides their job (test/functions/support/handlers.py). */
export const PLAN = {
  raiseFirst: { greeting: every(100, 7), reply: every(100, 13) },
  alwaysFail: { greeting: [1234] },
  permanent: { greeting: [1500] },
  block: { greeting: [BLOCKED] },
  hold: { greeting: [DOUBLE_INVOKED] },
};

/** The file whose creation lets a held handler call return (handlers.py `hold`). */
export function releaseFile(records: string, taskType: string, i: number): string {
  return path.join(records, `release-${taskType}-${i}`);
}
