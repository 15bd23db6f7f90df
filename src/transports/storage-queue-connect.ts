import { AnonymousCredential, type QueueClient, QueueServiceClient, type StoragePipelineOptions } from '@azure/storage-queue';
import { parseConnectionString } from '../config/connection-string.js';
import type { GeoConfig } from '../config/index.js';
import { DependencyError, InputError } from '../errors.js';
import { redactor, urlSecrets } from '../secrets/redact.js';
import { describeError, isConnectionFailure, isIdentityError, isTimeout, type QueueWhere } from './storage-queue-errors.js';

export type StorageConfig = GeoConfig['storage'];

export interface ConnectedQueue {
  client: QueueClient;
  /** The account's client, for the poison queue next to the task queue. */
  service: QueueServiceClient;
  where: QueueWhere;
  redact: (text: string) => string;
}

/** The Azure Functions runtime's name for a queue's poison queue: `<queue>-poison`. */
export const POISON_SUFFIX = '-poison';

/** Azure's rule for queue names; checked here so a typo is an input error, not a 400 from the service. */
const QUEUE_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * Builds the queue client from configuration and checks, before anything is
 * written to the database, that the queue exists (or creates it with
 * `createQueue`) and that the credentials are accepted.
 */
export async function connectStorageQueue(config: StorageConfig, options: { pipeline: StoragePipelineOptions; timeoutMs: number }): Promise<ConnectedQueue> {
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
      // Steps that work from anywhere; a command that can create the queue itself adds its option.
      throw new InputError(
        'QUEUE_NOT_FOUND',
        `${on} does not exist; create it (az storage queue create --name ${where.queue} --account-name ${where.account}), ` +
          'or name another with GEO_STORAGE_QUEUE',
      );
    }
    // An identity that may only send (Storage Queue Data Message Sender) can
    // be refused this read. The queue's existence then cannot be checked; the
    // first send will tell (a missing queue stops the run as a permanent error).
    if (info.code === 'AuthorizationPermissionMismatch' && !config.createQueue) return { client, service, where, redact };
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
  return { client, service, where, redact };
}

async function serviceClient(config: StorageConfig, pipeline: StoragePipelineOptions): Promise<{ service: QueueServiceClient; redact: (t: string) => string }> {
  if (config.connectionString) {
    const redact = redactor(parseConnectionString(config.connectionString).secrets());
    try {
      return { service: QueueServiceClient.fromConnectionString(config.connectionString, pipeline), redact };
    } catch (err) {
      throw new InputError('CONFIG_INVALID', `GEO_STORAGE_CONNECTION_STRING: ${redact(describeError(err, redact).detail)}`, { cause: err });
    }
  }
  if (config.accountUrl) {
    const url = new URL(config.accountUrl);
    const sas = url.searchParams.get('sig');
    const redact = redactor(urlSecrets(config.accountUrl));
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

/**
 * How message text is stored: base64 of the UTF-8 JSON (what the Azure
 * Functions queue trigger expects by default) or the JSON text itself.
 */
export function codecFor(encoding: StorageConfig['messageEncoding']): { encode(text: string): string; decode(stored: string): string } {
  if (encoding === 'text') return { encode: (text) => text, decode: (stored) => stored };
  return {
    encode: (text) => Buffer.from(text, 'utf8').toString('base64'),
    decode: (stored) => Buffer.from(stored, 'base64').toString('utf8'),
  };
}
