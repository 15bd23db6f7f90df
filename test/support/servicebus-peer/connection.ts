// Per-connection state of the peer: claims put on $cbs, reply links, and the
// queue consumers to stop when the connection goes away.
import type { Connection } from 'rhea';
import { Claims } from './cbs.js';
import type { Consumer } from './consumer.js';
import { abortConnection } from './internals.js';
import type { PeerQueue } from './queue.js';
import { ReplyLinks } from './requests.js';
import type { TransferOrigin } from './transfers.js';

export class PeerConnection implements TransferOrigin {
  alive = true;
  readonly claims = new Claims();
  readonly replies = new ReplyLinks();
  readonly consumers = new Set<Consumer>();
  /** Sender and $management links of this connection, by the queue they are registered with. */
  readonly queueLinks = new Map<object, PeerQueue>();
  /** Resolves once the connection is closed or its socket is gone. */
  readonly gone: Promise<void>;
  private markGone: () => void = () => {};

  constructor(
    readonly amqp: Connection,
    private readonly onGone: (c: PeerConnection) => void,
    private readonly log: (msg: string) => void,
  ) {
    this.gone = new Promise((resolve) => (this.markGone = resolve));
  }

  /**
   * Cuts the connection without an AMQP close, as a crashed broker or a
   * network fault would. rhea raises no event for a socket destroyed on this
   * side, so the bookkeeping is released here explicitly.
   */
  drop(reason: string): void {
    if (!this.alive) return;
    this.log(`connection ${this.amqp.options.id}: dropped (${reason})`);
    this.release();
    abortConnection(this.amqp);
  }

  /** Idempotent: runs on AMQP close, disconnect, socket close and drop(). */
  release(): void {
    this.markGone();
    if (!this.alive) return;
    this.alive = false;
    // Consumers stop delivering; their locks stay until they expire, as on the broker.
    for (const consumer of this.consumers) consumer.close();
    this.consumers.clear();
    for (const [link, queue] of this.queueLinks) queue.links.delete(link);
    this.queueLinks.clear();
    this.onGone(this);
  }

  /** Graceful close, as a broker shutting down sends it. */
  close(description: string): void {
    this.amqp.close({ condition: 'amqp:connection:forced', description });
  }
}

/** The peer's open connections, looked up by their rhea connection. */
export class ConnectionSet {
  private readonly open = new Set<PeerConnection>();
  private readonly byAmqp = new WeakMap<Connection, PeerConnection>();

  constructor(private readonly log: (msg: string) => void) {}

  add(amqp: Connection): PeerConnection {
    const conn = new PeerConnection(amqp, (c) => this.open.delete(c), this.log);
    this.byAmqp.set(amqp, conn);
    this.open.add(conn);
    return conn;
  }

  get(amqp: Connection | undefined): PeerConnection | undefined {
    return amqp ? this.byAmqp.get(amqp) : undefined;
  }

  dropAll(reason: string): void {
    for (const conn of [...this.open]) conn.drop(reason);
  }

  /** Clients' sending links to queues still attached: one the peer detached counts until the client answers. */
  sendLinks(): number {
    let n = 0;
    for (const conn of this.open) n += conn.queueLinks.size;
    return n;
  }

  /**
   * Closes connections as a broker shutting down does and waits up to graceMs
   * for clients to hang up, then cuts the rest. Cutting sockets straight away
   * makes @azure/service-bus 7.9.5's client.close() hang when it is called
   * while the client is still handling the disconnect.
   */
  async closeAll(graceMs: number): Promise<void> {
    const closing = [...this.open];
    for (const conn of closing) conn.close('The test peer is shutting down.');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(closing.map((c) => c.gone)), grace]);
    clearTimeout(timer);
    this.dropAll('peer closing');
  }
}
