// Turns incoming transfers into stored messages, and stored messages back into
// what the SDK expects on delivery.
import { randomUUID } from 'node:crypto';
import type { Message } from 'rhea';
import rhea from 'rhea';
import type { PeerTransferMessage } from './types.js';

/** The Service Bus batch format: one transfer whose body holds one data section per message. */
export const BATCH_FORMAT = 0x80013700;
const DATA_SECTION = 0x75;

export interface DecodedMessage {
  messageId: string;
  /** rhea's decoded sections, re-encoded (with fresh annotations) on every delivery. */
  msg: Message;
  sizeBytes: number;
}

interface BodySection {
  typecode: number;
  content: unknown;
  multiple?: boolean;
}

function isSection(v: unknown): v is BodySection {
  return typeof v === 'object' && v !== null && typeof (v as BodySection).typecode === 'number' && 'content' in v;
}

function normaliseId(msg: Message): string {
  const id: unknown = msg.message_id;
  if (typeof id === 'string') return id;
  if (typeof id === 'number' || typeof id === 'bigint') return String(id);
  if (Buffer.isBuffer(id)) return id.length === 16 ? rhea.uuid_to_string(id) : id.toString('hex');
  // The SDK's lock renewer fails on close for messages without an id, so the broker assigns one.
  const assigned = randomUUID();
  msg.message_id = assigned;
  return assigned;
}

// rhea's typings declare two Message types; the decoded one lacks `body`.
function decode(buf: Buffer): Message {
  return rhea.message.decode(buf) as unknown as Message;
}

function batchParts(envelope: Message): Buffer[] {
  const body: unknown = envelope.body;
  if (Buffer.isBuffer(body)) return [body];
  if (!isSection(body)) return [];
  if (Array.isArray(body.content)) return body.content.filter((c): c is Buffer => Buffer.isBuffer(c));
  return Buffer.isBuffer(body.content) ? [body.content] : [];
}

/**
 * A format-0 transfer arrives already decoded by rhea, which drops the raw
 * bytes: re-encode once to learn its size (single sends are not the hot path).
 */
export function decodeTransfer(payload: Message | Buffer, format: number | undefined): DecodedMessage[] {
  if (!format) {
    const msg = payload as Message;
    return [{ messageId: normaliseId(msg), msg, sizeBytes: rhea.message.encode(msg).length }];
  }
  if (format !== BATCH_FORMAT || !Buffer.isBuffer(payload)) {
    throw new Error(`unsupported message format 0x${(format >>> 0).toString(16)}`);
  }
  return batchParts(decode(payload)).map((part) => {
    const msg = decode(part);
    return { messageId: normaliseId(msg), msg, sizeBytes: part.length };
  });
}

function tryJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return buf;
  }
}

/** Mirrors the SDK's default data transformer so tests compare what they sent. */
export function decodeBody(body: unknown): unknown {
  if (!isSection(body)) return Buffer.isBuffer(body) ? tryJson(body) : body;
  if (body.typecode !== DATA_SECTION) return body.content;
  if (body.multiple && Array.isArray(body.content)) return body.content.map((c) => (Buffer.isBuffer(c) ? tryJson(c) : c));
  return Buffer.isBuffer(body.content) ? tryJson(body.content) : body.content;
}

/** Lazy view for transfers(): JSON parsing every body on the hot path would cost throughput. */
export class TransferMessageView implements PeerTransferMessage {
  private parsed = false;
  private cached: unknown;
  readonly messageId: string;
  readonly sizeBytes: number;
  constructor(private readonly source: DecodedMessage) {
    this.messageId = source.messageId;
    this.sizeBytes = source.sizeBytes;
  }
  get subject(): string | undefined {
    const s: unknown = this.source.msg.subject;
    return typeof s === 'string' ? s : undefined;
  }
  get applicationProperties(): Record<string, unknown> {
    return (this.source.msg.application_properties as Record<string, unknown> | undefined) ?? {};
  }
  get body(): unknown {
    if (!this.parsed) {
      this.cached = decodeBody(this.source.msg.body);
      this.parsed = true;
    }
    return this.cached;
  }
}

export interface DeliveryStamp {
  sequenceNumber: number;
  enqueuedAt: number;
  lockedUntil?: number;
  deliveryCount: number;
}

/** The stored message plus what the SDK reads from a received message. */
export function forDelivery(msg: Message, stamp: DeliveryStamp): Message {
  const annotations: Record<string, unknown> = {
    ...(msg.message_annotations as Record<string, unknown> | undefined),
    'x-opt-sequence-number': rhea.types.wrap_long(stamp.sequenceNumber),
    'x-opt-enqueued-time': new Date(stamp.enqueuedAt),
  };
  // The SDK calls toString() on the locked-until annotation, so it must be a Date.
  if (stamp.lockedUntil !== undefined) annotations['x-opt-locked-until'] = new Date(stamp.lockedUntil);
  return { ...msg, delivery_count: stamp.deliveryCount, message_annotations: annotations } as Message;
}
