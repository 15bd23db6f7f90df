/** A stream geo writes to, as much of it as the renderers need. */
export interface OutStream {
  write(text: string): void;
  readonly isTTY: boolean;
  /** A terminal that shows a live line (a width above 0, not TERM=dumb). */
  readonly interactive: boolean;
  /** Columns of the terminal; 0 when not a terminal or unknown. */
  readonly columns: number;
}

type NodeStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number; destroyed?: boolean };

/**
 * stdout or stderr, guarded: a reader that went away (`geo batches | head -1`)
 * ends output quietly instead of crashing with EPIPE; any other write failure
 * is kept for main to report.
 */
export class GuardedStream implements OutStream {
  private closed = false;
  failure?: Error;

  constructor(
    private readonly stream: NodeStream,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.closed = true;
      if (err.code !== 'EPIPE') this.failure ??= err;
    });
  }

  write(text: string): void {
    if (this.closed || this.stream.destroyed) return;
    this.stream.write(text);
  }

  get isTTY(): boolean {
    return this.stream.isTTY === true;
  }

  get columns(): number {
    return this.stream.isTTY ? (this.stream.columns ?? 0) : 0;
  }

  get interactive(): boolean {
    // A pseudo-terminal of width 0 (`script` without a size) cannot hold a live line.
    return this.isTTY && this.columns > 0 && this.env.TERM !== 'dumb' && !this.closed;
  }
}

/** The one line a progress display redraws in place. */
export interface LiveLine {
  /** The text to draw now, already fitted to the width. */
  render(columns: number): string;
}

/**
 * Both output streams plus at most one live line on stderr. Every write goes
 * through here so that a line printed while progress is shown first clears
 * it and then draws it again below, instead of mixing with it.
 */
export class Screen {
  private live?: LiveLine;
  private drawn = false;

  constructor(
    readonly stdout: OutStream,
    readonly stderr: OutStream,
  ) {}

  out(text: string): void {
    this.around(() => this.stdout.write(text));
  }

  err(text: string): void {
    this.around(() => this.stderr.write(text));
  }

  /** Shows `line` on stderr, redrawn by `redraw`; false when stderr cannot hold a live line. */
  attach(line: LiveLine): boolean {
    if (!this.stderr.interactive) return false;
    this.clear();
    this.live = line;
    this.redraw();
    return true;
  }

  detach(line: LiveLine): void {
    if (this.live !== line) return;
    this.clear();
    this.live = undefined;
  }

  redraw(): void {
    if (!this.live || !this.stderr.interactive) return;
    // Never wider than the terminal, so the line never wraps and \r always returns to its start.
    this.stderr.write(`\r${this.live.render(this.stderr.columns)}\x1b[K`);
    this.drawn = true;
  }

  /** Removes the live line from the screen (before an immediate exit). */
  clear(): void {
    if (!this.drawn) return;
    this.stderr.write('\r\x1b[K');
    this.drawn = false;
  }

  /**
   * Starts a line of its own on a terminal's stderr for a message about a
   * signal: the terminal has echoed "^C" where the cursor was.
   */
  signalLine(text: string): void {
    this.around(() => this.stderr.write(`${this.stderr.isTTY ? '\r\x1b[K' : ''}${text}`));
  }

  private around(write: () => void): void {
    const hadLine = this.drawn;
    this.clear();
    write();
    if (hadLine) this.redraw();
  }
}

const stdout = new GuardedStream(process.stdout);
const stderr = new GuardedStream(process.stderr);

/** The process's screen: what every command and main print through. */
export const screen = new Screen(stdout, stderr);

/** A write to stdout or stderr that failed for a reason other than a closed pipe. */
export function outputFailure(): Error | undefined {
  return stdout.failure ?? stderr.failure;
}
