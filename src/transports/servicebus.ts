import { DefaultAzureCredential } from '@azure/identity';
import {
  ServiceBusClient,
  type ServiceBusMessage,
  type ServiceBusMessageBatch,
  type ServiceBusSender,
} from '@azure/service-bus';
import type { GeoConfig } from '../config/index.js';
import { DependencyError, InputError } from '../errors.js';
import { encodeTaskMessage, type TaskMessage } from './message.js';
import { classifyServiceBusError, redactAll } from './servicebus-errors.js';
import type { SendReport, Transport } from './transport.js';

type ServiceBusConfig = GeoConfig['servicebus'];

/**
 * Azure Service Bus: one database batch is one ServiceBusMessageBatch (split
 * into parts only when 100 messages exceed the size limit). messageId is the
 * task id, so with duplicate detection on the queue a re-send is dropped.
 * One client and one sender per process, opened (and checked) before anything
 * is written, so a wrong key or queue fails with nothing in the database.
 */
export async function createServiceBusTransport(config: ServiceBusConfig): Promise<Transport> {
  const { client, namespace, secrets } = connect(config);
  const target = `Service Bus queue ${config.queue} in namespace ${namespace}`;
  const sender = client.createSender(config.queue);
  try {
    // Opens the link: authentication and the queue's existence are checked here.
    await sender.createMessageBatch();
  } catch (err) {
    await sender.close().catch(() => undefined);
    await client.close().catch(() => undefined);
    throw preflightError(err, target, secrets);
  }
  let closed = false;
  return {
    name: 'servicebus',
    inDatabase: false,
    target,
    send: (messages) => sendBatch(sender, messages, target, secrets),
    async close() {
      if (closed) return;
      closed = true;
      await sender.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

function connect(config: ServiceBusConfig): { client: ServiceBusClient; namespace: string; secrets: string[] } {
  const options = {
    // The core retries with its own backoff and adapts concurrency; SDK-level
    // retries on top would multiply the wait. A short operation timeout keeps
    // a dropped connection from hanging a send for the SDK's default minute.
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, maxRetryDelayInMs: 1_000, timeoutInMs: config.timeoutMs },
  };
  if (config.connectionString) {
    const fields = parseConnectionString(config.connectionString);
    const endpoint = fields.get('endpoint');
    if (!endpoint) {
      throw new InputError('CONFIG_INVALID', 'GEO_SERVICEBUS_CONNECTION_STRING: has no Endpoint=sb://<namespace>/');
    }
    const namespace = endpoint.replace(/^sb:\/\//i, '').replace(/\/+$/, '');
    const secrets = [fields.get('sharedaccesskey') ?? '', fields.get('sharedaccesssignature') ?? ''];
    try {
      return { client: new ServiceBusClient(config.connectionString, options), namespace, secrets };
    } catch (err) {
      const reason = redactAll(err instanceof Error ? err.message : String(err), secrets);
      throw new InputError('CONFIG_INVALID', `GEO_SERVICEBUS_CONNECTION_STRING: ${reason}`, { cause: err });
    }
  }
  if (config.namespace) {
    const namespace = config.namespace.includes('.') ? config.namespace : `${config.namespace}.servicebus.windows.net`;
    return { client: new ServiceBusClient(namespace, new DefaultAzureCredential(), options), namespace, secrets: [] };
  }
  throw new InputError(
    'CONFIG_INVALID',
    'the servicebus transport needs GEO_SERVICEBUS_CONNECTION_STRING, or GEO_SERVICEBUS_NAMESPACE with Microsoft Entra ID',
  );
}

async function sendBatch(sender: ServiceBusSender, messages: TaskMessage[], target: string, secrets: string[]): Promise<SendReport> {
  const report: SendReport = { acknowledged: [], rejected: [] };
  let parts: Array<{ batch: ServiceBusMessageBatch; taskIds: string[] }>;
  try {
    parts = await packParts(sender, messages, report);
  } catch (err) {
    report.error = classifyServiceBusError(err, target, secrets);
    return report;
  }
  // Parts go one after another: a part is acknowledged or not as a whole, and
  // what follows a failed part stays unsent for the caller to retry.
  for (const part of parts) {
    try {
      await sender.sendMessages(part.batch);
      report.acknowledged.push(...part.taskIds);
    } catch (err) {
      report.error = classifyServiceBusError(err, target, secrets);
      break;
    }
  }
  return report;
}

/** Packs messages into as few size-limited batches as they need; one too big alone is rejected. */
async function packParts(
  sender: ServiceBusSender,
  messages: TaskMessage[],
  report: SendReport,
): Promise<Array<{ batch: ServiceBusMessageBatch; taskIds: string[] }>> {
  const parts: Array<{ batch: ServiceBusMessageBatch; taskIds: string[] }> = [];
  let current = { batch: await sender.createMessageBatch(), taskIds: [] as string[] };
  for (const message of messages) {
    const sbMessage = toServiceBusMessage(message);
    if (current.batch.tryAddMessage(sbMessage)) {
      current.taskIds.push(message.taskId);
      continue;
    }
    if (current.batch.count > 0) {
      parts.push(current);
      current = { batch: await sender.createMessageBatch(), taskIds: [] };
      if (current.batch.tryAddMessage(sbMessage)) {
        current.taskIds.push(message.taskId);
        continue;
      }
    }
    const size = Buffer.byteLength(encodeTaskMessage(message));
    report.rejected.push({
      taskId: message.taskId,
      reason: `message of ${size} bytes exceeds the Service Bus limit of ${current.batch.maxSizeInBytes} bytes`,
    });
  }
  if (current.batch.count > 0) parts.push(current);
  return parts;
}

export function toServiceBusMessage(message: TaskMessage): ServiceBusMessage {
  return {
    body: message,
    contentType: 'application/json',
    messageId: message.taskId,
    subject: message.taskType,
    applicationProperties: { jobId: message.jobId, stage: message.stage, batchId: message.batchId, taskType: message.taskType },
  };
}

function preflightError(err: unknown, target: string, secrets: string[]): Error {
  const classified = classifyServiceBusError(err, target, secrets);
  if (classified.code === 'SERVICEBUS_MESSAGING_ENTITY_NOT_FOUND') {
    return new InputError('QUEUE_NOT_FOUND', `${target} does not exist; create it (see README, "Service Bus")`, { cause: err });
  }
  return new DependencyError(classified.code, `cannot use ${classified.message}`, { cause: err });
}

function parseConnectionString(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return fields;
}
