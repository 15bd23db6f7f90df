import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';

/** The 8 bytes a PostgreSQL client sends to ask for TLS: length 8, then the code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export interface TlsPostgres {
  port: number;
  /** The server's self-signed certificate (PEM), for sslrootcert: it names `certificateHost`, not 127.0.0.1. */
  caFile: string;
  certificateHost: string;
  /** Connections that completed a TLS handshake, and ones that stayed plain. */
  readonly sessions: { tls: number; plain: number };
  close(): Promise<void>;
}

/**
 * A PostgreSQL server with TLS, as Azure Database for PostgreSQL is: a proxy
 * in front of the test server that answers a client's SSLRequest with "S",
 * ends TLS with a self-signed certificate (selfsigned) and passes the
 * protocol on in the clear. Plain clients pass straight through.
 */
export async function startTlsPostgres(target: { host: string; port: number }): Promise<TlsPostgres> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-tls-pg-'));
  const certificateHost = 'geo-test-postgres';
  // Its own trust anchor, naming a host that is not 127.0.0.1: verify-ca accepts it, verify-full does not.
  const pems = await generate([{ name: 'commonName', value: certificateHost }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 86_400_000),
    extensions: [
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: certificateHost }] },
    ],
  });
  const caFile = path.join(dir, 'cert.pem');
  await fs.writeFile(caFile, pems.cert);
  const context = { key: pems.private, cert: pems.cert };
  const sessions = { tls: 0, plain: 0 };
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.once('data', (first: Buffer) => {
      const upstream = net.connect(target.port, target.host);
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      if (!first.equals(SSL_REQUEST)) {
        sessions.plain++;
        upstream.write(first);
        client.pipe(upstream).pipe(client);
        return;
      }
      client.write('S');
      const secure = new tls.TLSSocket(client, { isServer: true, ...context });
      secure.on('error', () => client.destroy());
      secure.once('secure', () => sessions.tls++);
      secure.pipe(upstream).pipe(secure);
      upstream.on('close', () => secure.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    caFile,
    certificateHost,
    sessions,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
