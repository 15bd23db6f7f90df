// TCP or TLS listener. Refusing connections really closes the listening
// socket, so clients see ECONNREFUSED like an unreachable broker, then listens
// again on the same port.
import { createServer, type Server, type Socket } from 'node:net';

/** Makes a server that hands each accepted (for TLS: handshaken) socket to onSocket. */
export type ServerFactory = (onSocket: (socket: Socket) => void) => Server;

const plainTcp: ServerFactory = (onSocket) => createServer(onSocket);

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

export class Listener {
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private closed = false;
  // Listen/close steps are chained so a quick on/off/on sequence cannot interleave.
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: string,
    private readonly onSocket: (socket: Socket) => void,
    private readonly onRefuse: () => void,
    private readonly log: (msg: string) => void,
    private readonly serve: ServerFactory = plainTcp,
  ) {}

  async start(port: number): Promise<void> {
    this.port = await this.open(port);
  }

  setRefusing(on: boolean): void {
    if (on === this.refusing || this.closed) return;
    this.refusing = on;
    if (on) {
      const server = this.server;
      this.server = undefined;
      this.pending = this.pending.then(() => closeServer(server));
      this.onRefuse();
      this.destroySockets();
      return;
    }
    this.pending = this.pending
      .then(async () => {
        if (!this.closed && !this.refusing) await this.open(this.port);
      })
      .catch((err: unknown) => this.log(`listener: could not listen again on ${this.port}: ${String(err)}`));
  }

  /** Stops accepting connections; sockets already accepted stay open until close(). */
  stopAccepting(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = this.pending.then(() => {
      const server = this.server;
      this.server = undefined;
      return closeServer(server);
    });
  }

  async close(): Promise<void> {
    this.stopAccepting();
    this.destroySockets();
    await this.pending;
  }

  private async open(port: number): Promise<number> {
    const server = this.serve((socket) => this.onConnection(socket));
    // Tracked from the TCP accept on: a TLS socket still in its handshake must be cut on close too.
    server.on('connection', (raw: Socket) => {
      this.sockets.add(raw);
      raw.once('close', () => this.sockets.delete(raw));
    });
    const bound = await listen(server, this.host, port);
    this.server = server;
    return bound;
  }

  private onConnection(socket: Socket): void {
    if (this.refusing || this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // Loopback bulk traffic: Nagle only adds latency to settlements.
    socket.setNoDelay(true);
    this.onSocket(socket);
  }

  private destroySockets(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
