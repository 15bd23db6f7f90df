import type { TransportName } from '../../config/index.js';
import { type MessageEncoding, transportKind } from '../../transports/index.js';
import { encodeTaskMessage } from '../../transports/message.js';

/**
 * The largest task message the run's transport carries and how its bytes
 * count (the transport's kind says both), so an item too large for it is
 * refused before anything is written: the producers only learn their limit
 * once connected.
 */
export interface MessageLimit {
  transport: TransportName;
  /** The queue's message encoding (only Storage Queue offers a choice); with the transport, what a worker thread needs to make the same limit. */
  storageEncoding: MessageEncoding;
  maxBytes: number;
  /** The size that counts against maxBytes for a message of `jsonBytes` bytes of JSON. */
  encodedBytes(jsonBytes: number): number;
  /** Bytes of a stage-1 message besides its task key and parameters. */
  envelopeBytes(job: { jobType: string; taskType: string; idPrefixLength: number }): number;
}

export function messageLimitFor(transport: TransportName, options: { storageEncoding?: MessageEncoding } = {}): MessageLimit {
  const kind = transportKind(transport);
  const encoding = options.storageEncoding ?? 'base64';
  return {
    transport,
    storageEncoding: encoding,
    maxBytes: kind.maxMessageBytes,
    encodedBytes: (jsonBytes) => kind.encodedBytes(jsonBytes, encoding),
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
