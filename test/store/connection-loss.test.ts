import { describe, expect, it } from 'vitest';
import { DependencyError, TransportError } from '../../src/errors.js';
import { asConnectionLoss } from '../../src/store/pool.js';

describe('asConnectionLoss', () => {
  it("reads a terminated backend's error as the database lost", () => {
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    expect(asConnectionLoss(terminated)).toMatchObject({ code: 'DATABASE_CONNECTION_LOST', cause: terminated });
    expect(asConnectionLoss(new Error('Connection terminated unexpectedly'))?.code).toBe('DATABASE_CONNECTION_LOST');
  });

  it("leaves an error geo already classified as it is: a broker's closed connection is not the database's", () => {
    const broker = new TransportError('SERVICEBUS_CONNECTION', 'the connection is closed', { retryable: true });
    expect(asConnectionLoss(broker)).toBeUndefined();
    const lost = new DependencyError('DATABASE_CONNECTION_LOST', 'lost the connection to PostgreSQL: Connection terminated');
    expect(asConnectionLoss(lost)).toBe(lost);
  });

  it('is undefined for any other error', () => {
    expect(asConnectionLoss(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBeUndefined();
  });
});
