/**
 * Every transport geo has, by the name configuration, jobs and the CLI use.
 * The registry (index.ts) holds a kind for each; this module imports nothing,
 * so configuration can name the transports without loading them.
 */
export const TRANSPORT_NAMES = ['local', 'servicebus', 'storage-queue'] as const;

export type TransportName = (typeof TRANSPORT_NAMES)[number];

/** A new job's transport when none is configured: the queue that needs nothing but the database. */
export const DEFAULT_TRANSPORT: TransportName = 'local';

/** "a, b or c", as help and messages list the names. */
export function listNames(names: readonly string[] = TRANSPORT_NAMES): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}
