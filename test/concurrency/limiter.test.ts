import { describe, expect, it } from 'vitest';
import { AdaptiveLimiter } from '../../src/concurrency/limiter.js';
import { sleep } from '../support/wait.js';

describe('AdaptiveLimiter', () => {
  it('halves on throttling and grows back one at a time after successes', async () => {
    const limiter = new AdaptiveLimiter(8);
    limiter.throttled();
    expect(limiter.limit).toBe(4);
    limiter.throttled();
    limiter.throttled();
    limiter.throttled();
    expect(limiter.limit).toBe(1);
    limiter.succeeded();
    expect(limiter.limit).toBe(2);
    limiter.succeeded();
    limiter.succeeded();
    expect(limiter.limit).toBe(3);
  });

  it('never lets more than the limit run at once', async () => {
    const limiter = new AdaptiveLimiter(2);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        await limiter.acquire();
        running++;
        peak = Math.max(peak, running);
        // Each holds its slot a while, so the ten overlap and the limit is what stops them.
        await sleep(5);
        running--;
        limiter.release();
      }),
    );
    expect(peak).toBe(2);
  });
});
