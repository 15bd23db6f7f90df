/**
 * graphile-worker's side of scripts/peers-bench.ts, in a child process.
 * prepare: migrate its schema and add the no-op jobs with `addJobs` (one
 * `add_jobs` call per chunk). run: one `runOnce` pool with `concurrentJobs`
 * workers, which returns when the queue is empty; graphile-worker deletes a
 * job when it completes, so an empty table afterwards is the check.
 *
 * Variants: `default` is graphile-worker as installed (no batching);
 * `batched` is the batching its performance page recommends for a high
 * throughput queue, with the values of its own perfTest configuration
 * (a local queue of 500 jobs per fetch, completions released together with
 * no added delay).
 */
import { Logger, makeWorkerUtils, runOnce } from 'graphile-worker';
import { childArgs, INSERT_CHUNK, printResult } from './child.js';

const args = childArgs();
// Warnings and errors only, on stderr: stdout carries the one JSON document.
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`graphile-worker ${level}: ${message}\n`);
});

if (args.mode === 'prepare') {
  const utils = await makeWorkerUtils({ connectionString: args.url, schema: args.schema, logger });
  try {
    await utils.migrate();
    for (let added = 0; added < args.jobs; added += INSERT_CHUNK) {
      const count = Math.min(INSERT_CHUNK, args.jobs - added);
      await utils.addJobs(Array.from({ length: count }, () => ({ identifier: 'noop', payload: {} })));
    }
  } finally {
    await utils.release();
  }
  printResult({ prepared: args.jobs });
} else {
  const batching =
    args.variant === 'batched'
      ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
      : { localQueue: { size: -1 }, completeJobBatchDelay: -1, failJobBatchDelay: -1 };
  // Its docs: a pool of at least concurrentJobs + 1 (perfTest) so releasing jobs never waits for a client.
  const worker = { concurrentJobs: args.concurrency, maxPoolSize: args.concurrency + 1, ...batching };
  let handled = 0;
  const started = performance.now();
  await runOnce({
    connectionString: args.url,
    schema: args.schema,
    logger,
    noHandleSignals: true,
    taskList: {
      noop: async () => {
        handled++;
      },
    },
    preset: { worker },
  });
  const elapsedMs = performance.now() - started;
  printResult({ jobs: handled, elapsedMs, settings: worker });
}
