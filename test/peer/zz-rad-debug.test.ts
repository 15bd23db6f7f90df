import { it } from 'vitest';
import { ServiceBusClient } from '@azure/service-bus';
import { startServiceBusPeer } from '/work/main/test/support/servicebus-peer/index.js';
it('rad debug', async () => {
  const peer = await startServiceBusPeer({});
  const client = new ServiceBusClient(peer.connectionString());
  const s = client.createSender('geo-tasks');
  for (let b = 0; b < 30; b++) await s.sendMessages(Array.from({ length: 100 }, (_, i) => ({ body: i, messageId: `m-${b}-${i}` })));
  const receiver = client.createReceiver('geo-tasks', { receiveMode: process.env.MODE as any });
  let total = 0;
  const seen = new Set<string>();
  for (let k = 0; k < 12 && total < 3000; k++) {
    const t = Date.now();
    const got = await receiver.receiveMessages(Number(process.env.N ?? 3000), { maxWaitTimeInMs: 2000 });
    total += got.length;
    for (const m of got) seen.add(String(m.messageId));
    if (process.env.MODE === 'peekLock') for (const m of got) await receiver.completeMessage(m);
    console.error('got', got.length, 'in', Date.now() - t, 'peer active', peer.queue('geo-tasks').activeCount(), 'unique', seen.size);
  }
  await receiver.close(); await s.close(); await client.close(); await peer.close();
}, 100000);
