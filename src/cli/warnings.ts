/**
 * Node warns (DEP0123) when a TLS connection sends an IP address as its
 * server name; the Service Bus SDK does that for an endpoint given by address
 * (a private endpoint, an emulator), and the warning means nothing to a geo
 * user. Only that code is dropped; every other warning is printed as before.
 */
const DROPPED_WARNINGS = new Set(['DEP0123']);

/** Installs the filter; returns what puts the original back. */
export function dropIrrelevantWarnings(): () => void {
  const original = process.emitWarning;
  const emitWarning = original.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    if (DROPPED_WARNINGS.has(warningCode(warning, rest) ?? '')) return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
  return () => {
    process.emitWarning = original;
  };
}

/** The code of a warning, in each of the forms emitWarning accepts. */
function warningCode(warning: unknown, rest: unknown[]): string | undefined {
  if (warning instanceof Error && 'code' in warning) return String(warning.code);
  const [second, third] = rest;
  if (second && typeof second === 'object' && 'code' in second) return String((second as { code: unknown }).code);
  return typeof third === 'string' ? third : undefined;
}
