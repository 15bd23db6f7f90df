import { z } from 'zod';

/**
 * The one message format on every queue. Producers build it with
 * `buildTaskMessage` and consumers (geo work, Azure Functions) parse it with
 * the same schema. Unknown fields are ignored, so fields may be added.
 */
export const taskMessageSchema = z.object({
  taskId: z.string().min(1),
  jobId: z.string().regex(/^[0-9a-f]{64}$/),
  jobType: z.string().min(1),
  taskType: z.string().min(1),
  stage: z.number().int().min(1),
  batchId: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()),
  delivery: z.number().int().min(0),
});

export type TaskMessage = z.infer<typeof taskMessageSchema>;

/** What identifies a task on a queue, whatever the delivery. */
export type TaskMessageFields = Omit<TaskMessage, 'delivery'>;

/**
 * Builds a task message; the only place one is built. `delivery` is 0 for a
 * task's first message, including every re-send of its batch after a crash
 * (the same message again, which Service Bus duplicate detection drops), and
 * for a redelivery geo owes (a retry, a task whose worker died, a message a
 * host poisoned) the number the database gave that delivery, unique to it;
 * `messageIdOf` turns it into the message id.
 */
export function buildTaskMessage(task: TaskMessageFields, delivery = 0): TaskMessage {
  return {
    taskId: task.taskId,
    jobId: task.jobId,
    jobType: task.jobType,
    taskType: task.taskType,
    stage: task.stage,
    batchId: task.batchId,
    parameters: task.parameters,
    delivery,
  };
}

/**
 * The broker-level message id: the task id for a first message, so a crash
 * re-send of a batch is deduplicated, and `${taskId}:d${delivery}` for a
 * redelivery, so duplicate detection never drops it (it would drop a second
 * message carrying the task id within its window, and the task would never
 * run) while a crash re-send of the same redelivery is still dropped.
 */
export function messageIdOf(message: TaskMessage): string {
  return message.delivery === 0 ? message.taskId : `${message.taskId}:d${message.delivery}`;
}

export function encodeTaskMessage(message: TaskMessage): string {
  return JSON.stringify(message);
}

/** Parses a body (JSON text, a Buffer of it, or an already decoded object); throws when it is not a task message. */
export function parseTaskMessage(body: unknown): TaskMessage {
  const value = typeof body === 'string' ? JSON.parse(body) : Buffer.isBuffer(body) ? JSON.parse(body.toString('utf8')) : body;
  return taskMessageSchema.parse(withDelivery(value));
}

/** Messages sent before `delivery` existed carried `attempt` in its place. */
function withDelivery(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || 'delivery' in value || !('attempt' in value)) return value;
  return { ...value, delivery: (value as { attempt: unknown }).attempt };
}

/** `parseTaskMessage` that reports a bad body as a one-line reason instead of throwing. */
export function tryParseTaskMessage(body: unknown): { message: TaskMessage } | { parseError: string } {
  try {
    return { message: parseTaskMessage(body) };
  } catch (err) {
    if (err instanceof z.ZodError) {
      const issues = err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return { parseError: `not a task message (${issues})` };
    }
    return { parseError: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
}
