import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../../src/store/embedded/server.js';

export { admin, withDatabase } from '../../test/support/admin.js';

/** The server a bench works on: DATABASE_URL's, or an embedded one in a temporary GEO_HOME. */
export interface BenchServer {
  adminUrl: string;
  /** The embedded server's GEO_HOME, when the bench started one. */
  home?: string;
  /** Stops the embedded server the bench started, and removes its home. */
  close(): Promise<void>;
}

/**
 * A temporary GEO_HOME that its embedded server's data stays inside. mkdtemp
 * makes a folder only its owner may enter; run as root, geo then keeps the
 * data (run by the postgres user) under /var/lib/geo instead, where removing
 * the home leaves it behind: a few runs fill a disk.
 */
export async function scratchHome(prefix: string): Promise<string> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(home, 0o755);
  return home;
}

export async function benchServer(prefix: string): Promise<BenchServer> {
  const given = process.env.DATABASE_URL;
  if (given) return { adminUrl: given, close: async () => undefined };
  const home = await scratchHome(prefix);
  const { connectionString } = await ensureEmbeddedServer({ home });
  return {
    adminUrl: connectionString,
    home,
    close: async () => {
      await stopEmbeddedServer(home, { force: true });
      await fs.rm(home, { recursive: true, force: true });
    },
  };
}
