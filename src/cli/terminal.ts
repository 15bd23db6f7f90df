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
  /**
   * The stream's own write, taken before anything replaces it: a running ora
   * spinner hooks process.stdout and process.stderr to keep stray writes
   * (console.log) off its line, while geo's own writes go through the Screen,
   * which clears and redraws the line itself, so they must not be handled twice.
   */
  private readonly send: (text: string) => void;

  constructor(
    private readonly stream: NodeStream,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.send = stream.write.bind(stream);
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.closed = true;
      if (err.code !== 'EPIPE') this.failure ??= err;
    });
  }

  write(text: string): void {
    if (this.closed || this.stream.destroyed) return;
    this.send(text);
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

/**
 * The one line a progress display keeps on stderr (an ora spinner): cleared
 * before any other line is written and drawn again after it.
 */
export interface LiveLine {
  clear(): unknown;
  render(): unknown;
  /** Clears it and stops its redraws for good. */
  stop(): unknown;
}

/**
 * Both output streams plus at most one live line on stderr. Every write goes
 * through here so that a line printed while progress is shown first clears
 * it and then draws it again below, instead of mixing with it.
 */
export class Screen {
  private live?: LiveLine;

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

  /** Keeps `line` below everything printed until `detach`; the caller has checked that stderr is interactive. */
  attach(line: LiveLine): void {
    this.clear();
    this.live = line;
  }

  detach(line: LiveLine): void {
    if (this.live !== line) return;
    this.clear();
  }

  /** Removes the live line from the screen for good (before an immediate exit, or when its command ends). */
  clear(): void {
    this.live?.stop();
    this.live = undefined;
  }

  /**
   * Starts a line of its own on a terminal's stderr for a message about a
   * signal: the terminal has echoed "^C" where the cursor was.
   */
  signalLine(text: string): void {
    this.around(() => this.stderr.write(`${this.stderr.isTTY ? '\r\x1b[K' : ''}${text}`));
  }

  private around(write: () => void): void {
    this.live?.clear();
    write();
    this.live?.render();
  }
}

/**
 * What ora needs of its stream, over geo's guarded stderr: cursor moves as
 * the escape sequences a terminal takes (`\r` for the line's start), and
 * writes that never report back-pressure (a terminal's stderr drains fast and
 * a progress line is redrawn anyway).
 */
export class SpinnerStream {
  readonly isTTY = true;

  constructor(private readonly out: OutStream) {}

  get columns(): number {
    return this.out.columns;
  }

  write(text: string): boolean {
    this.out.write(text);
    return true;
  }

  cursorTo(x: number): boolean {
    return this.write(x === 0 ? '\r' : `\x1b[${x + 1}G`);
  }

  moveCursor(dx: number, dy: number): boolean {
    const horizontal = dx > 0 ? `\x1b[${dx}C` : dx < 0 ? `\x1b[${-dx}D` : '';
    const vertical = dy > 0 ? `\x1b[${dy}B` : dy < 0 ? `\x1b[${-dy}A` : '';
    return this.write(horizontal + vertical);
  }

  clearLine(direction: -1 | 0 | 1): boolean {
    return this.write(direction === 1 ? '\x1b[K' : direction === -1 ? '\x1b[1K' : '\x1b[2K');
  }

  once(): this {
    return this;
  }

  removeListener(): this {
    return this;
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
