// Service Bus AMQP 1.0 test peer: lets the official @azure/service-bus SDK run
// against an in-process broker over a real TCP connection.
//
// Usage:
//   const peer = await startServiceBusPeer({ queues: { 'geo-tasks': { lockDurationMs: 1000 } } });
//   const client = new ServiceBusClient(peer.connectionString());
//   ...
//   await peer.close();
//
// Behaviour the SDK sees (observed with @azure/service-bus 7.9.5):
// - wrong key / expired token: put-token answered 401 -> ServiceBusError code 'UnauthorizedAccess'.
// - unknown queue: attach refused with amqp:not-found -> code 'MessagingEntityNotFound'.
// - faults.rejectNextTransfers(n, condition): the send fails with the code mapped from the
//   condition (server-busy -> 'ServiceBusy', timeout -> 'ServiceTimeout', ...). Retryable codes are
//   retried by the SDK: set retryOptions.maxRetries = 0 to see the first error (an AggregateError
//   of ServiceBusErrors when retries run out).
// - dropConnectionAfterTransfers: the unacknowledged send fails only after retryOptions.timeoutInMs.
import { AmqpServer } from './server.js';
import { FaultController } from './faults.js';
import { Listener } from './listener.js';
import { QueueRegistry } from './registry.js';
import { TransferHandler } from './transfers.js';
import {
  DEFAULT_KEY_NAME,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_TEST_KEY,
  type PeerQueueOptions,
  type ServiceBusPeer,
  type ServiceBusPeerOptions,
} from './types.js';

export type {
  PeerFaults,
  PeerQueueOptions,
  PeerQueueView,
  PeerTransfer,
  PeerTransferMessage,
  ServiceBusPeer,
  ServiceBusPeerOptions,
} from './types.js';
export { DEFAULT_KEY_NAME, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_TEST_KEY } from './types.js';

const HOST = '127.0.0.1';

export async function startServiceBusPeer(opts: ServiceBusPeerOptions = {}): Promise<ServiceBusPeer> {
  const log = opts.log ?? ((): void => {});
  const credentials = { keyName: opts.keyName ?? DEFAULT_KEY_NAME, key: opts.key ?? DEFAULT_TEST_KEY };
  const maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;

  const registry = new QueueRegistry();
  for (const [name, queueOpts] of Object.entries(opts.queues ?? { 'geo-tasks': {} })) registry.create(name, queueOpts);

  // The listener and the fault controller refer to each other through these callbacks.
  let listener: Listener | undefined;
  const faults = new FaultController((on) => listener?.setRefusing(on), log);
  const transfers = new TransferHandler(faults, maxMessageSize, log);
  const amqp = new AmqpServer({ registry, credentials, transfers, maxMessageSize, log });
  listener = new Listener(HOST, (socket) => amqp.accept(socket), () => amqp.dropAll('refuseConnections'), log);
  await listener.start(opts.port ?? 0);
  const boundListener = listener;
  log(`servicebus peer listening on ${HOST}:${boundListener.port}`);

  let closing: Promise<void> | undefined;
  return {
    host: HOST,
    get port(): number {
      return boundListener.port;
    },
    connectionString(o: { key?: string; keyName?: string } = {}): string {
      return (
        `Endpoint=sb://${HOST}:${boundListener.port};` +
        `SharedAccessKeyName=${o.keyName ?? credentials.keyName};` +
        `SharedAccessKey=${o.key ?? credentials.key};UseDevelopmentEmulator=true;`
      );
    },
    createQueue(name: string, queueOpts?: PeerQueueOptions): void {
      registry.create(name, queueOpts);
    },
    deleteQueue(name: string): void {
      registry.delete(name);
    },
    queue: (name) => registry.view(name),
    transfers: () => transfers.transfers(),
    resetStats(): void {
      transfers.resetStats();
      registry.resetStats();
    },
    faults,
    close(): Promise<void> {
      closing ??= (async () => {
        faults.clear();
        transfers.dispose();
        boundListener.stopAccepting();
        // Whatever does not hang up within the grace period is cut, which runs
        // rhea's disconnect path and clears its heartbeat timers.
        await amqp.closeAll(1_000);
        await boundListener.close();
        registry.dispose();
        log('servicebus peer closed');
      })();
      return closing;
    },
  };
}
