import { ServiceBusClient } from '@azure/service-bus';

/**
 * Drains a queue with the official SDK (receiveAndDelete), returning every
 * body received. Stops when a receive comes back empty.
 */
export async function drainQueue(connectionString: string, queue: string, expected: number): Promise<unknown[]> {
  const client = new ServiceBusClient(connectionString);
  const receiver = client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
  const bodies: unknown[] = [];
  try {
    for (;;) {
      const batch = await receiver.receiveMessages(500, { maxWaitTimeInMs: bodies.length >= expected ? 300 : 2_000 });
      if (batch.length === 0) break;
      for (const message of batch) bodies.push(message.body);
    }
  } finally {
    await receiver.close();
    await client.close();
  }
  return bodies;
}
