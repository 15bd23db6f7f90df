import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, parseJsonOutput, runGeo } from '../support/cli.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/geo.js');
/** The account an unprivileged user has on Debian: what a root test run switches to. */
const NOBODY = { uid: 65534, gid: 65534 };

let scratch: string;
beforeAll(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-home-test-'));
  // Anyone may enter and read, nobody may write (root aside, hence `nobody` below).
  await fs.chmod(scratch, 0o555);
});
afterAll(async () => {
  await fs.chmod(scratch, 0o755).catch(() => undefined);
  await fs.rm(scratch, { recursive: true, force: true });
});

/**
 * Runs geo as a user who is not root: as `nobody` (setpriv) when the test runs
 * as root, since root may write anywhere; otherwise as the user running the
 * test. Returns the result and the uid geo ran as.
 */
async function runGeoUnprivileged(args: string[], env: Record<string, string>): Promise<{ result: CliResult; uid: number }> {
  const root = os.userInfo().uid === 0;
  const uid = root ? NOBODY.uid : os.userInfo().uid;
  const command = root ? 'setpriv' : process.execPath;
  const argv = root ? [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', process.execPath, BIN, ...args] : [BIN, ...args];
  const child = spawn(command, argv, { env: { PATH: process.env.PATH, HOME: scratch, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = await new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { result, uid };
}

function errorOf(result: CliResult): { code: string; message: string } {
  return parseJsonOutput<{ error: { code: string; message: string } }>(result).error;
}

describe('GEO_HOME problems are one clear line and exit 2', () => {
  it('a GEO_HOME this user may not write: GEO_HOME_UNWRITABLE naming the folder and the user, no raw EACCES', async () => {
    for (const home of [path.join(scratch, 'to-be-created'), scratch]) {
      const { result, uid } = await runGeoUnprivileged(['submit', 'hello_world', '--n', '10', '--json'], { GEO_HOME: home });
      // The case named: geo really ran as a user other than root.
      expect(uid).not.toBe(0);
      expect(result.code, result.stderr).toBe(2);
      const error = errorOf(result);
      expect(error.code).toBe('GEO_HOME_UNWRITABLE');
      expect(error.message).toContain(`GEO_HOME ${home} is not writable by this user (uid ${uid})`);
      expect(result.stderr).not.toMatch(/EACCES|--verbose/);
      expect(result.stderr.trim().split('\n')).toEqual([`geo: ${error.message}`]);
    }
    expect(await fs.readdir(scratch)).toEqual([]);
  });

  it('a GEO_HOME that is a regular file: GEO_HOME_NOT_A_FOLDER, and the database does not move elsewhere', async () => {
    const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-home-file-'));
    const file = path.join(folder, 'home-is-a-file');
    await fs.writeFile(file, 'not a folder\n');
    try {
      // Where a root geo used to put the database instead, silently.
      const fallback = path.join('/var/lib/geo', crypto.createHash('sha256').update(file).digest('hex').slice(0, 12));
      for (const args of [
        ['submit', 'hello_world', '--n', '10', '--json'],
        ['db', 'status', '--json'],
        ['db', 'stop', '--json'],
      ]) {
        const result = await runGeo(args, { GEO_HOME: file });
        expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
        const error = errorOf(result);
        expect(error).toEqual({ code: 'GEO_HOME_NOT_A_FOLDER', message: expect.stringContaining(`GEO_HOME ${file} is a file, not a folder`) });
        expect(result.stderr.trim().split('\n')).toEqual([`geo: ${error.message}`]);
      }
      await expect(fs.stat(fallback)).rejects.toMatchObject({ code: 'ENOENT' });

      const below = await runGeo(['submit', 'hello_world', '--n', '10', '--json'], { GEO_HOME: path.join(file, 'sub') });
      expect(below.code).toBe(2);
      expect(errorOf(below).code).toBe('GEO_HOME_NOT_A_FOLDER');
      expect(await fs.readFile(file, 'utf8')).toBe('not a folder\n');
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('a GEO_HOME where the file system takes no new folders (/proc/nope): GEO_HOME_UNWRITABLE at once, exit 2', async () => {
    const home = '/proc/nope';
    // The case named: the parent exists and mkdir there answers ENOENT, on which Node's recursive mkdir loops forever.
    await expect(fs.stat('/proc')).resolves.toBeDefined();
    await expect(fs.mkdir(home)).rejects.toMatchObject({ code: 'ENOENT' });
    const started = Date.now();
    const result = await runGeo(['submit', 'hello_world', '--n', '3', '--json'], { GEO_HOME: home }, { timeoutMs: 30_000 });
    expect(result.signal, 'geo was still running after 30 s').toBeNull();
    expect(result.code, result.stderr).toBe(2);
    const error = errorOf(result);
    expect(error).toEqual({ code: 'GEO_HOME_UNWRITABLE', message: expect.stringContaining(`GEO_HOME ${home} cannot be created: /proc takes no new folders`) });
    expect(result.stderr.trim().split('\n')).toEqual([`geo: ${error.message}`]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
