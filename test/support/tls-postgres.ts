import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

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
 * ends TLS with a self-signed certificate (made with openssl) and passes the
 * protocol on in the clear. Plain clients pass straight through.
 */
export async function startTlsPostgres(target: { host: string; port: number }): Promise<TlsPostgres> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-tls-pg-'));
  const certificateHost = 'geo-test-postgres';
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', keyFile, '-out', caFile,
    '-subj', `/CN=${certificateHost}`, '-addext', `subjectAltName=DNS:${certificateHost}`,
  ]);
  const context = { key: await fs.readFile(keyFile), cert: await fs.readFile(caFile) };
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
