// AMQP side of the peer: one rhea container, sockets handed in by the
// listener, and routing of links and deliveries to CBS, $management and queues.
import type { Socket } from 'node:net';
import type { Connection, ConnectionOptions, Container, EventContext, Receiver, Sender } from 'rhea';
import rhea from 'rhea';
import type { SasCredentials } from './cbs.js';
import { ConnectionSet, type PeerConnection } from './connection.js';
import { Consumer, type SettlementKind } from './consumer.js';
import { acceptSocket, offerServiceBusSasl, outcome, prepareAttachReply, remoteAddresses, settleIncoming } from './internals.js';
import { handleManagement } from './management.js';
import type { PeerQueue } from './queue.js';
import type { QueueRegistry, ResolvedAddress } from './registry.js';
import { appProperty, type Reply, respond } from './requests.js';
import type { TransferHandler } from './transfers.js';

type Role =
  | { kind: 'cbs' }
  | { kind: 'reply' }
  | { kind: 'management'; queue: PeerQueue; node: string }
  | { kind: 'producer'; queue: PeerQueue }
  | { kind: 'consumer'; consumer: Consumer };

export interface ServerDeps {
  registry: QueueRegistry;
  credentials: SasCredentials;
  transfers: TransferHandler;
  maxMessageSize: number;
  log: (msg: string) => void;
}

const SETTLEMENTS: SettlementKind[] = ['accepted', 'released', 'modified', 'rejected'];

/** The peer's rhea container id; its connections are the peer's side. */
export const PEER_CONTAINER_ID = 'servicebus-test-peer';

export class AmqpServer {
  private readonly container: Container;
  private readonly connections: ConnectionSet;
  private readonly roles = new WeakMap<Sender | Receiver, Role>();

  constructor(private readonly deps: ServerDeps) {
    // autoaccept off: the peer settles transfers itself (faults, latency).
    // treat_modified_as_released off: abandon must be handled once, not twice.
    this.connections = new ConnectionSet(deps.log);
    this.container = rhea.create_container({
      id: PEER_CONTAINER_ID,
      treat_modified_as_released: false,
      receiver_options: { autoaccept: false },
    });
    offerServiceBusSasl(this.container);
    this.wire();
  }

  accept(socket: Socket): void {
    // Server-side options only; rhea's typings describe client connections (host/port required).
    const options = { id: `peer-${socket.remotePort ?? 0}`, container_id: PEER_CONTAINER_ID };
    const amqp = this.container.create_connection(options as unknown as ConnectionOptions);
    const conn = this.connections.add(amqp);
    socket.once('close', () => conn.release());
    acceptSocket(amqp, socket);
  }

  dropAll(reason: string): void {
    this.connections.dropAll(reason);
  }

  sendLinks(): number {
    return this.connections.sendLinks();
  }

  closeAll(graceMs: number): Promise<void> {
    return this.connections.closeAll(graceMs);
  }

  private wire(): void {
    const c = this.container;
    const log = this.deps.log;
    c.on('sender_open', (ctx: EventContext) => ctx.sender && this.onSenderOpen(ctx.connection, ctx.sender));
    c.on('receiver_open', (ctx: EventContext) => ctx.receiver && this.onReceiverOpen(ctx.connection, ctx.receiver));
    c.on('message', (ctx: EventContext) => this.onMessage(ctx));
    c.on('sender_flow', (ctx: EventContext) => this.consumerOf(ctx.sender)?.onFlow());
    c.on('sendable', (ctx: EventContext) => this.consumerOf(ctx.sender)?.fill());
    for (const kind of SETTLEMENTS) {
      c.on(kind, (ctx: EventContext) => ctx.delivery && this.consumerOf(ctx.sender)?.onSettlement(ctx.delivery, kind));
    }
    c.on('sender_close', (ctx: EventContext) => ctx.sender && this.onLinkClosed(ctx.connection, ctx.sender));
    c.on('receiver_close', (ctx: EventContext) => ctx.receiver && this.onLinkClosed(ctx.connection, ctx.receiver));
    c.on('connection_close', (ctx: EventContext) => this.connections.get(ctx.connection)?.release());
    c.on('disconnected', (ctx: EventContext) => this.connections.get(ctx.connection)?.release());
    for (const event of ['connection_error', 'session_error', 'sender_error', 'receiver_error', 'protocol_error']) {
      c.on(event, (ctx: EventContext) => log(`${event} on ${ctx.connection?.options?.id ?? '?'}`));
    }
    // An unhandled 'error' on an EventEmitter throws; a test peer must only report it.
    c.on('error', (err: unknown) => log(`rhea error: ${String(err)}`));
  }

  private consumerOf(sender: Sender | undefined): Consumer | undefined {
    const role = sender && this.roles.get(sender);
    return role?.kind === 'consumer' ? role.consumer : undefined;
  }

  /**
   * Refused attaches keep a null terminus and are closed with the error. The
   * SDK surfaces amqp:not-found as MessagingEntityNotFound and
   * amqp:unauthorized-access as UnauthorizedAccess.
   */
  private refuse(link: Sender | Receiver, condition: string, description: string): void {
    this.deps.log(`refusing link ${link.name}: ${condition} ${description}`);
    prepareAttachReply(link, { refuse: true });
    link.close({ condition, description });
  }

  /** Common checks for links to a queue: returns the resolution or refuses the link. */
  private admit(conn: PeerConnection, link: Sender | Receiver, address: string | undefined): ResolvedAddress | undefined {
    const resolved = this.deps.registry.resolve(address);
    if (!resolved) {
      this.refuse(link, 'amqp:not-found', `The messaging entity '${address ?? ''}' could not be found.`);
      return undefined;
    }
    if (!conn.claims.covers(address ?? '')) {
      this.refuse(link, 'amqp:unauthorized-access', `Unauthorized access to '${address ?? ''}': no valid token was put on $cbs.`);
      return undefined;
    }
    return resolved;
  }

  /** The client attached a receiver: $cbs/$management replies, or a queue consumer. */
  private onSenderOpen(amqp: Connection, sender: Sender): void {
    const conn = this.connections.get(amqp);
    if (!conn) return;
    const { source } = remoteAddresses(sender);
    if (source === '$cbs') {
      this.roles.set(sender, { kind: 'reply' });
      conn.replies.add(sender);
      prepareAttachReply(sender, {});
      return;
    }
    const resolved = this.admit(conn, sender, source);
    if (!resolved) return;
    prepareAttachReply(sender, {});
    if (resolved.management) {
      this.roles.set(sender, { kind: 'reply' });
      conn.replies.add(sender);
      return;
    }
    const consumer = new Consumer(sender, resolved.queue);
    conn.consumers.add(consumer);
    this.roles.set(sender, { kind: 'consumer', consumer });
  }

  /** The client attached a sender: $cbs/$management requests, or sends to a queue. */
  private onReceiverOpen(amqp: Connection, receiver: Receiver): void {
    const conn = this.connections.get(amqp);
    if (!conn) return;
    const { target } = remoteAddresses(receiver);
    if (target === '$cbs') {
      this.roles.set(receiver, { kind: 'cbs' });
      prepareAttachReply(receiver, {});
      return;
    }
    const resolved = this.admit(conn, receiver, target);
    if (!resolved) return;
    const queue = resolved.queue;
    queue.links.set(receiver, (condition, description) => receiver.close({ condition, description }));
    conn.queueLinks.set(receiver, queue);
    if (resolved.management) {
      this.roles.set(receiver, { kind: 'management', queue, node: target ?? '' });
      prepareAttachReply(receiver, {});
      return;
    }
    this.roles.set(receiver, { kind: 'producer', queue });
    prepareAttachReply(receiver, { maxMessageSize: this.deps.maxMessageSize });
  }

  private onMessage(ctx: EventContext): void {
    const { receiver, delivery, message } = ctx;
    const conn = this.connections.get(ctx.connection);
    const role = receiver && this.roles.get(receiver);
    if (!conn || !role || !delivery || message === undefined) return;
    if (role.kind === 'producer') {
      const format = (ctx as { format?: number }).format;
      this.deps.transfers.handle(conn, role.queue, delivery, message, format);
      return;
    }
    settleIncoming(delivery, outcome.accepted());
    let reply: Reply;
    let node: string;
    if (role.kind === 'cbs') {
      reply = conn.claims.handle(message, this.deps.credentials, this.deps.log);
      node = '$cbs';
    } else if (role.kind === 'management') {
      reply = handleManagement(role.queue, message);
      node = role.node;
      this.deps.log(`$management ${String(appProperty(message, 'operation'))} on ${role.queue.name}: ${reply.status}`);
    } else {
      return;
    }
    // rhea writes a tick's transfers before its dispositions, and uamqp drops
    // a reply that arrives before the disposition of its request ("Did not
    // receive send confirmation"): answer once that disposition is written.
    setImmediate(() => respond(conn.replies, message, reply, node));
  }

  private onLinkClosed(amqp: Connection, link: Sender | Receiver): void {
    const role = this.roles.get(link);
    this.roles.delete(link);
    const conn = this.connections.get(amqp);
    if (role?.kind === 'consumer') {
      role.consumer.close();
      conn?.consumers.delete(role.consumer);
    } else if (role?.kind === 'producer' || role?.kind === 'management') {
      role.queue.links.delete(link);
      conn?.queueLinks.delete(link);
    } else if (role?.kind === 'reply' && link.is_sender()) {
      conn?.replies.remove(link as Sender);
    }
  }
}
