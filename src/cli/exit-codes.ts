import { type ErrorKind, GeoError } from '../errors.js';

/** The exit codes of the interface contract (README, "Exit codes"). */
export const EXIT = { ok: 0, incomplete: 1, input: 2, dependency: 3 } as const;

const EXIT_BY_KIND: Record<ErrorKind, number> = {
  input: EXIT.input,
  dependency: EXIT.dependency,
  incomplete: EXIT.incomplete,
  internal: EXIT.incomplete,
};

/** The exit code of an error: its code's kind decides (src/errors.ts, ERROR_KINDS). */
export function exitCodeFor(err: unknown): number {
  return err instanceof GeoError ? EXIT_BY_KIND[err.kind] : EXIT.incomplete;
}

/** What a command that did work reports about it, whatever the command. */
export interface RunOutcome {
  /** Why the run stopped early, if it did. */
  stoppedBy?: GeoError;
  /** The only work the run found needs configuration it does not have (a destination's credentials). */
  misconfigured?: boolean;
  /** Units the run was asked to finish and did not (tasks pending or failed, batches given up on). */
  unfinished: number;
}

/**
 * The one function from a command's result to its exit code. A stop for bad
 * configuration or an unreachable dependency says so (2 or 3), as does a run
 * that could only find work it is not configured for (2); otherwise
 * anything left unfinished is 1. A stop that left nothing unfinished (an
 * interrupt that came after the last batch) is success.
 */
export function exitCodeForOutcome(outcome: RunOutcome): number {
  if (outcome.stoppedBy) {
    const code = exitCodeFor(outcome.stoppedBy);
    if (code === EXIT.input || code === EXIT.dependency) return code;
  }
  if (outcome.misconfigured) return EXIT.input;
  return outcome.unfinished > 0 ? EXIT.incomplete : EXIT.ok;
}

/** Thrown by a command whose work ran but did not fully succeed; carries its exit code to main. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Ends a command with the exit code of its outcome (main turns the throw into the code). */
export function finishRun(outcome: RunOutcome): void {
  const code = exitCodeForOutcome(outcome);
  if (code !== EXIT.ok) throw new ExitCode(code);
}
