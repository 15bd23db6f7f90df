import type { ServiceBusReceivedMessage } from '@azure/service-bus';
import { TransportError } from '../errors.js';
import { tryParseTaskMessage } from './message.js';
import { connectServiceBus, type ServiceBusConfig } from './servicebus-connect.js';
import { classifyServiceBusError, preflightError } from './servicebus-errors.js';
import { SettlementGate } from './settlement-gate.js';
import type { ReceivedMessage, TransportConsumer } from './transport.js';

/**
 * Reason and description travel as application properties, which the broker
 * limits in size: a stack trace as long as it likes must not make the dead-letter fail.
 */
const MAX_REASON_CHARS = 1_024;

/**
 * Azure Service Bus, consumer half: a peekLock receiver. Locks are renewed by
 * the caller through `renew` (the SDK's own auto-renewal is off, so a lock is
 * held only while the worker holds the task; a hung handler does not keep a
 * message away from other workers for the SDK's default five minutes).
 * Settlements pass through a SettlementGate (rhea 3.0.5 merges dispositions).
 */
export async function createServiceBusConsumer(config: ServiceBusConfig): Promise<TransportConsumer> {
  const { client, target, redact } = connectServiceBus(config);
  const receiver = client.createReceiver(config.queue, { receiveMode: 'peekLock', maxAutoLockRenewalDurationInMs: 0 });
  try {
    // Opens the receiver's session: authentication and the queue's existence are checked here.
    await receiver.peekMessages(1);
  } catch (err) {
    await receiver.close().catch(() => undefined);
    await client.close().catch(() => undefined);
    throw preflightError(err, target, redact);
  }
  const deliveries = new WeakMap<ReceivedMessage, ServiceBusReceivedMessage>();
  const gate = new SettlementGate();
  let closed = false;

  const fail = (what: string) => (err: unknown) => {
    throw classifyServiceBusError(err, `${what} on ${target}`, redact);
  };
  const sdkMessage = (m: ReceivedMessage): ServiceBusReceivedMessage => {
    const sb = deliveries.get(m);
    if (!sb) throw new TransportError('NOT_RECEIVED_HERE', `${target}: the message was not received by this consumer`, { retryable: false });
    return sb;
  };

  return {
    name: 'servicebus',
    target,
    claimsOnReceive: false,
    async receive(max, waitMs) {
      const received = await receiver.receiveMessages(Math.max(1, max), { maxWaitTimeInMs: waitMs }).catch(fail('receive'));
      return received.map((sb) => {
        const m = toReceived(sb);
        deliveries.set(m, sb);
        return m;
      });
    },
    complete: (m) => gate.run('complete', () => receiver.completeMessage(sdkMessage(m))).catch(fail('complete')),
    abandon: (m) => gate.run('other', () => receiver.abandonMessage(sdkMessage(m))).catch(fail('abandon')),
    deadLetter: (m, reason, description) =>
      gate
        .run('other', () =>
          receiver.deadLetterMessage(sdkMessage(m), {
            deadLetterReason: reason.slice(0, MAX_REASON_CHARS),
            deadLetterErrorDescription: description.slice(0, MAX_REASON_CHARS),
          }),
        )
        .catch(fail('dead-letter')),
    async renew(m) {
      const until = await receiver.renewMessageLock(sdkMessage(m)).catch(fail('renew lock'));
      (m as { lockedUntil: Date }).lockedUntil = until;
      return until;
    },
    async close() {
      if (closed) return;
      closed = true;
      await receiver.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

function toReceived(sb: ServiceBusReceivedMessage): ReceivedMessage {
  const parsed = tryParseTaskMessage(sb.body);
  return {
    body: sb.body,
    ...parsed,
    deliveryCount: sb.deliveryCount ?? 1,
    messageId: String(sb.messageId ?? ''),
    receipt: sb.lockToken ?? '',
    lockedUntil: sb.lockedUntilUtc ?? new Date(),
  };
}
