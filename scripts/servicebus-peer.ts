/**
 * Runs the Service Bus AMQP test peer as a standalone process, for trying geo
 * by hand and for measurements:
 *
 *   npx tsx scripts/servicebus-peer.ts --port 5673 --latency 20 --throttle 1000
 *
 * Prints the connection string to use as GEO_SERVICEBUS_CONNECTION_STRING.
 * With --tls it also listens for AMQPS on port 5671 (of --tls-host, default a
 * drawn loopback address) for the Python SDK, and prints that connection
 * string and the certificate file to pass as connection_verify.
 */
import { parseArgs } from 'node:util';
import { startServiceBusPeer } from '../test/support/servicebus-peer/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '5673' },
    queue: { type: 'string', default: 'geo-tasks' },
    latency: { type: 'string', default: '0' },
    throttle: { type: 'string' },
    'no-dedupe': { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
    'tls-host': { type: 'string' },
  },
});

const peer = await startServiceBusPeer({
  port: Number(values.port),
  queues: { [values.queue!]: { duplicateDetection: !values['no-dedupe'] } },
  tls: values.tls && { host: values['tls-host'] },
});
peer.faults.setLatencyMs(Number(values.latency));
if (values.throttle) peer.faults.throttle(Number(values.throttle));
process.stdout.write(`${peer.connectionString()}\n`);
if (peer.tls) process.stdout.write(`${peer.tls.connectionString()}\nconnection_verify=${peer.tls.caFile}\n`);

let last = 0;
const timer = setInterval(() => {
  const count = peer.queue(values.queue!).activeCount();
  if (count !== last) process.stderr.write(`${values.queue}: ${count} messages\n`);
  last = count;
}, 1_000);
const stop = async () => {
  clearInterval(timer);
  await peer.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
