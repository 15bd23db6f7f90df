import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { codecFor } from '../../../src/transports/storage-queue-connect.js';
import type { Lane } from './harness.js';

const TAKE_MESSAGE = path.resolve(import.meta.dirname, 'take-message.mjs');

/** A message another receiver took from a Storage Queue, with the task message decoded from its text. */
export interface TakenMessage {
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
  body: { taskId?: string };
}

/**
 * Takes the lane's one message from its Storage Queue as soon as the message
 * is visible again, hiding it for `hideSeconds`. Synchronous on purpose
 * (spawnSync): called from a handler that holds the event loop, it keeps
 * holding it, so the worker can neither renew nor settle meanwhile.
 */
export function takeMessageOnceVisible(lane: Lane, hideSeconds: number): TakenMessage {
  const taker = spawnSync(process.execPath, [TAKE_MESSAGE], {
    env: { ...lane.env(), GEO_TEST_HIDE_SECONDS: String(hideSeconds) },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (taker.status !== 0) throw new Error(`take-message.mjs exited ${taker.status ?? taker.signal}: ${taker.stderr}`);
  const { messageText, ...taken } = JSON.parse(taker.stdout) as Omit<TakenMessage, 'body'> & { messageText: string };
  const text = codecFor(lane.config().storage.messageEncoding).decode(messageText);
  return { ...taken, body: JSON.parse(text) as TakenMessage['body'] };
}
