import { DefaultAzureCredential } from '@azure/identity';
import { ServiceBusClient } from '@azure/service-bus';
import { parseConnectionString } from '../config/connection-string.js';
import type { GeoConfig } from '../config/index.js';
import { InputError } from '../errors.js';
import { redactor } from '../secrets/redact.js';

export type ServiceBusConfig = GeoConfig['servicebus'];

export interface ServiceBusConnection {
  client: ServiceBusClient;
  namespace: string;
  /** Names queue and namespace, never a key. */
  target: string;
  redact: (text: string) => string;
}

/**
 * Builds the client from configuration: a connection string (key or SAS), or
 * a namespace signed in with Microsoft Entra ID. Opens nothing yet.
 */
export function connectServiceBus(config: ServiceBusConfig): ServiceBusConnection {
  const options = {
    // The core retries with its own backoff and adapts concurrency; SDK-level
    // retries on top would multiply the wait. A short operation timeout keeps
    // a dropped connection from hanging an operation for the SDK's default minute.
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, maxRetryDelayInMs: 1_000, timeoutInMs: config.timeoutMs },
  };
  const target = (namespace: string) => `Service Bus queue ${config.queue} in namespace ${namespace}`;
  if (config.connectionString) {
    const fields = parseConnectionString(config.connectionString);
    const endpoint = fields.get('Endpoint');
    if (!endpoint) {
      throw new InputError('CONFIG_INVALID', 'GEO_SERVICEBUS_CONNECTION_STRING: has no Endpoint=sb://<namespace>/');
    }
    const namespace = endpoint.replace(/^sb:\/\//i, '').replace(/\/+$/, '');
    const redact = redactor(fields.secrets());
    try {
      return { client: new ServiceBusClient(config.connectionString, options), namespace, target: target(namespace), redact };
    } catch (err) {
      const reason = redact(err instanceof Error ? err.message : String(err));
      throw new InputError('CONFIG_INVALID', `GEO_SERVICEBUS_CONNECTION_STRING: ${reason}`, { cause: err });
    }
  }
  if (config.namespace) {
    const namespace = config.namespace.includes('.') ? config.namespace : `${config.namespace}.servicebus.windows.net`;
    const client = new ServiceBusClient(namespace, new DefaultAzureCredential(), options);
    return { client, namespace, target: target(namespace), redact: redactor([]) };
  }
  throw new InputError(
    'CONFIG_INVALID',
    'the servicebus transport needs GEO_SERVICEBUS_CONNECTION_STRING, or GEO_SERVICEBUS_NAMESPACE with Microsoft Entra ID',
  );
}
