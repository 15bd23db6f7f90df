import { type Command, Option } from 'commander';
import { InputError } from '../errors.js';
import { listNames, transportOptions } from '../transports/index.js';
import { formatCount, formatDurationOption } from './format.js';

/** Parses a whole number option within bounds, with an error naming the option. */
export function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InputError('INVALID_OPTION', `${name} must be a whole number from ${formatCount(min)} to ${formatCount(max)} (got "${value}")`);
    }
    return n;
  };
}

/** Collects repeated `--param key=value` options into an object. */
export function collectParam(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  const key = eq > 0 ? value.slice(0, eq).trim() : '';
  if (!key) throw new InputError('INVALID_PARAM', `--param takes key=value (got "${value}")`);
  if (key in previous) throw new InputError('INVALID_PARAM', `--param ${key} is given twice`);
  return { ...previous, [key]: value.slice(eq + 1) };
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** Parses a duration option ("90", "90s", "5m", "2h", "1d") into seconds. */
export function durationOption(name: string) {
  return (value: string): number => {
    const match = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/.exec(value.trim());
    if (!match) throw new InputError('INVALID_OPTION', `${name} takes a duration like 90s, 5m, 2h or 1d (got "${value}")`);
    return Number(match[1]) * DURATION_UNITS[match[2] || 's']!;
  };
}

/** A duration option whose help shows its default as a duration ("30m"), not as seconds. */
export function durationFlag(flags: string, description: string, defaultSeconds: number): Option {
  const name = flags.split(/[ ,]/)[0]!;
  return new Option(flags, description).argParser(durationOption(name)).default(defaultSeconds, formatDurationOption(defaultSeconds));
}

/** Adds the options of single transports that a kind of command takes, from the transports' registry. */
export function addTransportOptions(command: Command, use: 'dispatch' | 'work'): Command {
  for (const option of transportOptions(use)) command.option(option.flags, `${listNames(option.transports)} only: ${option.description}`);
  return command;
}
