import type { TransportName } from '../../config/index.js';
import { encodeTaskMessage } from '../../transports/message.js';

/**
 * The largest task message each transport carries, so an item too large for
 * it is refused before anything is written (a constant per transport name:
 * the producers only learn their limit once connected).
 * - servicebus: the Standard tier's 256 KiB per message (batches are capped
 *   by the same figure), less 4 KiB for the AMQP header, message id and
 *   application properties geo sets.
 * - storage-queue: 64 KiB after encoding (base64 by default: 48 KiB of JSON).
 * - local: 1 MiB, geo's own bound for one task row's parameters.
 */
export const MESSAGE_LIMITS: Record<TransportName, number> = {
  servicebus: 256 * 1024 - 4 * 1024,
  'storage-queue': 64 * 1024,
  local: 1024 * 1024,
};

export interface MessageLimit {
  transport: TransportName;
  /** What made it, so a worker thread can make the same one. */
  storageEncoding: 'base64' | 'text';
  maxBytes: number;
  /** The size that counts against maxBytes for a message of `jsonBytes` bytes of JSON. */
  encodedBytes(jsonBytes: number): number;
  /** Bytes of a stage-1 message besides its task key and parameters. */
  envelopeBytes(job: { jobType: string; taskType: string; idPrefixLength: number }): number;
}

export function messageLimitFor(transport: TransportName, options: { storageEncoding?: 'base64' | 'text' } = {}): MessageLimit {
  const base64 = transport === 'storage-queue' && (options.storageEncoding ?? 'base64') === 'base64';
  return {
    transport,
    storageEncoding: options.storageEncoding ?? 'base64',
    maxBytes: MESSAGE_LIMITS[transport],
    encodedBytes: (jsonBytes) => (base64 ? Math.ceil(jsonBytes / 3) * 4 : jsonBytes),
    envelopeBytes({ jobType, taskType, idPrefixLength }) {
      // The real encoder on a message whose variable parts have their longest
      // lengths (a 7-digit batch index covers 10 million tasks), with an empty key and {}.
      const prefix = '0'.repeat(idPrefixLength);
      const sample = encodeTaskMessage({
        taskId: `${prefix}-s1-`,
        jobId: '0'.repeat(64),
        jobType,
        taskType,
        stage: 1,
        batchId: `${prefix}-s1-b9999999`,
        parameters: {},
        delivery: 0,
      });
      return Buffer.byteLength(sample) - 2;
    },
  };
}
