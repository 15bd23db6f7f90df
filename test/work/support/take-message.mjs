// Another receiver on a Storage Queue, run with spawnSync by a handler that holds the event loop
// (work-suite.ts): it takes the queue's one message as soon as the message is visible again, that
// is once the worker's visibility timeout (its lock) has lapsed, so the worker's pop receipt is
// stale for certain before its handler returns. Prints what it received as one JSON document.
// Environment: GEO_STORAGE_CONNECTION_STRING, GEO_STORAGE_QUEUE, GEO_TEST_HIDE_SECONDS (how long
// this receive hides the message: it comes back to the worker after that).
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueClient } from '@azure/storage-queue';

const client = new QueueClient(process.env.GEO_STORAGE_CONNECTION_STRING, process.env.GEO_STORAGE_QUEUE);
const visibilityTimeout = Number(process.env.GEO_TEST_HIDE_SECONDS);
const deadline = Date.now() + 30_000;
for (;;) {
  const { receivedMessageItems } = await client.receiveMessages({ numberOfMessages: 1, visibilityTimeout });
  const [item] = receivedMessageItems;
  if (item) {
    const { messageId, popReceipt, dequeueCount, messageText } = item;
    process.stdout.write(JSON.stringify({ messageId, popReceipt, dequeueCount, messageText }));
    break;
  }
  if (Date.now() > deadline) {
    process.stderr.write('no message became visible on the queue within 30 s\n');
    process.exit(1);
  }
  // A poll interval, not a synchronisation: the loop ends when the message is there.
  await sleep(50);
}
