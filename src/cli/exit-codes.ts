import { CommanderError } from 'commander';
import { GeoError } from '../errors.js';

export const EXIT = { ok: 0, incomplete: 1, input: 2, dependency: 3 } as const;

/** The one place an error becomes an exit code (see README, "Exit codes"). */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.input;
  if (err instanceof GeoError) {
    switch (err.kind) {
      case 'input':
        return EXIT.input;
      case 'dependency':
        return EXIT.dependency;
      default:
        return EXIT.incomplete;
    }
  }
  return EXIT.incomplete;
}

/** Thrown by a command whose work ran but did not fully succeed; carries its exit code. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
