import type { QueueClient } from '@azure/storage-queue';
import { describe, expect, it } from 'vitest';
import { queueClientFor } from '../support/azurite.js';
import { consumerBehaviour } from './consumer-suite.js';
import { producerBehaviour } from './producer-suite.js';
import { receiveAll, useTransportHarness } from './support/harness.js';

// Storage Queue on Azurite, base64-encoded as Azure Functions expects by default.
const harness = useTransportHarness('storage-queue', { encoding: 'base64' });
producerBehaviour(harness);
consumerBehaviour(harness);

/** What is in the poison queue, read without taking it (peek), decoded as the consumer wrote it. */
async function poisoned(poison: QueueClient, decode: (text: string) => string): Promise<Array<Record<string, unknown>>> {
  if (!(await poison.exists())) return [];
  const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((item) => JSON.parse(decode(item.messageText)) as Record<string, unknown>);
}

describe('storage-queue, queue side', () => {
  it('stores each message base64-encoded, the body Azure Functions decodes', async () => {
    const q = await harness.open();
    const [sent] = q.messages(1, 'stored');
    await q.send([sent!]);
    const { peekedMessageItems } = await queueClientFor(q.azurite!, q.config.storage.queue).peekMessages({ numberOfMessages: 1 });
    expect(JSON.parse(Buffer.from(peekedMessageItems[0]!.messageText, 'base64').toString('utf8'))).toEqual(sent);
  });

  it('the poison message keeps the task message whole, plus why it was moved', async () => {
    const q = await harness.open();
    const [sent] = q.messages(1, 'poison');
    await q.send([sent!]);
    const [m] = await receiveAll(q.consumer, 1);
    await q.consumer.deadLetter(m!, 'HandlerFailed', 'boom');
    const poison = queueClientFor(q.azurite!, `${q.config.storage.queue}-poison`);
    const [stored] = await poisoned(poison, (t) => Buffer.from(t, 'base64').toString('utf8'));
    expect(stored).toMatchObject({ ...sent, deadLetter: { reason: 'HandlerFailed', description: 'boom', deliveryCount: 1 } });
  });
});

describe('storage-queue, text encoding', () => {
  const text = useTransportHarness('storage-queue', { encoding: 'text' });

  it('writes the JSON text itself and reads it back as the producer wrote it', async () => {
    const q = await text.open();
    const [sent] = q.messages(1, 'text');
    await q.send([sent!]);
    const { peekedMessageItems } = await queueClientFor(q.azurite!, q.config.storage.queue).peekMessages({ numberOfMessages: 1 });
    expect(JSON.parse(peekedMessageItems[0]!.messageText)).toEqual(sent);
    const [m] = await receiveAll(q.consumer, 1);
    expect(m!.message).toEqual(sent);
    await q.consumer.complete(m!);
  });
});
