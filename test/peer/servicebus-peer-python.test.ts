// The official Service Bus SDK for Python (Debian's python3-azure over uamqp)
// against the peer's TLS endpoint. Each operation runs in a Python process and
// its effect is read from the peer's queue before the next one.
import { once } from 'node:events';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ServiceBusPeer, startServiceBusPeer } from '../support/servicebus-peer/index.js';
import { PythonServiceBusDriver, requirePythonServiceBusSdk } from './python/sdk-driver.js';

let peer: ServiceBusPeer;
const peerLog: string[] = [];
let queueNumber = 0;

beforeAll(async () => {
  requirePythonServiceBusSdk();
  peer = await startServiceBusPeer({ tls: true, queues: {}, log: (line) => peerLog.push(line) });
});
afterAll(async () => {
  await peer?.close();
});

function newQueue(opts: { maxDeliveryCount?: number } = {}): string {
  const name = `py-${++queueNumber}`;
  peer.createQueue(name, opts);
  return name;
}

async function withPython(fn: (python: PythonServiceBusDriver) => Promise<void>, caFile = peer.tls!.caFile): Promise<void> {
  const python = await PythonServiceBusDriver.start(peer.tls!.connectionString(), caFile);
  try {
    await fn(python);
  } finally {
    await python.close();
  }
}

const message = (id: string) => ({ id, body: `body of ${id}` });

/**
 * uamqp settles peek-lock messages with a disposition that is already settled
 * (fire and forget, though the link asked for receive-settle-mode second), so
 * complete_message() and friends return before the broker applied them. Wait
 * for the effect on the peer instead.
 */
const applied = (check: () => void): Promise<void> => vi.waitFor(check, { timeout: 5_000, interval: 10 });

describe('Service Bus test peer driven by the Python SDK (azure-servicebus over uamqp, TLS)', () => {
  it('listens for TLS on port 5671 of a loopback address of its own, with a certificate for it', () => {
    expect(peer.tls?.port).toBe(5671);
    expect(peer.tls?.host).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(peer.tls?.connectionString()).toBe(
      `Endpoint=sb://${peer.tls!.host}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${'c2VydmljZWJ1cy1wZWVyLXRlc3Qta2V5LW5vdC1hLXNlY3JldA=='};`,
    );
    expect(peer.tls?.caPem).toContain('BEGIN CERTIFICATE');
  });

  it('refuseConnections closes the TLS listener too, and opens it again on the same address', async () => {
    const handshake = async (): Promise<string> => {
      const socket = connect({ host: peer.tls!.host, port: peer.tls!.port, ca: peer.tls!.caPem });
      try {
        const [outcome] = await Promise.race([once(socket, 'secureConnect').then(() => ['trusted']), once(socket, 'error')]);
        return outcome instanceof Error ? ((outcome as NodeJS.ErrnoException).code ?? outcome.message) : String(outcome);
      } finally {
        socket.destroy();
      }
    };
    expect(await handshake()).toBe('trusted');
    peer.faults.refuseConnections(true);
    try {
      await vi.waitFor(async () => expect(await handshake()).toBe('ECONNREFUSED'), { timeout: 5_000, interval: 20 });
    } finally {
      peer.faults.refuseConnections(false);
    }
    await vi.waitFor(async () => expect(await handshake()).toBe('trusted'), { timeout: 5_000, interval: 20 });
  });

  it('sends a batch, then peek-lock receive, renew, complete, abandon and dead-letter each change the queue', async () => {
    const queue = newQueue();
    const view = peer.queue(queue);
    await withPython(async (python) => {
      await python.ok({ op: 'send', queue, messages: ['a', 'b', 'c'].map(message) });
      expect(view.messageIds()).toEqual(['a', 'b', 'c']);
      const sends = peer.transfers().filter((t) => t.queue === queue);
      expect(sends.map((t) => [t.outcome, t.messages.map((m) => m.messageId)])).toEqual([['accepted', ['a', 'b', 'c']]]);

      const got = await python.receive(queue, 3);
      expect(got.map((m) => [m.id, m.body, m.delivery_count])).toEqual([
        ['a', 'body of a', 1],
        ['b', 'body of b', 1],
        ['c', 'body of c', 1],
      ]);
      expect(got.map((m) => m.sequence_number)).toEqual([1, 2, 3]);
      expect(view.locks().map((l) => l.messageId)).toEqual(['a', 'b', 'c']);
      const lockA = view.locks()[0]!;
      expect(got[0]!.locked_until_ms).toBe(lockA.lockedUntil);

      const renewed = await python.ok({ op: 'renew', id: 'a' });
      expect(renewed.locked_until_ms).toBeGreaterThan(lockA.lockedUntil);
      expect(view.locks().find((l) => l.messageId === 'a')?.lockedUntil).toBe(renewed.locked_until_ms);

      await python.ok({ op: 'complete', id: 'a' });
      await applied(() => expect(view.messageIds()).toEqual(['b', 'c']));
      expect(view.locks().map((l) => l.messageId)).toEqual(['b', 'c']);

      await python.ok({ op: 'abandon', id: 'b' });
      await applied(() => expect(view.locks().map((l) => l.messageId)).toEqual(['c']));
      expect(view.messageIds()).toEqual(['b', 'c']);

      await python.ok({ op: 'dead_letter', id: 'c', reason: 'HandlerRefused', description: 'permanent error in c' });
      await applied(() => expect(view.messageIds()).toEqual(['b']));
      expect(view.deadLetters()).toEqual([{ messageId: 'c', reason: 'HandlerRefused', description: 'permanent error in c' }]);

      const again = await python.receive(queue, 1);
      expect(again.map((m) => [m.id, m.delivery_count])).toEqual([['b', 2]]);
      await python.ok({ op: 'complete', id: 'b' });
      await applied(() => expect(view.activeCount()).toBe(0));
      expect(view.locks()).toEqual([]);
    });
  });

  it('schedules messages, gets their sequence numbers, and cancels one before it becomes active', async () => {
    const queue = newQueue();
    const view = peer.queue(queue);
    await withPython(async (python) => {
      const at = Date.now() + 1_500;
      const scheduled = await python.ok({ op: 'schedule', queue, messages: ['s1', 's2'].map(message), at_ms: at });
      expect(scheduled.sequence_numbers).toEqual([1, 2]);
      expect(view.scheduledIds()).toEqual(['s1', 's2']);
      expect(view.activeCount()).toBe(0);

      await python.ok({ op: 'cancel', queue, sequence_numbers: [1] });
      expect(view.scheduledIds()).toEqual(['s2']);

      const [due] = await python.receive(queue, 1, { waitSeconds: 10 });
      expect(Date.now()).toBeGreaterThanOrEqual(at);
      expect([due?.id, due?.sequence_number]).toEqual(['s2', 2]);
      // s1 is gone for good: neither waiting, nor active, nor dead-lettered.
      expect(view.scheduledIds()).toEqual([]);
      expect(view.messageIds()).toEqual(['s2']);
      expect(view.deadLetterCount()).toBe(0);
      await python.ok({ op: 'complete', id: 's2' });
      await applied(() => expect(view.activeCount()).toBe(0));
    });
  });

  it('abandons past the max delivery count into the dead-letter sub-queue, and receives and completes from there', async () => {
    const queue = newQueue({ maxDeliveryCount: 2 });
    const view = peer.queue(queue);
    await withPython(async (python) => {
      await python.ok({ op: 'send', queue, messages: [message('poison')] });
      for (const attempt of [1, 2]) {
        const [m] = await python.receive(queue, 1);
        expect([m?.id, m?.delivery_count]).toEqual(['poison', attempt]);
        await python.ok({ op: 'abandon', id: 'poison' });
        await applied(() => expect(view.locks()).toEqual([]));
      }
      expect(view.activeCount()).toBe(0);
      expect(view.deadLetters()).toEqual([
        { messageId: 'poison', reason: 'MaxDeliveryCountExceeded', description: 'Message could not be consumed after 2 delivery attempts.' },
      ]);

      const [dead] = await python.receive(queue, 1, { subQueue: 'deadletter' });
      expect(dead).toMatchObject({ id: 'poison', dead_letter_reason: 'MaxDeliveryCountExceeded', dead_letter_source: queue });
      await python.ok({ op: 'complete', id: 'poison' });
      await applied(() => expect(view.deadLetterCount()).toBe(0));
    });
  });

  it('is refused at the TLS handshake by a Python client that was not told to trust the peer certificate', async () => {
    const queue = newQueue();
    const failuresBefore = peerLog.filter((l) => l.startsWith('tls: handshake')).length;
    // '-' leaves connection_verify unset: the SDK trusts only its default CA bundle.
    const python = await PythonServiceBusDriver.start(peer.tls!.connectionString(), '-');
    try {
      // The SDK waits out its 60 s auth timeout after the refused handshake, so the send is not awaited.
      const send = python.call({ op: 'send', queue, messages: [message('x')] }, 120_000).catch(() => undefined);
      await vi.waitFor(() => expect(peerLog.filter((l) => l.startsWith('tls: handshake')).length).toBeGreaterThan(failuresBefore), {
        timeout: 15_000,
        interval: 50,
      });
      expect(peer.transfers().filter((t) => t.queue === queue)).toEqual([]);
      python.kill();
      await send;
    } finally {
      python.kill();
    }
  });
});
