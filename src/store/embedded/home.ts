import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../../errors.js';

const USE_DATABASE_URL = 'or set DATABASE_URL to use your own server';

/**
 * Refuses a GEO_HOME that exists but is not a folder (or sits below a file).
 * Checked before anything else looks at the path: otherwise a root geo would
 * find that the postgres user "cannot reach" it and quietly put the database
 * in its fallback folder.
 */
export async function assertHomeIsFolder(home: string): Promise<void> {
  try {
    const stat = await fs.stat(home);
    if (!stat.isDirectory()) throw notAFolder(home, 'is a file, not a folder');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    // Missing is fine (it is created); a file somewhere above it is not.
    if (code === 'ENOTDIR') throw notAFolder(home, 'is not a folder (part of its path is a file)', err);
    if (code !== 'ENOENT') throw homeError(err, home, home) ?? err;
  }
}

/**
 * Creates `dir` (the embedded server's folder under GEO_HOME) and proves this
 * user can write in it, so a GEO_HOME the user may not write is one clear
 * line, not a raw EACCES from whichever step happened to touch it first.
 */
export async function ensureWritableFolder(dir: string, home: string): Promise<void> {
  try {
    await makeFolder(dir, 0o755);
    await fs.access(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw homeError(err, home, dir) ?? err;
  }
}

/**
 * Creates `dir` and its missing parents, one level at a time. Not
 * `mkdir({ recursive: true })`: where the file system answers ENOENT for a
 * folder whose parent exists (/proc, /sys), Node's recursive mkdir creates
 * the parent, finds it there, and tries the folder again, forever (a whole
 * core spent). Here that answer is an error like any other.
 */
export async function makeFolder(dir: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); !(await isPresent(at)); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const folder of missing) {
    await fs.mkdir(folder, { mode }).catch((err: NodeJS.ErrnoException) => {
      // Another process may have made it meanwhile.
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/** Whether something is at `at`; false only when nothing is (ENOENT), any other failure thrown. */
async function isPresent(at: string): Promise<boolean> {
  try {
    await fs.stat(at);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** The InputError for a file-system error on GEO_HOME, or undefined when it is not about permissions or shape. */
function homeError(err: unknown, home: string, dir: string): InputError | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    const what = dir === home ? 'is not a folder (part of its path is a file)' : `cannot hold the database: ${dir} is not a folder`;
    return notAFolder(home, what, err);
  }
  if (code === 'ENOENT') {
    // mkdir of a folder whose parent exists (makeFolder made the parents): the file system takes no new folders there.
    const what = dir === home || dir.startsWith(`${home}/`) ? `GEO_HOME ${home}` : `${dir} (the database folder for GEO_HOME ${home})`;
    return new InputError(
      'GEO_HOME_UNWRITABLE',
      `${what} cannot be created: ${path.dirname((err as NodeJS.ErrnoException).path ?? dir)} takes no new folders; ` +
        `set GEO_HOME to a folder you can write, ${USE_DATABASE_URL}`,
      { cause: err },
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const why = code === 'EROFS' ? 'is on a read-only file system' : `is not writable by this user (uid ${os.userInfo().uid})`;
    // As root the database may live outside GEO_HOME (server.ts): then name that folder.
    const what = dir === home || dir.startsWith(`${home}/`) ? `GEO_HOME ${home}` : `${dir} (the database folder for GEO_HOME ${home})`;
    return new InputError('GEO_HOME_UNWRITABLE', `${what} ${why}: set GEO_HOME to a folder you can write, ${USE_DATABASE_URL}`, {
      cause: err,
    });
  }
  return undefined;
}

function notAFolder(home: string, what: string, cause?: unknown): InputError {
  return new InputError('GEO_HOME_NOT_A_FOLDER', `GEO_HOME ${home} ${what}: set GEO_HOME to a folder (it is created when missing), ${USE_DATABASE_URL}`, {
    cause,
  });
}
