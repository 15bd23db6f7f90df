// The peer's TLS endpoint, for clients that cannot switch TLS off. The Python
// SDK (azure-servicebus 7.8 over uamqp) always speaks AMQPS to port 5671: its
// only way to another port, custom_endpoint_address, also switches it to AMQP
// over WebSocket, which the peer does not speak. So the endpoint listens on
// 5671 at a loopback address of its own (Linux routes all of 127.0.0.0/8 to
// lo), which lets several peers run at once, with a throwaway self-signed
// certificate that names that address. Clients trust it through caFile.
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { generate } from 'selfsigned';
import { Listener } from './listener.js';
import type { PeerTlsOptions } from './types.js';

export const AMQPS_PORT = 5671;
const ATTEMPTS = 8;

export interface TlsEndpoint {
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
  readonly caPem: string;
  readonly listener: Listener;
  dispose(): Promise<void>;
}

interface Certificate {
  key: string;
  cert: string;
}

/** A leaf certificate for one IP address, valid for a day; its own trust anchor. */
async function certificateFor(ip: string): Promise<Certificate> {
  const pems = await generate([{ name: 'commonName', value: ip }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip }] },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

function randomLoopbackHost(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

function isAddressTaken(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'EADDRINUSE';
}

/** Listens for AMQPS; refusing connections (faults) is the returned listener's job, as for the plain one. */
export async function startTlsEndpoint(
  opts: PeerTlsOptions,
  onSocket: (socket: Socket) => void,
  onRefuse: () => void,
  log: (msg: string) => void,
): Promise<TlsEndpoint> {
  const port = opts.port ?? AMQPS_PORT;
  // A chosen host is used as given; a drawn one is drawn again when its port is taken.
  const attempts = opts.host ? 1 : ATTEMPTS;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const host = opts.host ?? randomLoopbackHost();
    const certificate = await certificateFor(host);
    const listener = new Listener(host, onSocket, onRefuse, log, (handle) => {
      const server = createServer({ key: certificate.key, cert: certificate.cert }, handle);
      server.on('tlsClientError', (err) => log(`tls: handshake with a client failed: ${err.message}`));
      return server;
    });
    try {
      await listener.start(port);
    } catch (err) {
      lastError = err;
      if (isAddressTaken(err)) continue;
      throw new Error(
        `the Service Bus peer could not listen for TLS on ${host}:${port} (${String(err)}); ` +
          'it needs the whole 127.0.0.0/8 routed to loopback, as Linux has it, or an explicit tls.host',
        { cause: err },
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'servicebus-peer-'));
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, certificate.cert);
    return {
      host,
      port: listener.port,
      caFile,
      caPem: certificate.cert,
      listener,
      async dispose(): Promise<void> {
        await listener.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`the Service Bus peer found no free loopback address for TLS on port ${port} after ${attempts} tries`, {
    cause: lastError,
  });
}
