import type { CommanderError } from 'commander';
import { type CodeOfKind, InputError } from '../errors.js';

const CODES: Record<string, CodeOfKind<'input'>> = {
  'commander.unknownCommand': 'UNKNOWN_COMMAND',
  'commander.unknownOption': 'UNKNOWN_OPTION',
  'commander.missingArgument': 'MISSING_ARGUMENT',
  'commander.excessArguments': 'EXCESS_ARGUMENTS',
  'commander.optionMissingArgument': 'MISSING_OPTION_VALUE',
  'commander.missingMandatoryOptionValue': 'MISSING_MANDATORY_OPTION',
  'commander.conflictingOption': 'CONFLICTING_OPTIONS',
  'commander.invalidArgument': 'INVALID_ARGUMENT',
};

/** Help or version was asked for: commander printed it, and that is success. */
export function isHelpOrVersion(err: CommanderError): boolean {
  return err.exitCode === 0;
}

/**
 * A command-line mistake commander found, as geo's own error, so that it is
 * printed (and mapped to exit 2) like every other failure, `--json` included.
 */
export function usageError(err: CommanderError): InputError {
  if (err.code === 'commander.help') return new InputError('USAGE', 'a command is required', { cause: err });
  return new InputError(CODES[err.code] ?? 'USAGE', err.message.replace(/^error: /, ''), { cause: err });
}

/**
 * Whether `--json` was asked for. Commander stores it only once parsing got
 * that far, and a usage error can stop parsing before, so the raw arguments
 * (up to a `--`) decide when the parsed options do not.
 */
export function jsonRequested(parsed: { json?: boolean }, argv: string[]): boolean {
  if (parsed.json) return true;
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
