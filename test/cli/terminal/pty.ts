import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { waitFor } from '../../support/wait.js';

export const REPO = path.resolve(import.meta.dirname, '../../..');
export const BIN = path.join(REPO, 'bin/geo.js');

/** How the program is started inside the terminal: as a user or a script would. */
export type Launch = 'node' | 'direct' | 'npx';

const LAUNCH: Record<Launch, string[]> = {
  node: [process.execPath, BIN],
  direct: [BIN],
  // --no-install: the checkout's own geo, never a registry package of that name.
  npx: ['npx', '--no-install', 'geo'],
};

export interface TerminalOptions {
  env: Record<string, string | undefined>;
  /** The terminal's size; 0 columns is what `script` gives a session without one. */
  columns: number;
  rows?: number;
  launch?: Launch;
  /** Redirect geo's stdout or stderr to these files instead of the terminal. */
  stdoutFile?: string;
  stderrFile?: string;
  /** Killed (and the test failed by the caller) when still running after this long. */
  deadlineMs?: number;
}

export interface TerminalResult {
  /** What the terminal showed: geo's stdout and stderr as one stream, escape sequences included. */
  screen: string;
  /** Exit status as a shell reports it: 128 + n for a program killed by signal n. */
  status: number | null;
  /** True when the deadline killed it. */
  killed: boolean;
}

export interface TerminalSession {
  /** geo's own pid (`exec` keeps the shell's). */
  pid(): Promise<number>;
  /** Types into the terminal: "\x03" is Ctrl-C, turned into SIGINT by the terminal itself. */
  type(text: string): void;
  /** Resolves once the screen matches `pattern`; rejects at the deadline. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when geo exits, or rejects if it is still running `withinMs` from now (then it is killed). */
  exit(withinMs?: number): Promise<TerminalResult>;
  readonly screen: string;
}

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/** Sessions not yet exited: `endAllTerminals` (in afterEach) kills what a failed test left running. */
const live = new Set<() => Promise<void>>();

export async function endAllTerminals(): Promise<void> {
  await Promise.all([...live].map((kill) => kill()));
}

/**
 * Runs geo on a real pseudo-terminal made by util-linux `script`, sized with
 * stty, so geo sees a TTY exactly as in a terminal window: typed Ctrl-C goes
 * through the terminal's line discipline, the width is what stty set.
 * Every session is killed at its deadline, so a hung geo fails its test
 * instead of hanging the suite.
 */
export async function startInTerminal(args: string[], opts: TerminalOptions): Promise<TerminalSession> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-pty-'));
  const pidFile = path.join(dir, 'pid');
  const redirects = [opts.stdoutFile && `>${quote(opts.stdoutFile)}`, opts.stderrFile && `2>${quote(opts.stderrFile)}`].filter(Boolean);
  const command = [...LAUNCH[opts.launch ?? 'node'], ...args].map(quote).join(' ');
  const inner = `stty cols ${opts.columns} rows ${opts.rows ?? 24}; echo $$ > ${quote(pidFile)}; exec ${command} ${redirects.join(' ')}`;
  const child = spawn('script', ['-qfec', inner, '/dev/null'], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm-256color', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  const watchers = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    screen += chunk.toString();
    for (const check of watchers) check();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  let killed = false;
  const kill = async () => {
    killed = true;
    const pid = Number(await fs.readFile(pidFile, 'utf8').catch(() => ''));
    if (pid > 0) process.kill(pid, 'SIGKILL');
    child.kill('SIGKILL');
  };
  live.add(kill);
  const deadline = setTimeout(() => void kill(), opts.deadlineMs ?? 60_000);
  const exited = new Promise<TerminalResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(deadline);
      live.delete(kill);
      for (const check of watchers) check();
      void fs.rm(dir, { recursive: true, force: true });
      resolve({ screen, status: code, killed });
    });
  });
  let running = true;
  void exited.then(() => (running = false));

  return {
    get screen() {
      return screen;
    },
    pid() {
      return waitFor(
        'geo to start in the terminal (its pid file)',
        async () => {
          const pid = Number(await fs.readFile(pidFile, 'utf8').catch(() => ''));
          return pid > 0 ? pid : undefined;
        },
        { timeoutMs: 5_000, intervalMs: 25 },
      );
    },
    type(text) {
      child.stdin.write(text);
    },
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`the terminal never showed ${pattern} within ${timeoutMs} ms; it showed:\n${screen.slice(-2_000)}`));
        }, timeoutMs);
        const check = () => {
          if (pattern.test(screen)) {
            clearTimeout(timer);
            watchers.delete(check);
            resolve();
          } else if (!running) {
            clearTimeout(timer);
            watchers.delete(check);
            reject(new Error(`geo exited before the terminal showed ${pattern}; it showed:\n${screen.slice(-2_000)}`));
          }
        };
        watchers.add(check);
        check();
      });
    },
    async exit(withinMs) {
      if (withinMs === undefined) return exited;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          void kill();
          reject(new Error(`geo was still running ${withinMs} ms later; the terminal showed:\n${screen.slice(-2_000)}`));
        }, withinMs);
      });
      try {
        return await Promise.race([exited, late]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Runs geo in a terminal to the end (or its deadline). */
export async function runInTerminal(args: string[], opts: TerminalOptions): Promise<TerminalResult> {
  return (await startInTerminal(args, opts)).exit();
}

/** The screen as lines a person sees: each \r-redrawn line reduced to its last state, escapes removed. */
export function visibleLines(screen: string): string[] {
  return screen
    .split(/\r?\n/)
    .map(stripVTControlCharacters)
    .map((line) => line.split('\r').at(-1)!)
    .filter((line) => line.length > 0);
}
