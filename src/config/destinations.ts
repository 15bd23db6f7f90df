import { InputError } from '../errors.js';
import { connectionStringFields } from './connection-string.js';
import type { GeoConfig, TransportName } from './index.js';

/**
 * Where a job's messages go, recorded with the job (jobs.destination) so that
 * one retry-pending can recover jobs spread over several queues, namespaces
 * or accounts. Never holds a credential.
 */
export interface Destination {
  transport: TransportName;
  /** Service Bus namespace host or storage account name; absent for local. */
  host?: string;
  queue?: string;
}

/** The destination that `config` sends `transport`'s messages to. */
export function destinationOf(transport: TransportName, config: GeoConfig): Destination {
  switch (transport) {
    case 'local':
      return { transport };
    case 'servicebus':
      return { transport, host: serviceBusNamespace(config), queue: config.servicebus.queue };
    case 'storage-queue':
      return { transport, host: storageAccount(config), queue: config.storage.queue };
  }
}

/** A destination as people name it: `servicebus myns.servicebus.windows.net/geo-tasks`. */
export function describeDestination(d: Destination): string {
  return d.host ? `${d.transport} ${d.host}/${d.queue ?? ''}` : d.transport;
}

/**
 * The configuration that reaches `destination`, with credentials from
 * `config`: a connection string serves its own namespace or account only;
 * Microsoft Entra ID (GEO_SERVICEBUS_NAMESPACE / GEO_STORAGE_ACCOUNT_URL set)
 * signs in to any. Throws DESTINATION_NOT_CONFIGURED naming the destination
 * when nothing configured can reach it.
 */
export function configForDestination(destination: Destination, config: GeoConfig): GeoConfig {
  const { transport, host, queue } = destination;
  if (transport === 'local' || host === undefined || queue === undefined) return config;
  if (transport === 'servicebus') {
    if (config.servicebus.connectionString && sameHost(serviceBusNamespace(config), host)) {
      return { ...config, servicebus: { ...config.servicebus, queue } };
    }
    if (config.servicebus.namespace) {
      return { ...config, servicebus: { ...config.servicebus, connectionString: undefined, namespace: host, queue } };
    }
  } else {
    if (config.storage.connectionString && sameHost(storageAccount(config), host)) {
      return { ...config, storage: { ...config.storage, queue } };
    }
    if (config.storage.accountUrl && !new URL(config.storage.accountUrl).searchParams.has('sig')) {
      const url = new URL(config.storage.accountUrl);
      url.hostname = url.hostname.replace(/^[^.]+/, host);
      return { ...config, storage: { ...config.storage, connectionString: undefined, accountUrl: url.toString(), queue } };
    }
  }
  throw new InputError(
    'DESTINATION_NOT_CONFIGURED',
    `no credentials configured for ${describeDestination(destination)}: ` +
      (transport === 'servicebus'
        ? `set GEO_SERVICEBUS_CONNECTION_STRING for that namespace, or GEO_SERVICEBUS_NAMESPACE to sign in with Microsoft Entra ID`
        : `set GEO_STORAGE_CONNECTION_STRING for that account, or GEO_STORAGE_ACCOUNT_URL to sign in with Microsoft Entra ID`),
  );
}

function serviceBusNamespace(config: GeoConfig): string | undefined {
  if (config.servicebus.connectionString) {
    const endpoint = connectionStringFields(config.servicebus.connectionString).get('endpoint');
    return endpoint?.replace(/^sb:\/\//i, '').replace(/\/+$/, '');
  }
  const ns = config.servicebus.namespace;
  return ns && !ns.includes('.') ? `${ns}.servicebus.windows.net` : ns;
}

function storageAccount(config: GeoConfig): string | undefined {
  if (config.storage.connectionString) {
    const fields = connectionStringFields(config.storage.connectionString);
    return fields.get('accountname') ?? hostOf(fields.get('queueendpoint'));
  }
  return config.storage.accountUrl ? new URL(config.storage.accountUrl).hostname.split('.')[0] : undefined;
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

function sameHost(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}
