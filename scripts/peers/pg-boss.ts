/**
 * pg-boss's side of scripts/peers-bench.ts, in a child process. prepare:
 * install its schema, create the queue and `insert` the no-op jobs (its bulk
 * path, one statement per chunk). run: one `work()` call in this one process
 * with the variant's `batchSize` and `localConcurrency` (variant
 * `<batchSize>x<localConcurrency>`) and `burstWhenBatchFull`, the option its
 * docs give for a backlog: while fetches come back full the worker fetches
 * again at once instead of waiting out the polling interval. A batch
 * handler completes its whole batch in one statement. The run ends when no
 * job of the queue is left in a state other than completed.
 */

import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { childArgs, INSERT_CHUNK, printResult } from './child.js';

const QUEUE = 'noop';
const args = childArgs();
const [batchSize, localConcurrency] = args.variant.split('x').map(Number) as [number, number];
if (!(batchSize >= 1 && localConcurrency >= 1)) throw new Error(`pg-boss variant is <batchSize>x<localConcurrency>, not ${args.variant}`);

// Maintenance and cron off in both steps: neither has work to do in a run of seconds.
const boss = new PgBoss({
  connectionString: args.url,
  schema: args.schema,
  supervise: false,
  schedule: false,
  // A connection per worker, plus two for pg-boss's own statements.
  max: localConcurrency + 2,
});
boss.on('error', (err: Error) => process.stderr.write(`pg-boss error: ${err.message}\n`));
await boss.start();
try {
  if (args.mode === 'prepare') await prepare();
  else await run();
} finally {
  await boss.stop({ graceful: true });
}

async function prepare(): Promise<void> {
  await boss.createQueue(QUEUE);
  for (let added = 0; added < args.jobs; added += INSERT_CHUNK) {
    const count = Math.min(INSERT_CHUNK, args.jobs - added);
    await boss.insert(
      QUEUE,
      Array.from({ length: count }, () => ({ data: {} })),
    );
  }
  printResult({ prepared: args.jobs });
}

async function run(): Promise<void> {
  // Its own connection, opened before the clock starts, to see when the last completion has landed.
  const probe = new pg.Client({ connectionString: args.url });
  await probe.connect();
  try {
    let handled = 0;
    let allHandled: () => void = () => undefined;
    const handedOut = new Promise<void>((resolve) => (allHandled = resolve));
    const settings = { batchSize, localConcurrency, burstWhenBatchFull: true };
    const started = performance.now();
    await boss.work(QUEUE, settings, async (jobs) => {
      handled += jobs.length;
      if (handled >= args.jobs) allHandled();
    });
    await handedOut;
    // The last handlers have returned; their batches' completions follow them.
    while (await unfinished(probe)) await new Promise((resolve) => setTimeout(resolve, 5));
    const elapsedMs = performance.now() - started;
    printResult({ jobs: handled, elapsedMs, settings });
  } finally {
    await probe.end();
  }
}

async function unfinished(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ left: number }>(
    `SELECT count(*)::int AS left FROM ${client.escapeIdentifier(args.schema)}.job WHERE name = $1 AND state <> 'completed'`,
    [QUEUE],
  );
  return rows[0]!.left > 0;
}
