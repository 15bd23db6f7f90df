/**
 * Canonical JSON: object keys sorted at every depth, the text the job id of
 * an input hashes. The same text as core/ids.ts's canonicalJson for JSON
 * values, faster on a million small items (where that was the first pass's
 * largest cost): a sorted copy is made only of objects whose keys are out of
 * order, and the text comes from the native JSON.stringify.
 */
export function canonicalJsonOf(value: unknown): string {
  return JSON.stringify(sorted(value)) ?? 'null';
}

function sorted(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.some(isObject) ? value.map(sorted) : value;
  const record = value as Record<string, unknown>;
  if (typeof record.toJSON === 'function') return sorted((record as { toJSON(): unknown }).toJSON());
  const keys = Object.keys(record);
  let inOrder = true;
  let nested = false;
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && keys[i - 1]! > keys[i]!) inOrder = false;
    if (isObject(record[keys[i]!])) nested = true;
  }
  if (inOrder && !nested) return record;
  const copy: Record<string, unknown> = {};
  for (const key of inOrder ? keys : keys.sort()) copy[key] = nested ? sorted(record[key]) : record[key];
  return copy;
}

function isObject(value: unknown): boolean {
  return value !== null && typeof value === 'object';
}
