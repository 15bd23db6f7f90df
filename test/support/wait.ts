import { setTimeout as sleep } from 'node:timers/promises';
import { vi } from 'vitest';

/**
 * A real delay, for tests where time passing is itself the point (a lease
 * lapses, a deadline passes); never to wait for something to happen: use
 * `waitFor` for that. Each caller says why the time matters.
 */
export { sleep };

/**
 * Calls `check` (vitest's `vi.waitFor`) until it returns a value other than
 * undefined and returns that value; at the deadline fails naming `what` was
 * awaited, with the last error `check` threw as the cause.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  try {
    return await vi.waitFor(
      async () => {
        const value = await check();
        if (value === undefined) throw new Error(`not yet: ${what}`);
        return value;
      },
      { timeout: opts.timeoutMs ?? 30_000, interval: opts.intervalMs ?? 50 },
    );
  } catch (err) {
    throw new Error(`timed out waiting for ${what}`, { cause: err });
  }
}
