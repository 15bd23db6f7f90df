import { InputError } from '../errors.js';

/** Parses a whole number option within bounds, with an error naming the option. */
export function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InputError('INVALID_OPTION', `${name} must be a whole number from ${min} to ${max} (got "${value}")`);
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
