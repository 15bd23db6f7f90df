// Every access to rhea state that its typings do not declare lives here, so
// that a rhea upgrade breaks one file rather than the whole peer.

import type { Socket } from 'node:net';
import type { Connection, Container, Delivery, Receiver, Sender, Source, TerminusOptions } from 'rhea';
import rhea from 'rhea';

interface AttachFields {
  snd_settle_mode?: number;
  rcv_settle_mode?: number;
  max_message_size?: number;
}

interface LinkInternals {
  local: { attach: AttachFields };
  remote: { attach?: AttachFields & { source?: { address?: string } | null; target?: { address?: string } | null } };
}

interface OutgoingDelivery {
  id: number;
  settled: boolean;
  remote_settled: boolean;
}

interface SenderInternals extends LinkInternals {
  credit: number;
  delivery_count: number;
  _draining: boolean;
  _drained: boolean;
  _get_drain(): boolean;
  session: {
    outgoing: {
      next_pending_delivery: number;
      available(): number;
      deliveries: { pop_if(f: (d: OutgoingDelivery) => boolean): number };
    };
  };
}

interface ConnectionInternals {
  socket?: Socket;
  accept(socket: Socket): Connection;
  _disconnected(): void;
}

type Outcome = unknown;
interface OutcomeFactory {
  accepted(): { described(): Outcome };
  rejected(fields: { error?: { condition: string; description?: string } }): { described(): Outcome };
  released(): { described(): Outcome };
  modified(fields: Record<string, unknown>): { described(): Outcome };
}
const outcomes = rhea.message as unknown as OutcomeFactory;

export const outcome = {
  accepted: (): Outcome => outcomes.accepted().described(),
  released: (): Outcome => outcomes.released().described(),
  /** Without a condition: a plain acknowledgement, since the SDK fails any settlement carrying an error. */
  rejected: (condition?: string, description?: string): Outcome =>
    outcomes.rejected(condition === undefined ? {} : { error: { condition, description } }).described(),
  modified: (fields: Record<string, unknown>): Outcome => outcomes.modified(fields).described(),
};

export function remoteAddresses(link: Sender | Receiver): { source?: string; target?: string } {
  const attach = (link as unknown as LinkInternals).remote.attach;
  return { source: attach?.source?.address ?? undefined, target: attach?.target?.address ?? undefined };
}

/**
 * The SDK expects its requested settle modes back and, for senders, a
 * max_message_size. A refused link keeps a null terminus, which is how AMQP
 * signals "not attached" before the detach carrying the error.
 */
export function prepareAttachReply(link: Sender | Receiver, opts: { maxMessageSize?: number; refuse?: boolean }): void {
  const l = link as unknown as LinkInternals;
  const remote = l.remote.attach;
  if (remote?.snd_settle_mode !== undefined) l.local.attach.snd_settle_mode = remote.snd_settle_mode;
  if (remote?.rcv_settle_mode !== undefined) l.local.attach.rcv_settle_mode = remote.rcv_settle_mode;
  if (opts.maxMessageSize !== undefined) l.local.attach.max_message_size = opts.maxMessageSize;
  if (opts.refuse) return;
  const { source, target } = remoteAddresses(link);
  // rhea's typings require an address; an absent one is legal AMQP (the $cbs reply link has none).
  link.set_source((source === undefined ? {} : { address: source }) as Source);
  link.set_target((target === undefined ? {} : { address: target }) as TerminusOptions);
}

/** Absolute delivery limit granted by the last flow (delivery-count + link-credit). */
export function deliveryLimit(sender: Sender): number {
  const s = sender as unknown as SenderInternals;
  return s.delivery_count + s.credit;
}

export function isDraining(sender: Sender): boolean {
  return (sender as unknown as SenderInternals)._draining === true;
}

/**
 * rhea only sets drain=true on the answering flow while credit remains; when the
 * last transfers used it up the SDK would wait out its drain timer. Answer the
 * drain whenever one is pending.
 */
export function answerDrainEvenAtZeroCredit(sender: Sender): void {
  const s = sender as unknown as SenderInternals;
  s._get_drain = function (this: SenderInternals): boolean {
    if (!this._draining || !this._drained) return false;
    this.delivery_count += this.credit;
    this.credit = 0;
    return true;
  };
}

export function outgoingRoom(sender: Sender): number {
  return (sender as unknown as SenderInternals).session.outgoing.available();
}

/**
 * rhea's outgoing buffer pops only from its head, so one delivery the client
 * never settles (its lock expired) would block the link after ~2 000 more.
 * Reclaim such heads locally; returns the number of freed slots.
 */
export function reclaimStaleHeads(sender: Sender, isStale: (d: Delivery) => boolean): number {
  const outgoing = (sender as unknown as SenderInternals).session.outgoing;
  return outgoing.deliveries.pop_if((d) => {
    if (d.settled && d.remote_settled) return true;
    if (d.id >= outgoing.next_pending_delivery || !isStale(d as unknown as Delivery)) return false;
    d.settled = true;
    d.remote_settled = true;
    return true;
  });
}

/**
 * Answer a receive-settle-mode-second disposition with a settled one. rhea
 * never sees a final settle from the client in this mode, so mark the delivery
 * remote-settled or its 2048-slot session buffer overflows.
 */
export function settleOutgoing(delivery: Delivery, state: Outcome): void {
  delivery.update(true, state);
  (delivery as unknown as OutgoingDelivery).remote_settled = true;
}

/**
 * Settles an incoming send at once, whatever receive-settle-mode the sender
 * asked for, as Service Bus does: uamqp attaches its senders with
 * receive-settle-mode second and then waits for a settled disposition, which
 * rhea would only send after a settle that uamqp never sends.
 */
export function settleIncoming(delivery: Delivery, state: Outcome): void {
  delivery.update(true, state);
}

export function acceptSocket(connection: Connection, socket: Socket): void {
  (connection as unknown as ConnectionInternals).accept(socket);
}

/**
 * rhea listens for 'end' and 'error' only, so a socket destroyed here would
 * leave its heartbeat timer running: run rhea's disconnect path by hand.
 */
export function abortConnection(connection: Connection): void {
  const c = connection as unknown as ConnectionInternals;
  c.socket?.destroy();
  c._disconnected();
}

interface DispositionDelivery {
  id: number;
  state: unknown;
  settled: boolean;
  link: { is_receiver(): boolean; session: { output(frame: unknown): void }; connection?: { container?: { id?: string } } };
}
interface SessionSides {
  incoming: { updated: DispositionDelivery[]; process(session: unknown): void };
  outgoing: { pending_dispositions: DispositionDelivery[]; process(): void };
}
interface FramesModule {
  disposition(fields: { role: boolean; first: number; last: number; state: unknown; settled: boolean }): unknown;
}

let dispositionsFixed = false;

/**
 * rhea 3.0.5 writes the dispositions of one tick as ranges, and merges a
 * delivery into a one-delivery range without comparing outcomes: an accepted
 * transfer followed by a rejected one are both reported accepted. Under
 * concurrent sends the SDK then resolves a send the peer rejected (a lost
 * batch), so the peer writes one disposition per delivery, as Service Bus does.
 *
 * Only the peer's own sessions (those of container `containerId`) are
 * changed: the SDK's rhea is the same module in a test process, and its
 * client side must keep rhea's real behaviour, or a test could not see the
 * bug a geo consumer has to work around (transports/settlement-gate.ts).
 */
export async function writeDispositionsOneByOne(containerId: string): Promise<void> {
  if (dispositionsFixed) return;
  dispositionsFixed = true;
  const framesModule = (await import('rhea/lib/frames.js')) as unknown as { default?: FramesModule } & FramesModule;
  const frames = framesModule.default ?? framesModule;
  const probe = rhea.create_connection().create_session() as unknown as SessionSides;
  const writeEach = (deliveries: DispositionDelivery[]): void => {
    for (const d of deliveries) {
      d.link.session.output(frames.disposition({ role: d.link.is_receiver(), first: d.id, last: d.id, state: d.state, settled: d.settled }));
    }
  };
  // A session belongs to one connection, so its first delivery tells whose it is.
  const isPeers = (deliveries: DispositionDelivery[]): boolean => deliveries[0]?.link.connection?.container?.id === containerId;
  const incoming = Object.getPrototypeOf(probe.incoming) as SessionSides['incoming'];
  const incomingProcess = incoming.process;
  incoming.process = function (this: SessionSides['incoming'], session: unknown): void {
    if (isPeers(this.updated)) {
      writeEach(this.updated);
      this.updated = [];
    }
    incomingProcess.call(this, session);
  };
  const outgoing = Object.getPrototypeOf(probe.outgoing) as SessionSides['outgoing'];
  const outgoingProcess = outgoing.process;
  outgoing.process = function (this: SessionSides['outgoing']): void {
    if (isPeers(this.pending_dispositions)) {
      writeEach(this.pending_dispositions);
      this.pending_dispositions = [];
    }
    outgoingProcess.call(this);
  };
}

interface ServerMechanism {
  outcome: boolean | undefined;
  username: string | undefined;
  start(response?: Buffer, hostname?: string): void;
}
interface ServerMechanisms {
  enable_anonymous(): void;
  [name: string]: unknown;
}

/**
 * SASL mechanisms the peer offers. ANONYMOUS is what @azure/service-bus ends
 * up with; uamqp (the Python SDK) asks for MSSBCBS, Service Bus's "the token
 * comes later over $cbs" mechanism: no credentials in SASL, always accepted.
 * ANONYMOUS present also keeps rhea accepting clients that skip SASL.
 */
export function offerServiceBusSasl(container: Container): void {
  const mechs = container.sasl_server_mechanisms as ServerMechanisms;
  mechs.enable_anonymous();
  mechs.MSSBCBS = (): ServerMechanism => ({
    outcome: undefined,
    username: undefined,
    start(): void {
      this.outcome = true;
      this.username = 'MSSBCBS';
    },
  });
}
