/** The signals that stop geo the clean way: Ctrl-C on a terminal, and what supervisors send. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** What main does with a Ctrl-C or SIGTERM. */
export type StopAction =
  /** The command was asked to stop; it finishes what is in flight, prints its summary and returns. */
  | 'graceful'
  /** geo must leave now (a second signal, or a command that cannot stop cleanly). */
  | 'quit';

/**
 * Ctrl-C and SIGTERM, shared by every command. A command that can stop
 * cleanly takes `graceful()` and passes the signal to the core: the first
 * signal aborts it, the command prints its summary and the resume hint, and
 * geo then ends as killed by that signal. A second signal, or any signal
 * while a command that cannot stop cleanly runs, quits at once after the
 * note registered with `onQuit`; both are safe, as the batch protocol
 * recovers from a crash at any point.
 */
export class Interruption {
  private readonly controller = new AbortController();
  private stopsCleanly = false;
  private quitNote?: () => string | undefined;
  received?: StopSignal;

  /** For a command that stops cleanly on abort: the signal to pass to the core. */
  graceful(): AbortSignal {
    this.stopsCleanly = true;
    return this.controller.signal;
  }

  /** What to print if geo has to quit at once: the state so far and how to resume. */
  onQuit(note: () => string | undefined): void {
    this.quitNote = note;
  }

  /** Decides what a signal means now; main acts on it. */
  stop(signal: StopSignal): StopAction {
    if (this.received !== undefined) return 'quit';
    this.received = signal;
    if (!this.stopsCleanly) return 'quit';
    this.controller.abort();
    return 'graceful';
  }

  note(): string | undefined {
    return this.quitNote?.();
  }
}

/** The process's interruption state. */
export const interruption = new Interruption();
