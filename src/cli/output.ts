import ora, { type Ora } from 'ora';

export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Where a command's output goes. With --json exactly one JSON document goes
 * to stdout and everything meant for people goes to stderr.
 */
export class Output {
  constructor(
    readonly jsonMode: boolean,
    private readonly streams: Streams = { stdout: process.stdout, stderr: process.stderr },
  ) {}

  json(document: unknown): void {
    this.streams.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  }

  /** A result line for people: stdout normally, stderr under --json. */
  line(text = ''): void {
    (this.jsonMode ? this.streams.stderr : this.streams.stdout).write(`${text}\n`);
  }

  /** Side information (notices, warnings): always stderr. */
  notice(text: string): void {
    this.streams.stderr.write(`${text}\n`);
  }

  /** A spinner on stderr when it is a terminal; otherwise nothing. */
  spinner(text: string): Spinner {
    if (!this.streams.stderr.isTTY) return { update() {}, stop() {} };
    const spinner: Ora = ora({ text, stream: this.streams.stderr }).start();
    let last = 0;
    return {
      update(next) {
        const now = Date.now();
        if (now - last < 80) return;
        last = now;
        spinner.text = next;
      },
      stop() {
        spinner.stop();
      },
    };
  }
}

export interface Spinner {
  update(text: string): void;
  stop(): void;
}

export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}
