import { z } from 'zod';

const DECIMAL_INTEGER = /^-?\d+$/;
const DECIMAL_NUMBER = /^-?(\d+(\.\d+)?|\.\d+)$/;

export interface RangeOptions {
  min?: number;
  max?: number;
  description?: string;
}

/**
 * A whole number given as a JSON number or as text of plain decimal digits
 * (`--param n=16`, a CSV cell). `0x10`, `1e3` and `1.0` are refused with a
 * message saying why: a typo there would otherwise submit a job of another size.
 */
export function integer(options: RangeOptions = {}) {
  // The range first, and each check the last one to fail: 99999999999999999999 is "at most
  // 10,000,000", not also "not a whole number" (a number that large has no exact value).
  let inner = z.number({ error: (issue) => notANumber(issue.input, 'whole number') });
  if (options.min !== undefined) inner = inner.min(options.min, { error: `must be at least ${formatNumber(options.min)}`, abort: true });
  if (options.max !== undefined) inner = inner.max(options.max, { error: `must be at most ${formatNumber(options.max)}`, abort: true });
  inner = inner.int({ error: (issue) => notWhole(issue.input) });
  return z
    .preprocess((value) => (typeof value === 'string' && DECIMAL_INTEGER.test(value.trim()) ? Number(value.trim()) : value), inner)
    .meta(jsonSchemaOf('integer', options));
}

function notWhole(input: unknown): string {
  if (typeof input === 'number' && Number.isInteger(input)) return `is too large (at most ${formatNumber(Number.MAX_SAFE_INTEGER)})`;
  return `must be a whole number (got ${show(input)})`;
}

/** A number given as a JSON number or as plain decimal text (`12.5`, `-0.25`); no exponents, no hex. */
export function number(options: RangeOptions = {}) {
  let inner = z.number({ error: (issue) => notANumber(issue.input, 'number') });
  if (options.min !== undefined) inner = inner.min(options.min, { error: `must be at least ${formatNumber(options.min)}`, abort: true });
  if (options.max !== undefined) inner = inner.max(options.max, { error: `must be at most ${formatNumber(options.max)}`, abort: true });
  return z
    .preprocess((value) => (typeof value === 'string' && DECIMAL_NUMBER.test(value.trim()) ? Number(value.trim()) : value), inner)
    .meta(jsonSchemaOf('number', options));
}

function notANumber(input: unknown, kind: string): string {
  if (input === undefined) return 'is required';
  if (typeof input !== 'string') return `must be a ${kind} (got ${show(input)})`;
  const text = input.trim();
  if (text === '') return 'must not be empty';
  if (kind === 'whole number' && DECIMAL_NUMBER.test(text)) return `must be a whole number (got ${show(input)})`;
  // Number() reads these, so they look numeric, but they are not what the user meant to type.
  if (Number.isFinite(Number(text))) return `must be a plain decimal ${kind} (got ${show(input)})`;
  return `must be a number (got ${show(input)})`;
}

function jsonSchemaOf(type: 'integer' | 'number', options: RangeOptions): Record<string, unknown> {
  return {
    type,
    ...(options.min !== undefined ? { minimum: options.min } : {}),
    ...(options.max !== undefined ? { maximum: options.max } : {}),
    ...(options.description !== undefined ? { description: options.description } : {}),
  };
}

/** A value as it appears in a message: JSON, cut short. */
export function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function formatNumber(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 20 });
}
