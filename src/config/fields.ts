/**
 * Reads configuration values from text (environment variables, flags) and
 * collects every problem as a `NAME: message` line, so one run reports all
 * of them. Kept free of zod on purpose: every command reads configuration,
 * and importing zod costs more CPU than the rest of `geo status`'s start.
 */
export class FieldReader {
  readonly problems: string[] = [];

  /** A string value; blank counts as unset. */
  text(value: string | undefined): string | undefined {
    return value === undefined || value.trim() === '' ? undefined : value;
  }

  /** A whole number within bounds; unset gives `fallback`. */
  integer(name: string, value: string | undefined, fallback: number, bounds: { min: number; max: number }): number {
    const given = this.text(value);
    if (given === undefined) return fallback;
    const number = Number(given.trim());
    if (Number.isInteger(number) && number >= bounds.min && number <= bounds.max) return number;
    this.problems.push(`${name}: must be a whole number from ${bounds.min} to ${bounds.max} (got ${show(given)})`);
    return fallback;
  }

  /** One of `allowed`; anything else is reported with `message(given)`. */
  oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], message: (given: string) => string): T | undefined {
    const given = this.text(value);
    if (given === undefined || (allowed as readonly string[]).includes(given)) return given as T | undefined;
    this.problems.push(`${name}: ${message(given)}`);
    return undefined;
  }

  /** A value `accepts` approves of; anything else is reported with `message`. */
  checked(name: string, value: string | undefined, accepts: (value: string) => boolean, message: string): string | undefined {
    const given = this.text(value);
    if (given === undefined || accepts(given)) return given;
    this.problems.push(`${name}: ${message}`);
    return undefined;
  }
}

/** A value as a message quotes it. */
export function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Whether `value` parses as an absolute URL, optionally with one of `protocols`. */
export function isUrl(value: string, protocols?: string[]): boolean {
  try {
    const url = new URL(value);
    return !protocols || (protocols.includes(url.protocol) && url.hostname !== '');
  } catch {
    return false;
  }
}
