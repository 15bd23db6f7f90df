import { describe, expect, it } from 'vitest';
import { createConsumer } from '../../src/transports/index.js';
import { consumerBehaviour } from './consumer-suite.js';
import { producerBehaviour } from './producer-suite.js';
import { useTransportHarness } from './support/harness.js';

// Service Bus over real AMQP: the SDK against the test peer (test/support/servicebus-peer).
const harness = useTransportHarness('servicebus');
producerBehaviour(harness);
consumerBehaviour(harness);

describe('servicebus, broker side', () => {
  it('a redelivery is scheduled on the broker under its own id, next to the first message, and its sequence number returned', async () => {
    const q = await harness.open();
    const [sent] = q.messages(1, 'sched');
    await q.send([sent!]);
    const report = await q.producer.schedule([{ ...sent!, delivery: 3 }], new Date(Date.now() + 60_000));
    expect(report.acknowledged).toEqual([sent!.taskId]);
    expect(report.refs.get(sent!.taskId)).toMatch(/^\d+$/);
    const view = q.peerQueue!;
    expect(view.scheduledIds()).toEqual([`${sent!.taskId}:d3`]);
    // Duplicate detection did not drop the redelivery as a repeat of the first message.
    expect(view.activeCount()).toBe(1);
    expect(view.duplicatesDropped()).toBe(0);
  });

  it('a queue that does not exist fails at open with QUEUE_NOT_FOUND, naming it', async () => {
    const q = await harness.open();
    const config = { ...q.config, servicebus: { ...q.config.servicebus, queue: 'missing-queue' } };
    const err = await createConsumer('servicebus', config, { worker: 'test', leaseSeconds: 1, jobTypes: [] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'QUEUE_NOT_FOUND', kind: 'input' });
    expect(String((err as Error).message)).toContain('missing-queue');
  });
});
