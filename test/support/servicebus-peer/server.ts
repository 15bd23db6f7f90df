// AMQP side of the peer: one rhea container, sockets handed in by the
// listener, and routing of links and deliveries to CBS, $management and queues.
import type { Socket } from 'node:net';
import rhea from 'rhea';
import type { Connection, ConnectionOptions, Container, EventContext, Receiver, Sender } from 'rhea';
import { Claims, type SasCredentials } from './cbs.js';
import { Consumer, type SettlementKind } from './consumer.js';
import { abortConnection, acceptSocket, prepareAttachReply, remoteAddresses } from './internals.js';
import { handleManagement } from './management.js';
import type { PeerQueue } from './queue.js';
import type { QueueRegistry } from './registry.js';
import { ReplyLinks, respond } from './requests.js';
import type { TransferHandler, TransferOrigin } from './transfers.js';

type Role =
  | { kind: 'cbs' }
  | { kind: 'reply' }
  | { kind: 'management'; queue: PeerQueue }
  | { kind: 'producer'; queue: PeerQueue }
  | { kind: 'consumer'; consumer: Consumer };

export interface ServerDeps {
  registry: QueueRegistry;
  credentials: SasCredentials;
  transfers: TransferHandler;
  maxMessageSize: number;
  log: (msg: string) => void;
}

class PeerConnection implements TransferOrigin {
  alive = true;
  readonly claims = new Claims();
  readonly replies = new ReplyLinks();
  readonly consumers = new Set<Consumer>();

  constructor(
    readonly amqp: Connection,
    private readonly onGone: (c: PeerConnection) => void,
    private readonly log: (msg: string) => void,
  ) {
    this.gone = new Promise((resolve) => (this.markGone = resolve));
  }

  /** Resolves when the socket is gone; the listener-owned socket 'close' event drives release(). */
  readonly gone: Promise<void>;
  private markGone: () => void = () => {};

  drop(reason: string): void {
    if (!this.alive) return;
    this.log(`connection ${this.amqp.options.id}: dropped (${reason})`);
    this.release();
    abortConnection(this.amqp);
  }

  /** Idempotent: called on close, disconnect, socket close and our own drops. */
  release(): void {
    this.markGone();
    if (!this.alive) return;
    this.alive = false;
    for (const consumer of this.consumers) consumer.close();
    this.consumers.clear();
    this.onGone(this);
  }
}

const SETTLEMENTS: SettlementKind[] = ['accepted', 'released', 'modified', 'rejected'];

export class AmqpServer {
  private readonly container: Container;
  private readonly connections = new Set<PeerConnection>();
  private readonly byAmqp = new WeakMap<Connection, PeerConnection>();
  private readonly roles = new WeakMap<Sender | Receiver, Role>();

  constructor(private readonly deps: ServerDeps) {
    // autoaccept off: the peer settles transfers itself (faults, latency).
    // treat_modified_as_released off: abandon must be handled once, not twice.
    this.container = rhea.create_container({
      id: 'servicebus-test-peer',
      treat_modified_as_released: false,
      receiver_options: { autoaccept: false },
    });
    this.wire();
  }

  accept(socket: Socket): void {
    // Server-side options only; rhea's typings describe client connections (host/port required).
    const options = { id: `peer-${socket.remotePort ?? 0}`, container_id: 'servicebus-test-peer' };
    const amqp = this.container.create_connection(options as unknown as ConnectionOptions);
    const conn = new PeerConnection(amqp, (c) => this.connections.delete(c), this.deps.log);
    this.byAmqp.set(amqp, conn);
    this.connections.add(conn);
    socket.once('close', () => conn.release());
    acceptSocket(amqp, socket);
  }

  dropAll(reason: string): void {
    for (const conn of [...this.connections]) conn.drop(reason);
  }

  /**
   * Closes connections the way a broker shutting down does (close with
   * amqp:connection:forced) and waits for the clients to hang up, up to
   * graceMs. Cutting sockets instead makes @azure/service-bus 7.9.5's
   * client.close() hang when it is called while the disconnect is still
   * being processed.
   */
  async closeAll(graceMs: number): Promise<void> {
    const open = [...this.connections];
    for (const conn of open) conn.amqp.close({ condition: 'amqp:connection:forced', description: 'The test peer is shutting down.' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(open.map((c) => c.gone)), timeout]);
    clearTimeout(timer);
    this.dropAll('peer closing');
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
    c.on('connection_close', (ctx: EventContext) => this.byAmqp.get(ctx.connection)?.release());
    c.on('disconnected', (ctx: EventContext) => this.byAmqp.get(ctx.connection)?.release());
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
  private admit(conn: PeerConnection, link: Sender | Receiver, address: string | undefined) {
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
    const conn = this.byAmqp.get(amqp);
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
    const conn = this.byAmqp.get(amqp);
    if (!conn) return;
    const { target } = remoteAddresses(receiver);
    if (target === '$cbs') {
      this.roles.set(receiver, { kind: 'cbs' });
      prepareAttachReply(receiver, {});
      return;
    }
    const resolved = this.admit(conn, receiver, target);
    if (!resolved) return;
    if (resolved.management) {
      this.roles.set(receiver, { kind: 'management', queue: resolved.queue });
      prepareAttachReply(receiver, {});
      return;
    }
    this.roles.set(receiver, { kind: 'producer', queue: resolved.queue });
    prepareAttachReply(receiver, { maxMessageSize: this.deps.maxMessageSize });
  }

  private onMessage(ctx: EventContext): void {
    const { receiver, delivery, message } = ctx;
    const conn = this.byAmqp.get(ctx.connection);
    const role = receiver && this.roles.get(receiver);
    if (!conn || !role || !delivery || message === undefined) return;
    if (role.kind === 'producer') {
      const format = (ctx as { format?: number }).format;
      this.deps.transfers.handle(conn, role.queue, delivery, message, format);
      return;
    }
    delivery.accept();
    if (role.kind === 'cbs') {
      respond(conn.replies, message, conn.claims.handle(message, this.deps.credentials, this.deps.log));
    } else if (role.kind === 'management') {
      respond(conn.replies, message, handleManagement(role.queue, message));
    }
  }

  private onLinkClosed(amqp: Connection, link: Sender | Receiver): void {
    const role = this.roles.get(link);
    this.roles.delete(link);
    const conn = this.byAmqp.get(amqp);
    if (role?.kind === 'consumer') {
      role.consumer.close();
      conn?.consumers.delete(role.consumer);
    } else if (role?.kind === 'reply' && link.is_sender()) {
      conn?.replies.remove(link as Sender);
    }
  }
}
