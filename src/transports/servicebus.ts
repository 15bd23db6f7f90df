import type { ServiceBusMessage, ServiceBusMessageBatch, ServiceBusReceiver, ServiceBusSender } from '@azure/service-bus';
import Long from 'long';
import { encodeTaskMessage, messageIdOf, type TaskMessage, tryParseTaskMessage } from './message.js';
import { connectServiceBus, type ServiceBusConfig } from './servicebus-connect.js';
import { classifyServiceBusError, preflightError } from './servicebus-errors.js';
import type { DeadLetter, ScheduleReport, SendReport, TransportProducer } from './transport.js';

/** How long reading the dead-letter queue waits for a first message: the sweep must not stall on an empty one. */
const DEAD_LETTER_WAIT_MS = 500;

/**
 * Azure Service Bus, producer half: one database batch is one
 * ServiceBusMessageBatch (split into parts only when 100 messages exceed the
 * size limit). The message id is messageIdOf(message): the task id on a first
 * send, so with duplicate detection on the queue a re-sent batch is dropped.
 * One client and one sender per process, opened (and checked) before anything
 * is written, so a wrong key or queue fails with nothing in the database.
 */
export async function createServiceBusProducer(config: ServiceBusConfig): Promise<TransportProducer> {
  const { client, target, redact } = connectServiceBus(config);
  const sender = client.createSender(config.queue);
  try {
    // Opens the link: authentication and the queue's existence are checked here.
    await sender.createMessageBatch();
  } catch (err) {
    await sender.close().catch(() => undefined);
    await client.close().catch(() => undefined);
    throw preflightError(err, target, redact);
  }
  let closed = false;
  let deadLetters: ServiceBusReceiver | undefined;
  // One read at a time: a receiver refuses a second receive while one runs (several sweeps may share this producer).
  let reading: Promise<unknown> = Promise.resolve();
  return {
    name: 'servicebus',
    writesWithTasks: false,
    target,
    send: (messages) => sendBatch(sender, messages, target, redact),
    async schedule(messages, at) {
      const report: ScheduleReport = { acknowledged: [], rejected: [], refs: new Map() };
      if (messages.length === 0) return report;
      try {
        const sequenceNumbers = await sender.scheduleMessages(messages.map(toServiceBusMessage), at);
        messages.forEach((m, i) => {
          report.acknowledged.push(m.taskId);
          const seq = sequenceNumbers[i];
          if (seq !== undefined) report.refs.set(m.taskId, seq.toString());
        });
      } catch (err) {
        report.error = classifyServiceBusError(err, target, redact);
      }
      return report;
    },
    async cancelScheduled(refs) {
      if (refs.length === 0) return;
      await sender.cancelScheduledMessages(refs.map((ref) => Long.fromString(ref))).catch((err: unknown) => {
        throw classifyServiceBusError(err, `cancel scheduled messages on ${target}`, redact);
      });
    },
    async readDeadLetters(max) {
      deadLetters ??= client.createReceiver(config.queue, { subQueueType: 'deadLetter', receiveMode: 'peekLock' });
      const receiver = deadLetters;
      const read = reading.then(() => receiver.receiveMessages(max, { maxWaitTimeInMs: DEAD_LETTER_WAIT_MS }));
      reading = read.catch(() => undefined);
      const received = await read.catch((err: unknown) => {
        throw classifyServiceBusError(err, `dead-letter queue of ${target}`, redact);
      });
      return received.map((m): DeadLetter => {
        const parsed = tryParseTaskMessage(m.body);
        return {
          message: 'message' in parsed ? parsed.message : undefined,
          remove: () => receiver.completeMessage(m),
          release: () => receiver.abandonMessage(m),
        };
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await deadLetters?.close().catch(() => undefined);
      await sender.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

async function sendBatch(sender: ServiceBusSender, messages: TaskMessage[], target: string, redact: (text: string) => string): Promise<SendReport> {
  const report: SendReport = { acknowledged: [], rejected: [] };
  let parts: Array<{ batch: ServiceBusMessageBatch; taskIds: string[] }>;
  try {
    parts = await packParts(sender, messages, report);
  } catch (err) {
    report.error = classifyServiceBusError(err, target, redact);
    return report;
  }
  // Parts go one after another: a part is acknowledged or not as a whole, and
  // what follows a failed part stays unsent for the caller to retry.
  for (const part of parts) {
    try {
      await sender.sendMessages(part.batch);
      report.acknowledged.push(...part.taskIds);
    } catch (err) {
      report.error = classifyServiceBusError(err, target, redact);
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

/** The Service Bus form of a task message. */
export function toServiceBusMessage(message: TaskMessage): ServiceBusMessage {
  return {
    body: message,
    contentType: 'application/json',
    messageId: messageIdOf(message),
    subject: message.taskType,
    applicationProperties: { jobId: message.jobId, stage: message.stage, batchId: message.batchId, taskType: message.taskType },
  };
}
