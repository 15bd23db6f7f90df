import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startTlsPostgres, type TlsPostgres } from '../support/tls-postgres.js';

let db: TestDatabase;
let server: TlsPostgres;
beforeAll(async () => {
  db = await createTestDatabase();
  const url = new URL(db.url);
  server = await startTlsPostgres({ host: url.hostname, port: Number(url.port) });
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** The test database through the TLS server, with these query parameters. */
function urlWith(params: Record<string, string>): string {
  const url = new URL(db.url);
  url.port = String(server.port);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

function geo(args: string[], params: Record<string, string>) {
  return runGeo(args, { DATABASE_URL: urlWith(params), GEO_HOME: path.join(os.tmpdir(), 'geo-sslmode-test-unused') });
}

describe('DATABASE_URL sslmode has libpq semantics, with no warning', () => {
  it('require: encrypts without checking the certificate; nothing printed but the result', async () => {
    const before = server.sessions.tls;
    const result = await geo(['submit', 'hello_world', '--n', '5', '--param', 'name=ssl-require', '--json'], { sslmode: 'require' });
    expect(result.code, result.stderr).toBe(0);
    expect(parseJsonOutput(result)).toMatchObject({ queued: 5 });
    // pg used to print a nine-line SECURITY WARNING here on every command.
    expect(result.stderr).toBe('');
    // The case named: the connection really was TLS, to a server whose certificate no CA signed.
    expect(server.sessions.tls).toBeGreaterThan(before);
  });

  it('verify-full checks the certificate: a self-signed one is refused (exit 3), and a CA-signed one naming another host too', async () => {
    const unsigned = await geo(['migrate', '--json'], { sslmode: 'verify-full' });
    expect(unsigned.code).toBe(3);
    expect(parseJsonOutput<{ error: { code: string; message: string } }>(unsigned).error).toMatchObject({
      code: 'DATABASE_UNREACHABLE',
      message: expect.stringMatching(/self[- ]signed certificate/),
    });
    const otherHost = await geo(['migrate', '--json'], { sslmode: 'verify-full', sslrootcert: server.caFile });
    expect(otherHost.code).toBe(3);
    expect(parseJsonOutput<{ error: { message: string } }>(otherHost).error.message).toContain(
      "Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list",
    );
    for (const result of [unsigned, otherHost]) expect(result.stderr).not.toMatch(/SECURITY WARNING|Warning/);
  });

  it('verify-ca checks the certificate against sslrootcert, not the host name', async () => {
    const result = await geo(['migrate', '--json'], { sslmode: 'verify-ca', sslrootcert: server.caFile });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/SECURITY WARNING|Warning/);
  });

  it('verify-ca without sslrootcert is a clear configuration error, exit 2', async () => {
    const result = await geo(['migrate', '--json'], { sslmode: 'verify-ca' });
    expect(result.code).toBe(2);
    expect(parseJsonOutput(result)).toEqual({
      error: {
        code: 'CONFIG_INVALID',
        message:
          'DATABASE_URL: sslmode=verify-ca needs sslrootcert=<file of the CA certificate> to check the server against; with a public CA use sslmode=verify-full',
      },
    });
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('disable: a plain connection', async () => {
    const before = server.sessions.plain;
    const result = await geo(['migrate', '--json'], { sslmode: 'disable' });
    expect(result.code, result.stderr).toBe(0);
    expect(server.sessions.plain).toBeGreaterThan(before);
  });
});
