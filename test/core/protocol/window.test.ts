import { describe, expect, it } from 'vitest';
import { GroupWindow, MAX_WIDENING } from '../../../src/core/protocol/window.js';

describe('the window of groups in flight', () => {
  it('is --concurrency until a group has been measured', () => {
    expect(new GroupWindow(4).size).toBe(4);
  });

  it('widens by (statements + round trip) / statements, so the database stays as busy as with no wait', () => {
    const window = new GroupWindow(2);
    window.observe({ databaseMs: 40, sendMs: 40 });
    expect(window.size).toBe(4);
  });

  it('never widens past MAX_WIDENING times --concurrency, however long the round trip', () => {
    const window = new GroupWindow(3);
    window.observe({ databaseMs: 10, sendMs: 5_000 });
    expect(window.size).toBe(3 * MAX_WIDENING);
  });

  it('narrows back to --concurrency when the broker answers at once again, never below it', () => {
    const window = new GroupWindow(2);
    window.observe({ databaseMs: 20, sendMs: 400 });
    expect(window.size).toBe(2 * MAX_WIDENING);
    for (let i = 0; i < 40; i++) window.observe({ databaseMs: 20, sendMs: 0 });
    expect(window.size).toBe(2);
  });
});
