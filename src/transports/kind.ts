import type { Destination } from '../config/destinations.js';
import type { GeoConfig } from '../config/index.js';
import type { Queryable } from '../store/pool.js';
import type { TransportName } from './names.js';
import type { ConsumerOptions, TransportConsumer, TransportProducer } from './transport.js';

/** How a queue stores a message's JSON: as it is, or base64 of it (Storage Queue's default). */
export type MessageEncoding = 'base64' | 'text';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * What a transport is and can do, known without opening it. Each transport
 * exports one next to its implementation (`*-kind.ts`); the registry
 * (index.ts) lists them, so nothing outside src/transports and src/config
 * branches on a transport's name. A kind imports no SDK: its factories
 * `import()` the implementation, since an Azure SDK costs every other
 * command start-up time.
 */
export interface TransportKind<N extends TransportName = TransportName> {
  readonly name: N;
  /** How prose names it ("Service Bus"). */
  readonly title: string;
  /** The largest task message it carries, counted as `encodedBytes` counts. */
  readonly maxMessageBytes: number;
  /** The bytes of a message of `jsonBytes` bytes of JSON that count against maxMessageBytes. */
  encodedBytes(jsonBytes: number, encoding: MessageEncoding): number;
  /**
   * True when its queue is the tasks table (the local queue): a task row
   * written `queued` is the message, so its producer writes with the tasks
   * (`writesWithTasks`: nothing to send, record or recover) and its consumer
   * claims while it receives (`claimsOnReceive`), through the store's
   * completion functions, the same ones every worker reports through.
   */
  readonly tasksAreMessages: boolean;
  /** Command-line options that mean something for this transport only. */
  readonly options: readonly TransportOption[];
  /** How a command that takes this transport's options can create a missing queue itself, appended to QUEUE_NOT_FOUND. */
  readonly missingQueueHint?: string;
  /** Where `config` sends this transport's messages (recorded with a new job; never a credential). */
  destination(config: GeoConfig): Destination;
  /**
   * The configuration that reaches `destination` (host and queue set) with
   * the credentials of `config`; throws DESTINATION_NOT_CONFIGURED naming it
   * when nothing configured can.
   */
  configFor(destination: Required<Destination>, config: GeoConfig): GeoConfig;
  /** Opens the producer half, checking queue and credentials first. */
  openProducer(config: GeoConfig): Promise<TransportProducer>;
  /** Opens the consumer half; `db` is the queue of a kind whose tasks are its messages. */
  openConsumer(config: GeoConfig, options: ConsumerOptions & { db?: Queryable }): Promise<TransportConsumer>;
  /** Its queue on a broker, for what only a queue of its own needs (the bench); absent when the queue is the database. */
  readonly queue?: BrokerQueue;
}

/** A command-line option of one transport. */
export interface TransportOption {
  /** As commander takes it. */
  readonly flags: string;
  /** The key commander gives its value (a configuration flag, see config/index.ts ConfigFlags). */
  readonly key: 'createQueue' | 'messageEncoding';
  readonly description: string;
  /** The commands that take it: those that dispatch stages (submit, queue-stage), and work. */
  readonly commands: readonly ('dispatch' | 'work')[];
}

/** A transport's own queue on its broker. */
export interface BrokerQueue {
  /** The variables that configure it, for "not configured (...)". */
  readonly configuredBy: string;
  /** Whether credentials are configured at all. */
  configured(config: GeoConfig): boolean;
  /** The configured queue's name. */
  name(config: GeoConfig): string;
  /** `config` sending to `queue` instead; with `create`, the queue is created when missing where the transport can. */
  withQueue(config: GeoConfig, queue: string, options?: { create?: boolean }): GeoConfig;
  /** Where its connection goes, when the configuration says (a connection string); undefined otherwise. */
  endpoint(config: GeoConfig): HostPort | undefined;
  /** `config` with its connection routed through `proxy` (the bench's latency proxy). */
  via(config: GeoConfig, proxy: HostPort): GeoConfig;
  /** Empties the queue `config` names of the messages a bench sent it. */
  emptier(config: GeoConfig): Promise<QueueEmptier>;
}

/** Empties a queue after each bench run; `close` once the bench is done. */
export interface QueueEmptier {
  /** Removes the messages (`expected` of them were sent); returns how many it removed. */
  empty(expected: number): Promise<number>;
  close(): Promise<void>;
}
