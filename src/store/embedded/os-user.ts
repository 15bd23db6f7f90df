import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface OsUser {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root, so a root geo runs the server as the
 * `postgres` system user, creating it when the machine has none (containers
 * and CI images usually don't).
 */
export async function ensurePostgresUser(): Promise<OsUser> {
  const existing = await lookupUser('postgres');
  if (existing) return existing;
  await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']).catch(async (err: unknown) => {
    // Another geo process may have created it between our lookup and useradd.
    if (!(await lookupUser('postgres'))) throw err;
  });
  const created = await lookupUser('postgres');
  if (!created) throw new Error('useradd succeeded but no postgres user exists');
  return created;
}

/**
 * The user's ids from /etc/passwd, where useradd puts a system user; only a
 * user it does not list (one from LDAP or another NSS source) costs the two
 * `id` processes, which every command run as root would otherwise pay.
 */
async function lookupUser(name: string): Promise<OsUser | undefined> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8').catch(() => '');
  const fields = passwd
    .split('\n')
    .find((line) => line.startsWith(`${name}:`))
    ?.split(':');
  if (fields && fields.length >= 4) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

/**
 * Whether `user` can reach `target` (search permission on every ancestor).
 * A root-owned home folder with mode 700 fails this, and the server would not
 * find its data folder there.
 */
export async function canTraverse(user: OsUser, target: string): Promise<boolean> {
  let dir = path.resolve(target);
  for (;;) {
    // A folder still to be created inherits its parent's reach.
    const stat = await fs.stat(dir).catch(() => undefined);
    if (stat) {
      const bit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
      if ((stat.mode & bit) === 0) return false;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}
