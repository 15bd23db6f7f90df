import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import type { Pool } from '../../../src/store/pool.js';
import { type CliResult, startGeo } from '../../support/cli.js';

/** One SIGKILL of a worker, with what the database said it held. */
export interface KillRecord {
  pid: number;
  /** Tasks `processing` under its worker name just before the kill. */
  held: number;
  /** Of those, claims still `processing` and unreported after it died: the kill landed mid-task. */
  killedHolding: number;
}

/** A worker that ended without being killed, with its output. */
export interface WorkerExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

interface Running {
  child: ChildProcess;
  done: Promise<CliResult>;
  killed: boolean;
}

/**
 * Real `geo work` processes (bin/geo.js) started and SIGKILLed by the chaos
 * loop. Each kill first reads from the database which tasks the worker holds
 * (`processing` under the worker name of its session), and after the process
 * is gone which of those claims it never reported, so a run can prove its
 * kills landed mid-task.
 */
export class ChaosWorkers {
  readonly kills: KillRecord[] = [];
  /** Workers that ended on their own for any reason but an unreachable broker or database (exit 3): crashes. */
  readonly crashes: WorkerExit[] = [];
  /**
   * Workers that gave up on a broker or database that did not answer (exit
   * 3, as documented: a deployment restarts them). On a loaded machine
   * Azurite can miss a start-up check's timeout.
   */
  readonly dependencyExits: WorkerExit[] = [];
  /** Every worker's stderr, in the order they ended, for the evidence of a failing run. */
  readonly logs: string[] = [];
  started = 0;
  private readonly running = new Set<Running>();

  constructor(
    private readonly db: Pool,
    private readonly env: Record<string, string>,
    private readonly args: string[],
  ) {}

  get count(): number {
    return this.running.size;
  }

  start(): void {
    const { child, done } = startGeo(['work', ...this.args], this.env);
    const worker: Running = { child, done, killed: false };
    this.started++;
    this.running.add(worker);
    void done.then((result) => {
      this.running.delete(worker);
      this.logs.push(`--- geo work pid ${child.pid} ${worker.killed ? 'killed' : `ended (${result.code ?? result.signal})`}\n${result.stderr}`);
      if (worker.killed) return;
      const exit = { pid: child.pid!, code: result.code, signal: result.signal, stderr: result.stderr };
      (result.code === 3 ? this.dependencyExits : this.crashes).push(exit);
    });
  }

  /**
   * SIGKILLs a worker `pick` chooses: with `anyState`, among those that
   * registered their session (idle or busy); otherwise among those holding
   * tasks (still holding them when it is killed); none when there is no such
   * worker. A worker still starting is left
   * to start: on a loaded machine that takes seconds, and killing workers
   * before they claim anything would leave the chaos without work in flight.
   */
  async killOne(pick: (n: number) => number, anyState: boolean): Promise<KillRecord | undefined> {
    const workers = [...this.running];
    const { rows: sessions } = await this.db.query<{ pid: number; worker: string; held: number }>(
      `SELECT s.pid, s.worker, (SELECT count(*)::int FROM tasks t WHERE t.worker = s.worker AND t.status = 'processing') AS held
       FROM sessions s WHERE s.pid = ANY($1) AND s.host = $2 AND s.command = 'geo work'`,
      [workers.map((w) => w.child.pid), os.hostname()],
    );
    const byPid = new Map(sessions.map((s) => [s.pid, s]));
    const candidates = workers.filter((w) => {
      const session = byPid.get(w.child.pid!);
      return session !== undefined && (anyState || session.held > 0);
    });
    if (candidates.length === 0) return undefined;
    const worker = candidates[pick(candidates.length)]!;
    const pid = worker.child.pid!;
    const { rows: held } = await this.db.query<{ taskId: string; claim: string }>(
      `SELECT task_id AS "taskId", claim::text AS claim FROM tasks WHERE worker = $1 AND status = 'processing'`,
      [byPid.get(pid)!.worker],
    );
    // Its tasks finished between the two reads: no kill mid-task to be had from it now.
    if (!anyState && held.length === 0) return undefined;
    worker.killed = true;
    worker.child.kill('SIGKILL');
    await worker.done;
    let killedHolding = 0;
    if (held.length > 0) {
      const { rows } = await this.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tasks t
         JOIN unnest($1::text[], $2::bigint[]) AS h (task_id, claim) ON h.task_id = t.task_id AND h.claim = t.claim
         WHERE t.status = 'processing'`,
        [held.map((h) => h.taskId), held.map((h) => h.claim)],
      );
      killedHolding = rows[0]!.n;
    }
    const record = { pid, held: held.length, killedHolding };
    this.kills.push(record);
    return record;
  }

  /** How many running workers have registered their session (started: they claim from now on). */
  async registered(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM sessions WHERE pid = ANY($1) AND host = $2 AND command = 'geo work'`, [
      [...this.running].map((w) => w.child.pid),
      os.hostname(),
    ]);
    return rows[0]!.n;
  }

  /** SIGKILLs every worker still running (the chaos ends as it went on). */
  async killAll(): Promise<void> {
    const workers = [...this.running];
    for (const worker of workers) {
      worker.killed = true;
      worker.child.kill('SIGKILL');
    }
    await Promise.all(workers.map((w) => w.done));
  }
}
