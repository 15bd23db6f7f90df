import { setTimeout as timeout } from 'node:timers/promises';

export interface BackoffPolicy {
  /** The delay before the first retry, before any jitter. */
  baseMs: number;
  /** The most the doubling reaches (the cap below), before any jitter. */
  maxMs: number;
  /** `equal` (the default): half of the cap fixed, half random. `none`: the cap itself. */
  jitter?: 'equal' | 'none';
}

/**
 * The delay before retry `attempt` (1 for the first; below 1 counts as 1).
 * With cap = min(maxMs, baseMs * 2^(attempt - 1)), it is
 * round(cap / 2 + random() * cap / 2) with equal jitter, so many senders
 * retrying after one outage do not arrive together yet none retries at once;
 * with no jitter it is cap, for waits that only one process keeps.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  if (policy.jitter === 'none') return cap;
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts: every caller checks
 * the signal itself afterwards, so an abort ends the wait without throwing.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await timeout(ms, undefined, { signal });
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}
