import { z } from 'zod';

/**
 * The one message format on every queue. Producers build it here and
 * consumers (geo work, Azure Functions) parse it with the same schema.
 */
export const taskMessageSchema = z.object({
  taskId: z.string().min(1),
  jobId: z.string().regex(/^[0-9a-f]{64}$/),
  jobType: z.string().min(1),
  taskType: z.string().min(1),
  stage: z.number().int().min(1),
  batchId: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()),
  attempt: z.number().int().min(0),
});

export type TaskMessage = z.infer<typeof taskMessageSchema>;

export function encodeTaskMessage(message: TaskMessage): string {
  return JSON.stringify(message);
}

export function parseTaskMessage(body: unknown): TaskMessage {
  const value = typeof body === 'string' ? JSON.parse(body) : Buffer.isBuffer(body) ? JSON.parse(body.toString('utf8')) : body;
  return taskMessageSchema.parse(value);
}
