import fs from 'node:fs/promises';
import { sleep } from '../../concurrency/backoff.js';

/**
 * A cross-process lock file holding the owner's pid. A lock whose owner is no
 * longer alive (a crashed geo) is taken over, so a kill -9 never wedges the
 * next command.
 */
export async function withFileLock<T>(file: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await fs.open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!(await ownerAlive(file))) {
        await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${file} (held by another geo process)`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}

async function ownerAlive(file: string): Promise<boolean> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!text.trim()) {
    // Empty: being written right now, or its writer died between open and write.
    const stat = await fs.stat(file).catch(() => undefined);
    return stat !== undefined && Date.now() - stat.mtimeMs < 5_000;
  }
  return Number.isInteger(pid) && pid > 0 && processAlive(pid);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
