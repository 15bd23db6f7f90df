// A worker process whose flaky_test handler never returns: the test kills it
// (SIGKILL) while its task is processing. Run with `node --import tsx`.
import { loadConfig } from '../../../src/config/index.js';
import { runWork } from '../../../src/core/work/runtime.js';
import { openPool } from '../../../src/store/pool.js';
import { createConsumer, createProducer } from '../../../src/transports/index.js';
import { registerFlakyJobType } from './job-type.js';

registerFlakyJobType({ block: true });
const config = loadConfig(process.env);
const db = await openPool({ connectionString: config.databaseUrl!, max: 8 });
const transport = config.transport ?? 'local';
const worker = `blocking-${process.pid}`;
// The task lease: short, so the killed worker's task is taken over soon.
const leaseSeconds = Number(process.argv[2]);
const consumer = await createConsumer(transport, config, { worker, leaseSeconds, db });
const producer = await createProducer(transport, config);
process.stdout.write(`worker ${worker}\n`);
await runWork({
  db,
  consumer,
  transportFor: async () => producer,
  options: {
    worker,
    concurrency: 1,
    leaseSeconds,
    graceMs: 60_000,
    untilIdle: false,
    idleMs: 1_000,
    advanceOnly: false,
    advance: { batchSize: 100, concurrency: 1, leaseSeconds: 30 },
  },
});
