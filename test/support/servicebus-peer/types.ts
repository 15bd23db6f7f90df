// Public types of the Service Bus test peer. Other test suites code against
// these names, so changes here must stay backwards compatible.

export interface PeerQueueOptions {
  /** Drop messages whose id was already accepted within the window. Off by default, as in Service Bus. */
  duplicateDetection?: boolean;
  /** Duplicate detection history window; default 10 minutes. */
  duplicateWindowMs?: number;
  /** peekLock lock duration; default 30 000 ms. */
  lockDurationMs?: number;
  /** Deliveries allowed before a message goes to the dead-letter list; default 10. */
  maxDeliveryCount?: number;
}

export interface PeerTlsOptions {
  /** Default: a loopback address drawn from 127.0.0.0/8, so that peers do not share port 5671. */
  host?: string;
  /** Default 5671, the only port the Python SDK connects to over AMQPS. */
  port?: number;
}

export interface ServiceBusPeerOptions {
  /** 0 (default) picks an ephemeral port. */
  port?: number;
  /** Also listen for AMQP over TLS (what the Python SDK needs); off by default. */
  tls?: boolean | PeerTlsOptions;
  /** Default 'RootManageSharedAccessKey'. */
  keyName?: string;
  /** Default: a fixed test key (see DEFAULT_TEST_KEY). */
  key?: string;
  /** Queues created at start; default { 'geo-tasks': {} }. */
  queues?: Record<string, PeerQueueOptions>;
  /** Announced on sender links; the SDK sizes createMessageBatch() from it. Default 262144. */
  maxMessageSize?: number;
  log?: (msg: string) => void;
}

export interface PeerTransferMessage {
  messageId: string;
  subject?: string;
  applicationProperties: Record<string, unknown>;
  /** Decoded like the SDK does: JSON data sections are parsed, other data stays a Buffer. */
  body: unknown;
  sizeBytes: number;
}

export interface PeerTransfer {
  queue: string;
  at: number;
  messages: PeerTransferMessage[];
  /** 'dropped': never acknowledged because the peer cut the connection. */
  outcome: 'accepted' | 'rejected' | 'dropped';
}

export interface PeerLockView {
  messageId: string;
  /** Epoch ms; moved on by renew-lock. */
  lockedUntil: number;
  deliveryCount: number;
}

export interface PeerQueueView {
  /** Messages not dead-lettered: available, locked and deferred. */
  activeCount(): number;
  deadLetterCount(): number;
  /** Ids of active messages in sequence-number order. */
  messageIds(): string[];
  /** Ids in the dead-letter list, in sequence-number order. */
  deadLetterIds(): string[];
  /** The dead-letter list with each message's DeadLetterReason and DeadLetterErrorDescription. */
  deadLetters(): Array<{ messageId: string; reason?: string; description?: string }>;
  /** Messages locked by peekLock receivers, in expiry order. */
  locks(): PeerLockView[];
  /** Ids of messages scheduled for later (not counted as active until their time), in due order. */
  scheduledIds(): string[];
  /** Messages acknowledged but not stored because duplicate detection recognised their id. */
  duplicatesDropped(): number;
  /** Removes active and dead-lettered messages; duplicate-detection history is kept. */
  purge(): void;
}

export interface PeerFaults {
  /** Reject the next n transfers with this AMQP error condition, e.g. 'com.microsoft:server-busy'. */
  rejectNextTransfers(n: number, condition: string, description?: string): void;
  /** Reject about `fraction` of transfers; deterministic for a given seed. 0 turns it off. */
  rejectTransfersRandomly(fraction: number, condition: string, seed?: number): void;
  /** After n more accepted transfers, the next transfer is not acknowledged and its connection is cut. */
  dropConnectionAfterTransfers(n: number): void;
  /** Delay before each incoming transfer is settled. */
  setLatencyMs(ms: number): void;
  /** Token bucket over messages per second for the whole peer; null turns it off. */
  throttle(messagesPerSecond: number | null): void;
  /** Close the listener (connections are refused) and cut existing connections; false listens again. */
  refuseConnections(on: boolean): void;
  clear(): void;
}

/** The TLS endpoint of a peer started with `tls`. */
export interface PeerTlsEndpoint {
  readonly host: string;
  readonly port: number;
  /** PEM file of the peer's self-signed certificate, for the client to trust (removed by close()). */
  readonly caFile: string;
  readonly caPem: string;
  /** No UseDevelopmentEmulator: the client connects with TLS. The port is left out when it is 5671. */
  connectionString(opts?: { key?: string; keyName?: string }): string;
}

export interface ServiceBusPeer {
  readonly port: number;
  readonly host: string;
  /** Plain AMQP, UseDevelopmentEmulator=true (TLS off), as the Node SDK uses it. */
  connectionString(opts?: { key?: string; keyName?: string }): string;
  /** Set when the peer was started with `tls`. */
  readonly tls?: PeerTlsEndpoint;
  createQueue(name: string, opts?: PeerQueueOptions): void;
  deleteQueue(name: string): void;
  queue(name: string): PeerQueueView;
  /** Every incoming send transfer in arrival order, including rejected and dropped ones. */
  transfers(): PeerTransfer[];
  /** Clients' sending links to queues still attached; a link the peer detached counts until the client has answered the detach. */
  sendLinks(): number;
  resetStats(): void;
  readonly faults: PeerFaults;
  close(): Promise<void>;
}

export const DEFAULT_TEST_KEY = 'c2VydmljZWJ1cy1wZWVyLXRlc3Qta2V5LW5vdC1hLXNlY3JldA==';
export const DEFAULT_KEY_NAME = 'RootManageSharedAccessKey';
export const DEFAULT_MAX_MESSAGE_SIZE = 262_144;
