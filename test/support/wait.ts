import { setTimeout as sleep } from 'node:timers/promises';
import { vi } from 'vitest';

/**
 * A real delay, for tests where time passing is itself the point (a lease
 * lapses, a window in which something must not happen); never to wait for
 * something to happen: use `waitFor` for that. Each caller says why the time
 * matters.
 */
export { sleep };

/**
 * Calls `check` (vitest's `vi.waitFor`) until it returns a value other than
 * undefined or false, and returns that value; at the deadline fails naming
 * `what` was awaited (a function is asked at that moment, to say what it saw),
 * with the last error `check` threw as the cause.
 */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  try {
    return await vi.waitFor(
      async () => {
        const value = await check();
        if (value === undefined || value === false) throw new Error('not yet');
        return value;
      },
      { timeout: opts.timeoutMs ?? 30_000, interval: opts.intervalMs ?? 50 },
    );
  } catch (err) {
    throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`, { cause: err });
  }
}
