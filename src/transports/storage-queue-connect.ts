import { AnonymousCredential, QueueServiceClient, type QueueClient, type StoragePipelineOptions } from '@azure/storage-queue';
import type { GeoConfig } from '../config/index.js';
import { DependencyError, InputError } from '../errors.js';
import { describeError, isConnectionFailure, isIdentityError, isTimeout, redactor, type QueueWhere } from './storage-queue-errors.js';

export type StorageConfig = GeoConfig['storage'];

export interface ConnectedQueue {
  client: QueueClient;
  where: QueueWhere;
  redact: (text: string) => string;
}

/** Azure's rule for queue names; checked here so a typo is an input error, not a 400 from the service. */
const QUEUE_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * Builds the queue client from configuration and checks, before anything is
 * written to the database, that the queue exists (or creates it with
 * `createQueue`) and that the credentials are accepted.
 */
export async function connectStorageQueue(
  config: StorageConfig,
  options: { pipeline: StoragePipelineOptions; timeoutMs: number },
): Promise<ConnectedQueue> {
  if (!QUEUE_NAME.test(config.queue)) {
    throw new InputError(
      'CONFIG_INVALID',
      `GEO_STORAGE_QUEUE: "${config.queue}" is not a valid queue name (3-63 lowercase letters, digits and single hyphens)`,
    );
  }
  const { service, redact } = await serviceClient(config, options.pipeline);
  const client = service.getQueueClient(config.queue);
  const where = { account: service.accountName || 'unknown', queue: config.queue };
  const on = `storage queue ${where.queue} in account ${where.account}`;
  try {
    const abortSignal = AbortSignal.timeout(options.timeoutMs);
    if (config.createQueue) await client.createIfNotExists({ abortSignal });
    else await client.getProperties({ abortSignal });
  } catch (err) {
    const info = describeError(err, redact);
    if (info.status === 404) {
      throw new InputError(
        'QUEUE_NOT_FOUND',
        `${on} does not exist; create it, or run with --create-queue (GEO_STORAGE_QUEUE names the queue)`,
      );
    }
    // An identity that may only send (Storage Queue Data Message Sender) can
    // be refused this read. The queue's existence then cannot be checked; the
    // first send will tell (a missing queue stops the run as a permanent error).
    if (info.code === 'AuthorizationPermissionMismatch' && !config.createQueue) return { client, where, redact };
    if (info.status === 401 || info.status === 403) {
      const check = config.connectionString
        ? 'check the key or SAS in GEO_STORAGE_CONNECTION_STRING'
        : 'check that the signed-in identity has the Storage Queue Data Message Sender role (Contributor for --create-queue)';
      throw new DependencyError('STORAGE_AUTH_FAILED', `${on} refused access (${info.status} ${info.code ?? ''}): ${check}`, {
        cause: err,
      });
    }
    if (isIdentityError(err)) {
      throw new DependencyError('STORAGE_AUTH_FAILED', `could not get a Microsoft Entra ID token for ${on}: ${info.detail}`, { cause: err });
    }
    if (isTimeout(err) || isConnectionFailure(info) || info.status === undefined || info.status >= 500) {
      const why = isTimeout(err) ? `no answer within ${options.timeoutMs} ms` : info.detail;
      throw new DependencyError('STORAGE_UNREACHABLE', `cannot reach ${on}: ${why}`, { cause: err });
    }
    throw new DependencyError('STORAGE_REFUSED', `${on} refused the request (${info.status} ${info.code ?? ''}): ${info.detail}`, {
      cause: err,
    });
  }
  return { client, where, redact };
}

async function serviceClient(
  config: StorageConfig,
  pipeline: StoragePipelineOptions,
): Promise<{ service: QueueServiceClient; redact: (t: string) => string }> {
  if (config.connectionString) {
    const parts = connectionStringParts(config.connectionString);
    const redact = redactor([parts.AccountKey ?? '', parts.SharedAccessSignature ?? '']);
    try {
      return { service: QueueServiceClient.fromConnectionString(config.connectionString, pipeline), redact };
    } catch (err) {
      throw new InputError('CONFIG_INVALID', `GEO_STORAGE_CONNECTION_STRING: ${redact(describeError(err, redact).detail)}`, { cause: err });
    }
  }
  if (config.accountUrl) {
    const url = new URL(config.accountUrl);
    const sas = url.searchParams.get('sig');
    const redact = redactor([sas ?? '', url.search.slice(1)]);
    // A URL that carries a SAS is its own credential; otherwise Entra ID.
    const credential = sas ? new AnonymousCredential() : new (await import('@azure/identity')).DefaultAzureCredential();
    return { service: new QueueServiceClient(config.accountUrl, credential, pipeline), redact };
  }
  throw new InputError(
    'CONFIG_INVALID',
    'the storage-queue transport needs GEO_STORAGE_CONNECTION_STRING (account key or SAS) ' +
      'or GEO_STORAGE_ACCOUNT_URL (https://<account>.queue.core.windows.net, signed in with Microsoft Entra ID)',
  );
}

/** `Key=Value;...` pairs; values (base64 keys) may contain `=`. */
function connectionStringParts(connectionString: string): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const pair of connectionString.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) parts[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return parts;
}
