// Service Bus AMQP 1.0 test peer: lets the official @azure/service-bus SDK run
// against an in-process broker over a real TCP connection.
//
// Usage:
//   const peer = await startServiceBusPeer({ queues: { 'geo-tasks': { lockDurationMs: 1000 } } });
//   const client = new ServiceBusClient(peer.connectionString());
//   ...
//   await peer.close();
//
// What the SDK surfaces (observed with @azure/service-bus 7.9.5; unwrap AggregateError, which the
// SDK throws when retries run out, to read ServiceBusError.code):
// - wrong key, key name or expired token: put-token answered 401 -> 'UnauthorizedAccess'.
// - unknown queue, or one deleted while attached: attach refused with amqp:not-found ->
//   'MessagingEntityNotFound' (not retried).
// - faults.rejectNextTransfers / rejectTransfersRandomly / throttle: the transfer is rejected with the
//   condition -> server-busy 'ServiceBusy', com.microsoft:timeout 'ServiceTimeout', amqp:internal-error
//   'GeneralError' (these three retried), amqp:resource-limit-exceeded 'QuotaExceeded',
//   amqp:not-found 'ServiceCommunicationProblem', message-lock-lost 'MessageLockLost' (not retried);
//   amqp:unauthorized-access on a transfer is 'UnauthorizedAccess' and, unlike on put-token, retried.
//   Use retryOptions.maxRetries = 0 to see the first rejection.
// - dropConnectionAfterTransfers / refuseConnections(true): a send in flight fails only when
//   retryOptions.timeoutInMs expires ('ServiceTimeout'); later attempts while refused fail at once
//   with a plain MessagingError (code 'GeneralError', ECONNREFUSED), not a ServiceBusError.
// - a message over maxMessageSize, or an unknown $management operation (501): 'MessageSizeExceeded',
//   'GeneralError'.
//
// Consumer-side behaviour: a message sent with scheduledEnqueueTimeUtc (the x-opt-scheduled-enqueue-time
// annotation) or through sender.scheduleMessages ($management schedule-message) is held until its time
// (queue(name).scheduledIds()); dead-lettered messages keep DeadLetterReason/DeadLetterErrorDescription
// (queue(name).deadLetters()). The peer writes its own dispositions one per delivery, but leaves the
// SDK's rhea (the same module in a test process) as it is, so client-side rhea bugs stay visible.
//
// Habits that keep tests fast: pass maxAutoLockRenewalDurationInMs: 0 to receivers in lock-expiry
// tests (the SDK renews locks otherwise); close SDK clients before peer.close() when you can.
import { writeDispositionsOneByOne } from './internals.js';
import { AmqpServer, PEER_CONTAINER_ID } from './server.js';
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
  await writeDispositionsOneByOne(PEER_CONTAINER_ID);
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
