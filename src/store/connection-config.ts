import type pg from 'pg';
import { InputError } from '../errors.js';
import { redact, urlSecrets } from '../secrets/redact.js';
import { connectionString as urls } from './pg.js';

/**
 * pg's client settings for a connection URL, with libpq's meaning of
 * `sslmode` (PostgreSQL's "SSL Support" page): `disable` does not encrypt;
 * `prefer` and `require` encrypt without checking the server's certificate
 * (`require` is what Azure Database for PostgreSQL documents; pg cannot fall
 * back to a plain connection, so `prefer` is `require` here); `verify-ca`
 * checks the certificate against `sslrootcert`; `verify-full` also checks
 * that it names the host. pg 8 reads `require` and `verify-ca` as
 * `verify-full` and prints a nine-line SECURITY WARNING on every command;
 * libpq's semantics are what that warning offers and what pg 9 will use.
 */
export function clientConfigFor(connectionString: string): pg.ClientConfig {
  // A URL that chose for itself (uselibpqcompat=...) is left alone: pg refuses the choice made twice.
  const chosen = /[?&]uselibpqcompat=/i.test(connectionString);
  try {
    return urls.toClientConfig(urls.parse(connectionString, { useLibpqCompat: !chosen }));
  } catch (err) {
    throw new InputError('CONFIG_INVALID', `DATABASE_URL: ${problem(err, connectionString)}`, { cause: err });
  }
}

function problem(err: unknown, connectionString: string): string {
  const e = err as NodeJS.ErrnoException;
  if (/sslmode=verify-ca requires/.test(e.message ?? '')) {
    return 'sslmode=verify-ca needs sslrootcert=<file of the CA certificate> to check the server against; with a public CA use sslmode=verify-full';
  }
  // The certificate files named by sslrootcert, sslcert and sslkey are read here.
  if (e.code !== undefined && e.path !== undefined) return `cannot read ${e.path} (${e.code})`;
  return redact(e.message ?? String(err), urlSecrets(connectionString));
}
