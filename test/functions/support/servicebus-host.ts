import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { SettlementGate } from '../../../src/transports/settlement-gate.js';
import { PYTHON, SUPPORT_DIR } from './python.js';

interface Answer {
  ok: boolean;
  outcome?: string;
  error?: string;
}

/**
 * The Python language worker (language_worker.py) as the host sees it: one
 * line per invocation each way. When the process dies, its invocations fail.
 */
class LanguageWorker {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private readonly pending = new Map<number, (answer: Answer) => void>();
  private next = 0;
  private stderr = '';

  constructor(env: Record<string, string>) {
    this.child = spawn(PYTHON, [path.join(SUPPORT_DIR, 'language_worker.py')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      // The last few kilobytes, for a failure message.
      this.stderr = (this.stderr + chunk.toString()).slice(-8_000);
    });
    // A write to a worker that just died is answered by its exit below.
    this.child.stdin!.on('error', () => undefined);
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as Answer & { id: number };
      this.pending.get(answer.id)?.(answer);
      this.pending.delete(answer.id);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        for (const reply of this.pending.values()) reply({ ok: false, error: `the language worker exited (${signal ?? code})` });
        this.pending.clear();
        resolve();
      });
    });
  }

  invoke(body: string, invocationId: string): Promise<Answer> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve({ ok: false, error: 'the language worker is not running' });
    }
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ id, body, invocationId })}\n`);
    });
  }

  lastErrors(): string {
    return this.stderr;
  }
}

export interface ServiceBusHostOptions {
  connectionString: string;
  queue: string;
  /** The language worker's environment (test/functions/support/python.ts). */
  env: Record<string, string>;
  /** Messages at once (the host's maxConcurrentCalls; the language worker has a thread more). */
  concurrency: number;
  /** The first delivery of the message naming this task is invoked twice at once. */
  doubleInvoke?: string;
}

/**
 * A stand-in for the Azure Functions host's Service Bus trigger, which
 * receives messages itself (in .NET) and hands each body to the Python
 * function: peek-lock with the official SDK (locks renewed while an
 * invocation runs, as the host's auto-renewal does), complete when the
 * function returns, abandon when it raises; the broker dead-letters a message
 * at its queue's max delivery count. A language worker that dies is started
 * again and its running invocations fail, as in the Functions host.
 */
export class ServiceBusHost {
  private readonly client: ServiceBusClient;
  private readonly receiver: ServiceBusReceiver;
  /** rhea would merge a complete and an abandon of one tick into one outcome (docs/architecture.md). */
  private readonly gate = new SettlementGate();
  private worker: LanguageWorker;
  private stopping = false;
  private inFlight = 0;
  private freed: (() => void) | undefined;
  private doubled = false;
  private loop: Promise<void> | undefined;
  /** Language workers that died and were started again. */
  restarts = 0;
  settlementErrors: string[] = [];

  constructor(private readonly options: ServiceBusHostOptions) {
    this.client = new ServiceBusClient(options.connectionString);
    this.receiver = this.client.createReceiver(options.queue, { receiveMode: 'peekLock', skipParsingBodyAsJson: true });
    this.worker = this.startWorker();
  }

  /** The running language worker's process id. */
  get workerPid(): number | undefined {
    return this.worker.child.pid;
  }

  start(): void {
    this.loop ??= this.receiveLoop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.freed?.();
    await this.loop;
    this.worker.child.kill('SIGKILL');
    await this.worker.exited;
    await this.receiver.close();
    await this.client.close();
  }

  private startWorker(): LanguageWorker {
    // A thread more than the messages at once: the second call of a double invocation never waits for one.
    const worker = new LanguageWorker({ ...this.options.env, GEO_TEST_THREADS: String(this.options.concurrency + 1) });
    void worker.exited.then(() => {
      if (this.stopping || this.worker !== worker) return;
      this.restarts++;
      this.worker = this.startWorker();
    });
    return worker;
  }

  private async receiveLoop(): Promise<void> {
    while (!this.stopping) {
      const free = this.options.concurrency - this.inFlight;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.freed = resolve));
        continue;
      }
      let messages: ServiceBusReceivedMessage[];
      try {
        messages = await this.receiver.receiveMessages(free, { maxWaitTimeInMs: 500 });
      } catch (err) {
        if (this.stopping) break;
        this.settlementErrors.push(`receive: ${String(err)}`);
        continue;
      }
      for (const message of messages) void this.handle(message);
    }
  }

  private async handle(message: ServiceBusReceivedMessage): Promise<void> {
    this.inFlight++;
    try {
      const body = Buffer.isBuffer(message.body) ? message.body.toString('utf8') : String(message.body);
      const double = this.options.doubleInvoke !== undefined && !this.doubled && body.includes(this.options.doubleInvoke);
      if (double) this.doubled = true;
      const worker = this.worker;
      const answers = await Promise.all(Array.from({ length: double ? 2 : 1 }, () => worker.invoke(body, crypto.randomUUID())));
      if (answers.every((a) => a.ok)) await this.gate.run('complete', () => this.receiver.completeMessage(message));
      else await this.gate.run('other', () => this.receiver.abandonMessage(message));
    } catch (err) {
      // A lost lock: the broker delivers the message again, as to the Functions host.
      this.settlementErrors.push(String(err));
    } finally {
      this.inFlight--;
      const freed = this.freed;
      this.freed = undefined;
      freed?.();
    }
  }
}
