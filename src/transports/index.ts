import type { Destination } from '../config/destinations.js';
import type { GeoConfig } from '../config/index.js';
import type { Queryable } from '../store/pool.js';
import type { TransportKind, TransportOption } from './kind.js';
import { localKind } from './local-kind.js';
import { DEFAULT_TRANSPORT, listNames, TRANSPORT_NAMES, type TransportName } from './names.js';
import { serviceBusKind } from './servicebus-kind.js';
import { storageQueueKind } from './storage-queue-kind.js';
import type { ConsumerOptions, TransportConsumer, TransportProducer } from './transport.js';

export type { BrokerQueue, HostPort, MessageEncoding, QueueEmptier, TransportKind, TransportOption } from './kind.js';
export type { ConsumerOptions, ReceivedMessage, SendReport, TransportConsumer, TransportProducer } from './transport.js';
export { DEFAULT_TRANSPORT, listNames, TRANSPORT_NAMES, type TransportName };

/** The registry: one kind per name (the compiler checks that every name has its own). */
const KINDS: { readonly [N in TransportName]: TransportKind<N> } = {
  local: localKind,
  servicebus: serviceBusKind,
  'storage-queue': storageQueueKind,
};

/** What transport `name` is and can do. */
export function transportKind(name: TransportName): TransportKind {
  return KINDS[name];
}

/** Every transport, in the order help lists them. */
export function transportKinds(): TransportKind[] {
  return TRANSPORT_NAMES.map((name) => KINDS[name]);
}

/** Opens the producer half of transport `name`. One per process; close it when done. */
export function createProducer(name: TransportName, config: GeoConfig): Promise<TransportProducer> {
  return KINDS[name].openProducer(config);
}

/**
 * Opens the consumer half of transport `name`, checking the queue and the
 * credentials first. A transport whose tasks are its messages consumes from
 * the database, so it needs `db`.
 */
export function createConsumer(name: TransportName, config: GeoConfig, options: ConsumerOptions & { db?: Queryable }): Promise<TransportConsumer> {
  return KINDS[name].openConsumer(config, options);
}

/** The destination that `config` sends `transport`'s messages to. */
export function destinationOf(transport: TransportName, config: GeoConfig): Destination {
  return KINDS[transport].destination(config);
}

/**
 * The configuration that reaches `destination`, with credentials from
 * `config`: a connection string serves its own namespace or account only;
 * Microsoft Entra ID signs in to any. Throws DESTINATION_NOT_CONFIGURED
 * naming the destination when nothing configured can reach it.
 */
export function configForDestination(destination: Destination, config: GeoConfig): GeoConfig {
  const { transport, host, queue } = destination;
  if (host === undefined || queue === undefined) return config;
  return KINDS[transport].configFor({ transport, host, queue }, config);
}

/** A transport option as a command offers it, with the transports it applies to. */
export interface OfferedOption extends TransportOption {
  readonly transports: readonly TransportName[];
}

/** The transport options of a kind of command, each once, with the transports that take it. */
export function transportOptions(command: 'dispatch' | 'work'): OfferedOption[] {
  const offered = new Map<string, OfferedOption>();
  for (const kind of transportKinds()) {
    for (const option of kind.options) {
      if (!option.commands.includes(command)) continue;
      const seen = offered.get(option.flags);
      offered.set(option.flags, { ...option, transports: [...(seen?.transports ?? []), kind.name] });
    }
  }
  return [...offered.values()];
}

/** What `--transport` says in help. */
export function transportHelp(): string {
  return `${listNames()} (env GEO_TRANSPORT)`;
}
