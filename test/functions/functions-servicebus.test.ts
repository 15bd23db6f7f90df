import { ServiceBusClient } from '@azure/service-bus';
import { describe, it, vi } from 'vitest';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { type FunctionsLane, runScenario } from './support/scenario.js';
import { ServiceBusHost } from './support/servicebus-host.js';

/** Host instances at once, each with a language worker running this many invocations. */
const HOSTS = 2;
const CONCURRENCY = 8;
/** Deliveries before the broker dead-letters a message (the queue's MaxDeliveryCount). */
const MAX_DELIVERY_COUNT = 5;

const fixture = useServiceBusFixture();

/** Host loops (servicebus-host.ts: the Functions host's Service Bus trigger) on one queue of the test peer. */
function serviceBusLane(queue: string): FunctionsLane {
  const { peer } = fixture;
  peer.createQueue(queue, { lockDurationMs: 5_000, duplicateDetection: true, maxDeliveryCount: MAX_DELIVERY_COUNT });
  const client = new ServiceBusClient(peer.connectionString());
  const sender = client.createSender(queue);
  const hosts: ServiceBusHost[] = [];
  return {
    transport: 'servicebus',
    geoEnv: { GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(), GEO_SERVICEBUS_QUEUE: queue, GEO_SERVICEBUS_TIMEOUT_MS: '5000' },
    async startHosts(env, doubleInvoke) {
      for (let i = 0; i < HOSTS; i++) {
        const host = new ServiceBusHost({ connectionString: peer.connectionString(), queue, env, concurrency: CONCURRENCY, doubleInvoke });
        host.start();
        hosts.push(host);
      }
    },
    async killWorker(pid) {
      // The language worker dies; its host starts another, as the Functions host does.
      const host = hosts.find((h) => h.workerPid === pid);
      if (!host) throw new Error(`no language worker ${pid}`);
      const restarts = host.restarts;
      process.kill(pid, 'SIGKILL');
      await vi.waitFor(() => {
        if (host.restarts === restarts) throw new Error('the language worker was not started again');
      });
    },
    async sendTaskMessage(json, messageId) {
      await sender.sendMessages({ body: Buffer.from(json), contentType: 'application/json', messageId });
    },
    async sendForeign(body) {
      await sender.sendMessages({ body: Buffer.from(body), contentType: 'application/octet-stream', messageId: 'not-a-geo-task' });
      return 'not-a-geo-task';
    },
    async messagesLeft() {
      const view = peer.queue(queue);
      return view.activeCount() + view.scheduledIds().length;
    },
    async deadLettered() {
      return peer.queue(queue).deadLetterIds();
    },
    diagnostics() {
      return hosts.map((h, i) => `host ${i}: ${h.restarts} restarts; ${h.settlementErrors.slice(-5).join('; ')}`).join('\n');
    },
    async stop() {
      await Promise.all(hosts.map((h) => h.stop()));
      await sender.close();
      await client.close();
    },
  };
}

describe('the Azure Functions app on Service Bus (a host loop like the Functions host, the official SDK, the test peer)', () => {
  it('completes hello_world n=2,000 exactly once through failures, duplicates, a double invocation and a killed worker, advanced by cron retry-pending alone', async () => {
    await runScenario(fixture.db, serviceBusLane('fn-tasks'));
  }, 240_000);
});
