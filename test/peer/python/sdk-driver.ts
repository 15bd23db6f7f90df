// Runs servicebus_sdk_driver.py under Debian's Python, which has the official
// Service Bus SDK (python3-azure); the `python3` on a developer's PATH may be
// another interpreter without it.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const DRIVER = fileURLToPath(new URL('./servicebus_sdk_driver.py', import.meta.url));
const INSTALL_HINT =
  `the Python Service Bus tests need Debian's ${PYTHON} with python3-azure (azure-servicebus over python3-uamqp): ` +
  'apt-get install python3-azure (.ci/run installs it when missing)';

/** Throws, with what to install, when Debian's Python or its Service Bus SDK is missing. */
export function requirePythonServiceBusSdk(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import azure.servicebus, uamqp'], { encoding: 'utf8', env: pythonEnv() });
  if (probe.error || probe.status !== 0) {
    throw new Error(`${INSTALL_HINT}. ${probe.error?.message ?? probe.stderr.trim()}`);
  }
}

/** Variables of another Python installation (pyenv, a virtualenv) must not leak into Debian's. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PYTHON') && !key.startsWith('PYENV') && key !== 'VIRTUAL_ENV') env[key] = value;
  }
  return { ...env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
}

export interface DriverReply {
  ok: boolean;
  error?: string;
  message?: string;
  [field: string]: unknown;
}

export interface ReceivedByPython {
  id: string;
  body: string;
  sequence_number: number;
  delivery_count: number;
  locked_until_ms: number | null;
  dead_letter_reason: string | null;
  dead_letter_description: string | null;
  dead_letter_source: string | null;
}

/** One Python process holding one ServiceBusClient; call() sends an operation and waits for its answer. */
export class PythonServiceBusDriver {
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    reader: Interface,
  ) {
    this.lines = reader[Symbol.asyncIterator]();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
  }

  static async start(connectionString: string, caFile: string): Promise<PythonServiceBusDriver> {
    const child = spawn(PYTHON, [DRIVER, connectionString, caFile], { env: pythonEnv() });
    const driver = new PythonServiceBusDriver(child, createInterface({ input: child.stdout }));
    const ready = await driver.next(10_000);
    if (ready.ready !== true) throw new Error(`the Python driver did not start: ${JSON.stringify(ready)}`);
    return driver;
  }

  /** Runs one operation; a failed one is returned (ok false), not thrown, so tests can assert on it. */
  async call(op: Record<string, unknown>, timeoutMs = 30_000): Promise<DriverReply> {
    this.child.stdin.write(`${JSON.stringify(op)}\n`);
    return this.next(timeoutMs);
  }

  /** Runs one operation that must succeed. */
  async ok(op: Record<string, unknown>, timeoutMs?: number): Promise<DriverReply> {
    const reply = await this.call(op, timeoutMs);
    if (!reply.ok) throw new Error(`Python ${String(op.op)} failed: ${reply.error ?? ''}: ${reply.message ?? ''}`);
    return reply;
  }

  async receive(queue: string, max: number, opts: { subQueue?: 'deadletter'; waitSeconds?: number } = {}): Promise<ReceivedByPython[]> {
    const reply = await this.ok({ op: 'receive', queue, max, sub_queue: opts.subQueue, wait_s: opts.waitSeconds ?? 2 });
    return reply.messages as ReceivedByPython[];
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Closes the SDK client and waits for the process to exit; kills it if it does not. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.stdin.end(`${JSON.stringify({ op: 'close' })}\n`);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  private async next(timeoutMs: number): Promise<DriverReply> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the Python driver did not answer within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
    });
    try {
      const line = await Promise.race([this.lines.next(), timeout]);
      if (line.done) throw new Error(`the Python driver exited (${String(this.child.exitCode)}); stderr: ${this.stderr}`);
      return JSON.parse(line.value) as DriverReply;
    } finally {
      clearTimeout(timer);
    }
  }
}
