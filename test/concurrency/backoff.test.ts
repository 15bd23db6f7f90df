import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/concurrency/backoff.js';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, jittered within the upper half', () => {
    const policy = { baseMs: 100, maxMs: 1_000 };
    expect(backoffDelay(1, policy, () => 0)).toBe(50);
    expect(backoffDelay(1, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(400);
    expect(backoffDelay(10, policy, () => 1)).toBe(1_000);
  });
});
