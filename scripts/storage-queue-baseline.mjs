#!/usr/bin/env node
// The best the official @azure/storage-queue SDK alone reaches against a
// queue, shaped like `geo submit --transport storage-queue`: `--concurrency`
// workers, each sending a group of 10 batches of 100 concurrent sendMessage
// calls at a time (geo's groups of batches), at most `--in-flight` requests
// at once across all of them, base64 JSON messages of the same size as
// hello_world's. No database: this is the ceiling geo's throughput is
// measured against.
//
//   GEO_STORAGE_CONNECTION_STRING=... node scripts/storage-queue-baseline.mjs \
//     [--n 20000] [--concurrency 4] [--batches-per-group 10] [--in-flight 256] [--queue geo-baseline]
import { parseArgs } from 'node:util';
import { QueueServiceClient } from '@azure/storage-queue';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '4' },
    'in-flight': { type: 'string', default: '256' },
    'batch-size': { type: 'string', default: '100' },
    'batches-per-group': { type: 'string', default: '10' },
    queue: { type: 'string', default: 'geo-baseline' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
const concurrency = Number(values.concurrency);
const inFlight = Number(values['in-flight']);
const batchSize = Number(values['batch-size']);
const groupSize = batchSize * Number(values['batches-per-group']);
const connectionString = process.env.GEO_STORAGE_CONNECTION_STRING;
if (!connectionString) {
  process.stderr.write('set GEO_STORAGE_CONNECTION_STRING\n');
  process.exit(2);
}

const service = QueueServiceClient.fromConnectionString(connectionString, { retryOptions: { maxTries: 1, tryTimeoutInMs: 10_000 } });
const queue = service.getQueueClient(values.queue);
await queue.createIfNotExists();

// The same fields and sizes as a hello_world stage-1 message.
const jobId = 'ab'.repeat(32);
function body(i) {
  const batch = Math.floor(i / batchSize);
  const json = JSON.stringify({
    taskId: `${jobId.slice(0, 8)}-s1-greet-${i}`,
    jobId,
    jobType: 'hello_world',
    taskType: 'greeting',
    stage: 1,
    batchId: `${jobId.slice(0, 8)}-s1-b${batch}`,
    parameters: { i, message: `Hello World from task ${i}!` },
    attempt: 0,
  });
  return Buffer.from(json, 'utf8').toString('base64');
}

let active = 0;
const waiters = [];
async function acquire() {
  if (active < inFlight) return void active++;
  await new Promise((resolve) => waiters.push(resolve));
}
function release() {
  const next = waiters.shift();
  if (next) next();
  else active--;
}

async function sendOne(text) {
  await acquire();
  try {
    await queue.sendMessage(text);
  } finally {
    release();
  }
}

// A group's batches are sent together and the worker takes the next group
// once all of them have settled, as geo's dispatcher does.
let nextGroup = 0;
const groups = Math.ceil(n / groupSize);
async function worker() {
  while (nextGroup < groups) {
    const g = nextGroup++;
    const sends = [];
    for (let i = g * groupSize; i < Math.min(n, (g + 1) * groupSize); i++) sends.push(sendOne(body(i)));
    await Promise.all(sends);
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const elapsedMs = Math.round(performance.now() - started);
const messagesPerSecond = Math.round((n / elapsedMs) * 1000);
const result = { n, concurrency, groupSize, inFlight, elapsedMs, messagesPerSecond };
process.stdout.write(
  values.json
    ? `${JSON.stringify(result)}\n`
    : `${n} messages in ${elapsedMs} ms: ${messagesPerSecond} messages/s (${concurrency} groups of ${groupSize} in flight, at most ${inFlight} requests)\n`,
);
