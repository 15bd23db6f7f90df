import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

/**
 * Debian's Python, with python3-azure and python3-psycopg2 (`.ci/run` installs
 * them). Never the `python3` on PATH: a developer's pyenv Python lacks them.
 */
export const PYTHON = '/usr/bin/python3';

export const EXAMPLE_DIR = path.resolve(import.meta.dirname, '../../../examples/azure-functions-python');
export const SUPPORT_DIR = import.meta.dirname;

/** The environment of a Python child: the example and the test support importable, nothing written beside them. */
export function pythonEnv(extra: Record<string, string>, pythonPath: string[] = []): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    PYTHONPATH: [...pythonPath, EXAMPLE_DIR, SUPPORT_DIR].join(':'),
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
    ...extra,
  };
}

export interface PythonResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a Python program to its end, feeding it `input` on stdin. */
export function runPython(args: string[], env: Record<string, string>, input = '', timeoutMs = 60_000): Promise<PythonResult> {
  const child = spawn(PYTHON, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, input, timeoutMs);
}

function collect(child: ChildProcess, input: string, timeoutMs: number): Promise<PythonResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.stdin!.end(input);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
