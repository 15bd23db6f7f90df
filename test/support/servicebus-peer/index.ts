// Service Bus AMQP 1.0 test peer: lets the official Service Bus SDKs run
// against an in-process broker over a real TCP connection: @azure/service-bus
// over plain AMQP, and the Python SDK (azure-servicebus over uamqp) over TLS.
//
// Usage:
//   const peer = await startServiceBusPeer({ queues: { 'geo-tasks': { lockDurationMs: 1000 } } });
//   const client = new ServiceBusClient(peer.connectionString());
//   ...
//   await peer.close();
//
// The Python SDK (Debian's python3-azure, azure-servicebus 7.8.2 over python3-uamqp 1.5.3; run it
// with /usr/bin/python3, test/peer/python/ has a driver) needs `tls: true`:
//   const peer = await startServiceBusPeer({ tls: true });
//   ServiceBusClient.from_connection_string(peer.tls.connectionString(), connection_verify=peer.tls.caFile)
// - uamqp always speaks AMQPS and always to port 5671; its only way to another port,
//   custom_endpoint_address, also switches it to AMQP over WebSocket, which the peer does not speak.
//   So the TLS endpoint listens on 5671 at a loopback address drawn from 127.0.0.0/8 (Linux), with a
//   self-signed certificate for that address made at start (the selfsigned package); caFile is its PEM.
//   A client that does not trust it is refused at the handshake (the SDK's call then blocks for a
//   minute or more instead of failing). The plain listener is unchanged for the Node SDK.
// - SASL: uamqp asks for MSSBCBS (the token follows on $cbs); the peer offers it next to ANONYMOUS.
// - $cbs and $management requests from uamqp carry no reply_to: the reply goes to the link the
//   client attached from the node it sent the request to. status-code / statusCode are AMQP ints
//   (uamqp reads no other type), and a reply is written only after the disposition of its request
//   (uamqp drops a reply that arrives first: "Did not receive send confirmation").
// - uamqp attaches senders with receive-settle-mode second yet waits for a settled disposition:
//   the peer settles every incoming send at once, as Service Bus does.
// - uamqp settles peek-lock messages with already-settled dispositions: complete_message(),
//   abandon_message() and dead_letter_message() return before the broker has applied them, and
//   nothing tells the client if one is lost. Tests wait for the effect on peer.queue(name).
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
// (queue(name).scheduledIds()); scheduleMessages returns sequence numbers (a duplicate dropped by
// duplicate detection still gets one of its own) and cancelScheduledMessages removes those still
// waiting, ignoring numbers that name no waiting message (one already active is not taken back);
// held locks are queue(name).locks(); dead-lettered messages keep DeadLetterReason and
// DeadLetterErrorDescription (queue(name).deadLetters()). The peer writes its own dispositions one per delivery, but leaves the
// SDK's rhea (the same module in a test process) as it is, so client-side rhea bugs stay visible.
//
// Habits that keep tests fast: pass maxAutoLockRenewalDurationInMs: 0 to receivers in lock-expiry
// tests (the SDK renews locks otherwise); close SDK clients before peer.close() when you can.
import type { Socket } from 'node:net';
import { FaultController } from './faults.js';
import { writeDispositionsOneByOne } from './internals.js';
import { Listener } from './listener.js';
import { QueueRegistry } from './registry.js';
import { AmqpServer, PEER_CONTAINER_ID } from './server.js';
import { AMQPS_PORT, startTlsEndpoint, type TlsEndpoint } from './tls.js';
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
  PeerLockView,
  PeerQueueOptions,
  PeerQueueView,
  PeerTlsEndpoint,
  PeerTlsOptions,
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

  // The listeners and the fault controller refer to each other through these callbacks.
  let listener: Listener | undefined;
  let tls: TlsEndpoint | undefined;
  const faults = new FaultController((on) => {
    listener?.setRefusing(on);
    tls?.listener.setRefusing(on);
  }, log);
  const transfers = new TransferHandler(faults, maxMessageSize, log);
  const amqp = new AmqpServer({ registry, credentials, transfers, maxMessageSize, log });
  const accept = (socket: Socket): void => amqp.accept(socket);
  const refuse = (): void => amqp.dropAll('refuseConnections');
  listener = new Listener(HOST, accept, refuse, log);
  await listener.start(opts.port ?? 0);
  const boundListener = listener;
  log(`servicebus peer listening on ${HOST}:${boundListener.port}`);
  if (opts.tls) {
    try {
      tls = await startTlsEndpoint(opts.tls === true ? {} : opts.tls, accept, refuse, log);
    } catch (err) {
      await boundListener.close();
      registry.dispose();
      throw err;
    }
    log(`servicebus peer listening for TLS on ${tls.host}:${tls.port}`);
  }
  const tlsEndpoint = tls;

  const connectionString = (endpoint: string, o: { key?: string; keyName?: string }, extra: string): string =>
    `Endpoint=${endpoint};SharedAccessKeyName=${o.keyName ?? credentials.keyName};SharedAccessKey=${o.key ?? credentials.key};${extra}`;

  let closing: Promise<void> | undefined;
  return {
    host: HOST,
    get port(): number {
      return boundListener.port;
    },
    connectionString(o: { key?: string; keyName?: string } = {}): string {
      return connectionString(`sb://${HOST}:${boundListener.port}`, o, 'UseDevelopmentEmulator=true;');
    },
    tls: tlsEndpoint && {
      host: tlsEndpoint.host,
      port: tlsEndpoint.port,
      caFile: tlsEndpoint.caFile,
      caPem: tlsEndpoint.caPem,
      connectionString(o: { key?: string; keyName?: string } = {}): string {
        const port = tlsEndpoint.port === AMQPS_PORT ? '' : `:${tlsEndpoint.port}`;
        return connectionString(`sb://${tlsEndpoint.host}${port}/`, o, '');
      },
    },
    createQueue(name: string, queueOpts?: PeerQueueOptions): void {
      registry.create(name, queueOpts);
    },
    deleteQueue(name: string): void {
      registry.delete(name);
    },
    queue: (name) => registry.view(name),
    transfers: () => transfers.transfers(),
    sendLinks: () => amqp.sendLinks(),
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
        tlsEndpoint?.listener.stopAccepting();
        // Whatever does not hang up within the grace period is cut, which runs
        // rhea's disconnect path and clears its heartbeat timers.
        await amqp.closeAll(1_000);
        await boundListener.close();
        await tlsEndpoint?.dispose();
        registry.dispose();
        log('servicebus peer closed');
      })();
      return closing;
    },
  };
}
