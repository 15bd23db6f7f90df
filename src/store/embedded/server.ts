import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DependencyError, errorMessage, InputError } from '../../errors.js';
import pg from '../pg.js';
import { type PostgresBinaries, postgresBinaries } from './binaries.js';
import { describeClients, type ServerClient, serverClientsList } from './clients.js';
import { processAlive, withFileLock } from './file-lock.js';
import { assertHomeIsFolder, ensureWritableFolder, makeFolder } from './home.js';
import { canTraverse, ensurePostgresUser, type OsUser } from './os-user.js';

const run = promisify(execFile);

/** Where a root geo keeps data when GEO_HOME is not reachable by the postgres user. */
const ROOT_FALLBACK_BASE = '/var/lib/geo';
const START_TIMEOUT_MS = 90_000;

export interface EmbeddedServer {
  connectionString: string;
  dataDir: string;
  port: number;
}

export interface EmbeddedServerOptions {
  home: string;
  /** Called with one-time facts for the user (where the data lives). */
  onNotice?: (message: string) => void;
}

interface ServerState {
  port: number;
  user: string;
  password: string;
}

interface Layout {
  /** GEO_HOME, absolute. */
  home: string;
  base: string;
  dataDir: string;
  stateFile: string;
  logFile: string;
  lockFile: string;
  runAs?: OsUser;
}

/**
 * Makes sure the embedded PostgreSQL server for `home` is running and returns
 * how to reach it. The server outlives the command (later commands reuse it);
 * several geo processes starting at once share one server, serialised by a
 * lock file, and a stale postmaster.pid left by a crash is cleared.
 */
export async function ensureEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const layout = await resolveLayout(options.home);
  const known = await readState(layout);
  if (known && (await accepts(known))) return describe(layout, known);

  await ensureWritableFolder(layout.base, layout.home);
  return withFileLock(layout.lockFile, START_TIMEOUT_MS, async () => {
    let state = await readState(layout);
    if (state && (await accepts(state))) return describe(layout, state);
    const bins = await postgresBinaries();
    if (!state || !(await exists(path.join(layout.dataDir, 'PG_VERSION')))) {
      state = await initialise(layout, bins);
      options.onNotice?.(`geo: created the embedded PostgreSQL database in ${layout.dataDir} (set DATABASE_URL to use your own server)`);
    }
    state = await start(layout, bins, state);
    return describe(layout, state);
  });
}

/**
 * The embedded server for `home` as its files describe it, when its
 * postmaster.pid names a live process; no connection is made. A caller that
 * then cannot connect falls back to ensureEmbeddedServer, which checks by
 * connecting and restarts what is not running: a command against a running
 * server so pays for one connection instead of two.
 */
export async function runningEmbeddedServer(home: string): Promise<EmbeddedServer | undefined> {
  const layout = await resolveLayout(home);
  const [state, pid] = await Promise.all([readState(layout), postmasterPid(layout.dataDir)]);
  return state && pid !== undefined && processAlive(pid) ? describe(layout, state) : undefined;
}

export interface StopResult {
  /** False when the server was not running. */
  stopped: boolean;
  /** The clients the stop cut off (only ever non-empty with `force`). */
  disconnected: ServerClient[];
}

/**
 * Stops the embedded server for `home` if it runs. Unless `force`, refuses
 * (DATABASE_IN_USE, nothing stopped) while any client other than this check
 * is connected: a fast shutdown would end a running submit mid-batch. A
 * client that connects between the check and the shutdown is still cut off;
 * the check is for the common case of stopping under a running command.
 */
export async function stopEmbeddedServer(home: string, options: { force?: boolean } = {}): Promise<StopResult> {
  const layout = await resolveLayout(home);
  const pid = await postmasterPid(layout.dataDir);
  if (pid === undefined || !processAlive(pid)) return { stopped: false, disconnected: [] };
  const clients = await connectedClients(layout).catch((err: unknown) => {
    if (options.force) return [];
    throw new DependencyError(
      'DATABASE_UNREACHABLE',
      `cannot see which clients use the embedded PostgreSQL in ${layout.dataDir}: ${errorMessage(err)}; geo db stop --force stops it anyway`,
      { cause: err },
    );
  });
  if (clients.length > 0 && !options.force) {
    throw new InputError(
      'DATABASE_IN_USE',
      `not stopping the embedded PostgreSQL: clients connected: ${describeClients(clients)}; ` +
        'stop them first, or run geo db stop --force to disconnect them',
    );
  }
  const bins = await postgresBinaries();
  await run(bins.pg_ctl, ['stop', '-D', layout.dataDir, '-m', 'fast', '-w', '-t', '60'], spawnAs(layout.runAs));
  return { stopped: true, disconnected: clients };
}

async function connectedClients(layout: Layout): Promise<ServerClient[]> {
  const state = await readState(layout);
  if (!state) throw new Error(`${layout.stateFile} is missing or unreadable`);
  const client = new pg.Client({ ...clientConfig(state), connectionTimeoutMillis: 5_000, application_name: 'geo-db-stop' });
  try {
    await client.connect();
    return await serverClientsList(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function embeddedServerInfo(home: string): Promise<{ dataDir: string; port?: number; running: boolean }> {
  const layout = await resolveLayout(home);
  const state = await readState(layout);
  const pid = await postmasterPid(layout.dataDir);
  return { dataDir: layout.dataDir, port: state?.port, running: pid !== undefined && processAlive(pid) };
}

/**
 * The running embedded server's connection URL, password included, or
 * undefined when it does not run (its port may change when it starts). Only
 * for output the user asked for (`geo db status --show-url`).
 */
export async function embeddedServerUrl(home: string): Promise<string | undefined> {
  const layout = await resolveLayout(home);
  const state = await readState(layout);
  const pid = await postmasterPid(layout.dataDir);
  return state && pid !== undefined && processAlive(pid) ? urlOf(state) : undefined;
}

async function resolveLayout(given: string): Promise<Layout> {
  const home = path.resolve(given);
  await assertHomeIsFolder(home);
  let base = path.join(home, 'postgres');
  let runAs: OsUser | undefined;
  if (os.userInfo().uid === 0) {
    runAs = await ensurePostgresUser();
    if (!(await canTraverse(runAs, base))) {
      const key = crypto.createHash('sha256').update(home).digest('hex').slice(0, 12);
      base = path.join(ROOT_FALLBACK_BASE, key);
    }
  }
  return {
    home,
    base,
    dataDir: path.join(base, 'data'),
    stateFile: path.join(base, 'server.json'),
    logFile: path.join(base, 'server.log'),
    lockFile: path.join(base, 'start.lock'),
    runAs,
  };
}

async function initialise(layout: Layout, bins: PostgresBinaries): Promise<ServerState> {
  const state: ServerState = { port: await freePort(), user: 'geo', password: crypto.randomBytes(18).toString('base64url') };
  await fs.rm(layout.dataDir, { recursive: true, force: true });
  await makeFolder(layout.dataDir, 0o700);
  const pwFile = path.join(layout.base, `.pw-${process.pid}`);
  await fs.writeFile(pwFile, `${state.password}\n`, { mode: 0o600 });
  try {
    if (layout.runAs) {
      await fs.chown(layout.dataDir, layout.runAs.uid, layout.runAs.gid);
      await fs.chown(pwFile, layout.runAs.uid, layout.runAs.gid);
    }
    await checkExecutable(bins, layout.runAs);
    await run(
      bins.initdb,
      ['-D', layout.dataDir, '-U', state.user, '--auth=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-locale', '--no-instructions'],
      spawnAs(layout.runAs),
    ).catch((err: unknown) => {
      throw new DependencyError('EMBEDDED_POSTGRES_INIT', `initdb failed for ${layout.dataDir}: ${stderrOf(err)}`, { cause: err });
    });
  } finally {
    await fs.rm(pwFile, { force: true });
  }
  await writeState(layout, state);
  return state;
}

async function start(layout: Layout, bins: PostgresBinaries, state: ServerState): Promise<ServerState> {
  await clearStalePid(layout.dataDir);
  if (!(await portFree(state.port))) {
    state = { ...state, port: await freePort() };
    await writeState(layout, state);
  }
  if (layout.runAs) {
    await fs.writeFile(layout.logFile, '', { flag: 'a' });
    await fs.chown(layout.logFile, layout.runAs.uid, layout.runAs.gid);
  }
  // Loopback TCP only: no unix socket, whose path length and folder would
  // depend on where GEO_HOME is.
  const serverOptions = `-p ${state.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200`;
  try {
    await run(
      bins.pg_ctl,
      ['start', '-D', layout.dataDir, '-l', layout.logFile, '-w', '-t', String(START_TIMEOUT_MS / 1000), '-o', serverOptions],
      spawnAs(layout.runAs),
    );
  } catch (err) {
    const log = await fs.readFile(layout.logFile, 'utf8').catch(() => '');
    throw new DependencyError(
      'EMBEDDED_POSTGRES_START',
      `the embedded PostgreSQL in ${layout.dataDir} did not start: ${lastLines(log) || stderrOf(err)} (log: ${layout.logFile})`,
      { cause: err },
    );
  }
  return state;
}

/**
 * PostgreSQL itself ignores a postmaster.pid whose pid is dead, but after a
 * reboot or in a container that pid may belong to an unrelated live process,
 * and then it refuses to start. Remove the file unless its pid is a postgres.
 */
async function clearStalePid(dataDir: string): Promise<void> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined) return;
  if (processAlive(pid)) {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('postgres')) return;
  }
  await fs.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
}

async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function checkExecutable(bins: PostgresBinaries, runAs: OsUser | undefined): Promise<void> {
  if (runAs && !(await canTraverse(runAs, bins.postgres))) {
    throw new DependencyError(
      'EMBEDDED_POSTGRES_UNREACHABLE',
      `the postgres user cannot reach the PostgreSQL binaries in ${path.dirname(bins.postgres)}; ` +
        'install geo in a folder other users can read, or set DATABASE_URL',
    );
  }
}

async function accepts(state: ServerState): Promise<boolean> {
  const client = new pg.Client({ ...clientConfig(state), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function clientConfig(state: ServerState) {
  return { host: '127.0.0.1', port: state.port, user: state.user, password: state.password, database: 'postgres' };
}

function describe(layout: Layout, state: ServerState): EmbeddedServer {
  return { connectionString: urlOf(state), dataDir: layout.dataDir, port: state.port };
}

function urlOf(state: ServerState): string {
  return `postgresql://${state.user}:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/postgres`;
}

async function readState(layout: Layout): Promise<ServerState | undefined> {
  const text = await fs.readFile(layout.stateFile, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as ServerState;
  } catch {
    return undefined;
  }
}

async function writeState(layout: Layout, state: ServerState): Promise<void> {
  // Written whole and renamed so a concurrent reader never sees half a file.
  const tmp = `${layout.stateFile}.${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await fs.rename(tmp, layout.stateFile);
}

function spawnAs(user: OsUser | undefined) {
  return user ? { uid: user.uid, gid: user.gid, cwd: '/' } : {};
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: string }).stderr;
  return stderr?.trim() || (err instanceof Error ? err.message : String(err));
}

function lastLines(text: string, count = 3): string {
  return text.trim().split('\n').slice(-count).join(' | ');
}
