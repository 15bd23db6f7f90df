import { connectionStringFields, parseConnectionString } from '../config/connection-string.js';
import { destinationNotConfigured, sameHost } from '../config/destinations.js';
import type { GeoConfig } from '../config/index.js';
import type { TransportKind } from './kind.js';

type ServiceBusConfig = GeoConfig['servicebus'];

/**
 * Azure Service Bus. Its limit is the Standard tier's 256 KiB per message
 * (batches are capped by the same figure), less 4 KiB for the AMQP header,
 * message id and application properties geo sets.
 */
export const serviceBusKind: TransportKind<'servicebus'> = {
  name: 'servicebus',
  title: 'Service Bus',
  maxMessageBytes: 256 * 1024 - 4 * 1024,
  encodedBytes: (jsonBytes) => jsonBytes,
  tasksAreMessages: false,
  options: [],
  destination: (config) => ({ transport: 'servicebus', host: namespaceOf(config.servicebus), queue: config.servicebus.queue }),
  configFor(destination, config) {
    const { host, queue } = destination;
    if (config.servicebus.connectionString && sameHost(namespaceOf(config.servicebus), host)) {
      return { ...config, servicebus: { ...config.servicebus, queue } };
    }
    if (config.servicebus.namespace) {
      return { ...config, servicebus: { ...config.servicebus, connectionString: undefined, namespace: host, queue } };
    }
    throw destinationNotConfigured(
      destination,
      'set GEO_SERVICEBUS_CONNECTION_STRING for that namespace, or GEO_SERVICEBUS_NAMESPACE to sign in with Microsoft Entra ID',
    );
  },
  async openProducer(config) {
    // Loaded on demand: the Azure SDK costs every other command ~0.3 s of start-up.
    const { createServiceBusProducer } = await import('./servicebus.js');
    return createServiceBusProducer(config.servicebus);
  },
  async openConsumer(config) {
    const { createServiceBusConsumer } = await import('./servicebus-consumer.js');
    return createServiceBusConsumer(config.servicebus);
  },
  queue: {
    configuredBy: 'GEO_SERVICEBUS_CONNECTION_STRING or GEO_SERVICEBUS_NAMESPACE',
    configured: (config) => Boolean(config.servicebus.connectionString ?? config.servicebus.namespace),
    name: (config) => config.servicebus.queue,
    // A queue cannot be created without Manage rights, which geo never asks for.
    withQueue: (config, queue) => ({ ...config, servicebus: { ...config.servicebus, queue } }),
    endpoint: (config) => endpointOf(config.servicebus),
    via(config, proxy) {
      const cs = config.servicebus.connectionString ?? '';
      return { ...config, servicebus: { ...config.servicebus, connectionString: cs.replace(/(Endpoint=sb:\/\/)[^;/]+/i, `$1${proxy.host}:${proxy.port}`) } };
    },
    async emptier(config) {
      const { serviceBusEmptier } = await import('./servicebus-drain.js');
      return serviceBusEmptier(config.servicebus);
    },
  },
};

/** The namespace host a configuration reaches: its connection string's endpoint, or the Entra ID namespace. */
function namespaceOf(config: ServiceBusConfig): string | undefined {
  if (config.connectionString) {
    const endpoint = connectionStringFields(config.connectionString).get('endpoint');
    return endpoint?.replace(/^sb:\/\//i, '').replace(/\/+$/, '');
  }
  const ns = config.namespace;
  return ns && !ns.includes('.') ? `${ns}.servicebus.windows.net` : ns;
}

/** Where a connection string points; undefined for Entra ID (a namespace name). */
function endpointOf(config: ServiceBusConfig) {
  const cs = parseConnectionString(config.connectionString ?? '');
  const endpoint = cs.get('Endpoint');
  if (!endpoint) return undefined;
  const url = new URL(endpoint.replace(/^sb:/i, 'http:'));
  const emulator = /^true$/i.test(cs.get('UseDevelopmentEmulator') ?? '');
  // Without the emulator flag the SDK speaks AMQP over TLS on 5671.
  return { host: url.hostname, port: Number(url.port || (emulator ? 5672 : 5671)) };
}
