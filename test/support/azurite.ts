import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { canConnect } from './tcp.js';
import { sleep, waitFor } from './wait.js';

const MAIN = path.resolve(import.meta.dirname, '../../node_modules/azurite/dist/src/queue/main.js');

/**
 * Runs Azurite's entry in a process that ends itself once its parent is gone,
 * so a test worker that is killed (a timeout, Ctrl-C) leaves no Azurite behind.
 * `node -e <this> MAIN args` gives Azurite the argv of `node MAIN args`.
 */
const LAUNCHER = `
const parent = Number(process.env.GEO_AZURITE_PARENT);
setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL'); }, 500).unref();
require(process.argv[1]);
`;

/** Azurite's well-known development account (public, documented by Microsoft). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  accountName: string;
  port: number;
  /** A connection string with the dev account's key. */
  connectionString: string;
  /** The same endpoint with another key (authentication fails). */
  connectionStringWithKey(key: string): string;
  /** Stops the server gracefully (a persistent one saves its state); `start` reuses the port. */
  stop(): Promise<void>;
  /** Starts it again on the same port (with the same data when persistent). */
  start(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP): connections stay open and requests are
   * accepted by the kernel, but nothing answers, as with a hung endpoint.
   */
  suspend(): void;
  /** Lets a suspended Azurite run again (SIGCONT). */
  resume(): void;
  /** Stops it and removes its data; call it in afterAll. */
  dispose(): Promise<void>;
}

/**
 * Runs Azurite's queue service from node_modules on a free loopback port.
 * `--skipApiVersionCheck`: Azurite 3.35 rejects the newer API version that
 * @azure/storage-queue 12.30 sends.
 *
 * State is kept in memory unless `persistent`: then in a temporary folder, so
 * that a test can stop and restart it without losing the messages already
 * sent (about three times slower, as Azurite writes each message to disk).
 */
export async function startAzurite(opts: { persistent?: boolean } = {}): Promise<Azurite> {
  const port = await freePort();
  const location = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-azurite-'));
  const storage = opts.persistent ? ['--location', location] : ['--inMemoryPersistence'];
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child) return;
    const proc = spawn(
      process.execPath,
      ['-e', LAUNCHER, MAIN, '--queueHost', '127.0.0.1', '--queuePort', String(port), '--skipApiVersionCheck', '--silent', '--disableTelemetry', ...storage],
      // Whatever else Azurite writes lands in the temporary folder.
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: location, env: { ...process.env, GEO_AZURITE_PARENT: String(process.pid) } },
    );
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child = proc;
    try {
      await waitForPort(port, proc, () => stderr);
    } catch (err) {
      proc.kill('SIGKILL');
      child = undefined;
      throw err;
    }
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null) return;
    // A suspended process would hold SIGTERM until the 20 s SIGKILL below.
    proc.kill('SIGCONT');
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    // Generous: a persistent Azurite saves its state while shutting down.
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  await start().catch(async (err: unknown) => {
    await fs.rm(location, { recursive: true, force: true });
    throw err;
  });
  const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  const withKey = (key: string) => `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${key};QueueEndpoint=${endpoint};`;
  return {
    accountName: DEV_ACCOUNT,
    port,
    connectionString: withKey(DEV_KEY),
    connectionStringWithKey: withKey,
    start,
    stop,
    suspend() {
      if (!child?.kill('SIGSTOP')) throw new Error('azurite is not running');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async dispose() {
      await stop();
      await fs.rm(location, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, proc: ChildProcess, stderr: () => string): Promise<void> {
  const exited = await waitFor(
    () => `azurite to listen on port ${port} within 20 s: ${stderr()}`,
    async () => (proc.exitCode !== null ? 'exited' : (await canConnect(port)) && 'listening'),
    { timeoutMs: 20_000 },
  );
  if (exited === 'exited') throw new Error(`azurite exited with ${proc.exitCode}: ${stderr()}`);
}

/** A client for `queue` on this Azurite, as a consumer would have. */
export function queueClientFor(azurite: Azurite, queue: string): QueueClient {
  return QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(queue);
}

/**
 * Receives every visible message (32 per request, the service's maximum) and
 * hides each for longer than the test, so a message received twice was on the
 * queue twice. A receiver stops at its first empty receive, or after a few
 * while fewer than `expected` messages have arrived.
 */
export async function drainQueue(client: QueueClient, opts: { expected?: number; receivers?: number } = {}): Promise<string[]> {
  const texts: string[] = [];
  const receiver = async () => {
    for (let empties = 0; empties < 3; ) {
      const { receivedMessageItems } = await client.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 600 });
      if (receivedMessageItems.length > 0) {
        for (const item of receivedMessageItems) texts.push(item.messageText);
        continue;
      }
      if (opts.expected === undefined || texts.length >= opts.expected) return;
      empties++;
      // Time is the point: messages still being sent get a moment to become visible before the receiver gives up.
      await sleep(100);
    }
  };
  await Promise.all(Array.from({ length: opts.receivers ?? 4 }, receiver));
  return texts;
}
