import { connectionStringFields, parseConnectionString } from '../config/connection-string.js';
import { destinationNotConfigured, sameHost } from '../config/destinations.js';
import type { GeoConfig } from '../config/index.js';
import type { HostPort, MessageEncoding, TransportKind } from './kind.js';

type StorageConfig = GeoConfig['storage'];

/** Azure Storage Queue's limit on one message, counted on the encoded text (base64 by default: 48 KiB of JSON). */
export const STORAGE_MAX_MESSAGE_BYTES = 64 * 1024;

/** The stored size of `jsonBytes` bytes of JSON. */
export function storageEncodedBytes(jsonBytes: number, encoding: MessageEncoding): number {
  return encoding === 'base64' ? Math.ceil(jsonBytes / 3) * 4 : jsonBytes;
}

/** Azure Storage Queue: the queue Azure Functions' queue trigger reads, with options of its own. */
export const storageQueueKind: TransportKind<'storage-queue'> = {
  name: 'storage-queue',
  title: 'Storage Queue',
  maxMessageBytes: STORAGE_MAX_MESSAGE_BYTES,
  encodedBytes: storageEncodedBytes,
  tasksAreMessages: false,
  options: [
    { flags: '--create-queue', key: 'createQueue', description: 'create the queue when it does not exist', commands: ['dispatch'] },
    {
      flags: '--message-encoding <encoding>',
      key: 'messageEncoding',
      description: 'base64 (Azure Functions default) or text',
      commands: ['dispatch', 'work'],
    },
  ],
  missingQueueHint: 'or run this command again with --create-queue',
  destination: (config) => ({ transport: 'storage-queue', host: accountOf(config.storage), queue: config.storage.queue }),
  configFor(destination, config) {
    const { host, queue } = destination;
    if (config.storage.connectionString && sameHost(accountOf(config.storage), host)) {
      return { ...config, storage: { ...config.storage, queue } };
    }
    if (config.storage.accountUrl && !new URL(config.storage.accountUrl).searchParams.has('sig')) {
      const url = new URL(config.storage.accountUrl);
      url.hostname = url.hostname.replace(/^[^.]+/, host);
      return { ...config, storage: { ...config.storage, connectionString: undefined, accountUrl: url.toString(), queue } };
    }
    throw destinationNotConfigured(
      destination,
      'set GEO_STORAGE_CONNECTION_STRING for that account, or GEO_STORAGE_ACCOUNT_URL to sign in with Microsoft Entra ID',
    );
  },
  async openProducer(config) {
    // Loaded on demand: the Azure SDK costs every other command ~0.3 s of start-up.
    const { createStorageQueueProducer } = await import('./storage-queue.js');
    return createStorageQueueProducer(config.storage);
  },
  async openConsumer(config, options) {
    const { createStorageQueueConsumer } = await import('./storage-queue-consumer.js');
    return createStorageQueueConsumer(config.storage, options);
  },
  queue: {
    configuredBy: 'GEO_STORAGE_CONNECTION_STRING or GEO_STORAGE_ACCOUNT_URL',
    configured: (config) => Boolean(config.storage.connectionString ?? config.storage.accountUrl),
    name: (config) => config.storage.queue,
    withQueue: (config, queue, options = {}) => ({
      ...config,
      storage: { ...config.storage, queue, createQueue: options.create ?? config.storage.createQueue },
    }),
    endpoint: (config) => endpointOf(config.storage),
    via: (config, proxy) => ({ ...config, storage: storageVia(config.storage, proxy) }),
    async emptier(config) {
      const { storageQueueEmptier } = await import('./storage-queue-drain.js');
      return storageQueueEmptier(config.storage);
    },
  },
};

/** The account a configuration reaches: its connection string's account (or queue endpoint host), or the account URL's. */
function accountOf(config: StorageConfig): string | undefined {
  if (config.connectionString) {
    const fields = connectionStringFields(config.connectionString);
    return fields.get('accountname') ?? hostOf(fields.get('queueendpoint'));
  }
  return config.accountUrl ? new URL(config.accountUrl).hostname.split('.')[0] : undefined;
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** QueueEndpoint= of a connection string, or the account URL. */
function endpointOf(config: StorageConfig): HostPort | undefined {
  const endpoint = config.connectionString ? parseConnectionString(config.connectionString).get('QueueEndpoint') : config.accountUrl;
  if (!endpoint) return undefined;
  const url = new URL(endpoint);
  return { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
}

function storageVia(config: StorageConfig, via: HostPort): StorageConfig {
  const swap = (endpoint: string) => {
    const url = new URL(endpoint);
    url.hostname = via.host;
    url.port = String(via.port);
    return url.toString().replace(/\/$/, '');
  };
  if (config.connectionString) {
    return {
      ...config,
      connectionString: config.connectionString.replace(/(QueueEndpoint=)([^;]+)/i, (_m, key: string, value: string) => key + swap(value)),
    };
  }
  return { ...config, accountUrl: config.accountUrl ? swap(config.accountUrl) : undefined };
}
