import type { Progress, ProgressState } from './progress.js';
import { screen as processScreen, type Screen } from './terminal.js';

/**
 * Where a command's output goes. With --json exactly one JSON document goes
 * to stdout and everything meant for people goes to stderr.
 */
export class Output {
  constructor(
    readonly jsonMode: boolean,
    /** --wide: tables are not fitted to the terminal. */
    private readonly wide = false,
    private readonly screen: Screen = processScreen,
  ) {}

  json(document: unknown): void {
    this.screen.out(`${JSON.stringify(document, null, 2)}\n`);
  }

  /** A result line for people: stdout normally, stderr under --json. */
  line(text = ''): void {
    if (this.jsonMode) this.screen.err(`${text}\n`);
    else this.screen.out(`${text}\n`);
  }

  /**
   * Draws a whole screen in place (`geo status --watch`): on a terminal the
   * previous drawing is cleared first; elsewhere drawings follow each other.
   */
  redraw(draw: () => void): void {
    if (this.toTerminal && this.width > 0) this.screen.out('\x1b[H\x1b[2J');
    draw();
  }

  /** Side information (notices, warnings): always stderr. */
  notice(text: string): void {
    this.screen.err(`${text}\n`);
  }

  /** Whether `line` writes to a terminal, where a person is watching. */
  get toTerminal(): boolean {
    return (this.jsonMode ? this.screen.stderr : this.screen.stdout).isTTY;
  }

  /** The width tables fit: the terminal's that `line` writes to; 0 (no limit) for files, pipes and --wide. */
  get width(): number {
    if (this.wide) return 0;
    return (this.jsonMode ? this.screen.stderr : this.screen.stdout).columns;
  }

  /**
   * Whether tables are fitted to a terminal's width (ids shortened, columns
   * chosen); at full width (a file, a pipe, --wide) every column and every id
   * is whole, for scripts and for reading the whole story.
   */
  get fitted(): boolean {
    return this.width > 0;
  }

  /**
   * A progress bar on stderr when it is a terminal; otherwise nothing at all.
   * Its module (ora) is loaded here, by the commands that show one.
   */
  async progress(first: ProgressState): Promise<Progress> {
    const { startProgress } = await import('./progress.js');
    return startProgress(this.screen, first);
  }
}
