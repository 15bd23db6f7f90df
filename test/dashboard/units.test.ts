import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseActionBody } from '../../src/dashboard/actions.js';
import { hostAllowed, isLoopbackHost, sameOriginWrite, tokenAuth } from '../../src/dashboard/auth.js';
import { bucketFor } from '../../src/dashboard/job-details.js';
import { encodeCursor, parseJobsQuery } from '../../src/dashboard/jobs-list.js';
import { cellStatus, spatialKind } from '../../src/dashboard/tiles.js';
import { type TaskStatusCounts, zeroTaskCounts } from '../../src/statuses.js';
import { parseNotification } from '../../src/store/dashboard-listen.js';

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
const counts = (c: Partial<TaskStatusCounts>): TaskStatusCounts => ({ ...zeroTaskCounts(), ...c });

describe('dashboard rules', () => {
  it('loopback is 127.0.0.0/8, ::1 and localhost; nothing else', () => {
    expect(['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'].map(isLoopbackHost)).toEqual(Array(7).fill(true));
    expect(['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '128.0.0.1'].map(isLoopbackHost)).toEqual(Array(6).fill(false));
    expect(hostAllowed(request({ host: '127.0.0.1:8080' }))).toBe(true);
    expect(hostAllowed(request({ host: '[::1]:8080' }))).toBe(true);
    expect(hostAllowed(request({ host: 'localhost.evil.example:8080' }))).toBe(false);
    expect(hostAllowed(request({}))).toBe(false);
  });

  it('a token is accepted as bearer, as the session cookie after ?token=, and refused otherwise', () => {
    const check = tokenAuth('0123456789abcdef-token');
    const url = new URL('http://x/api/jobs');
    expect(check(request({ authorization: 'Bearer 0123456789abcdef-token' }), url)).toEqual({ ok: true });
    expect(check(request({ authorization: 'Bearer 0123456789abcdef-toke' }), url)).toEqual({ ok: false });
    expect(check(request({}), url)).toEqual({ ok: false });
    const first = check(request({}), new URL('http://x/?token=0123456789abcdef-token'));
    expect(first.ok && first.setCookie).toMatch(/^geo_dashboard=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/$/);
    const cookie = (first.ok && first.setCookie ? first.setCookie : '').split(';')[0]!;
    expect(check(request({ cookie: `other=1; ${cookie}` }), url)).toEqual({ ok: true });
    expect(tokenAuth(undefined)(request({}), url)).toEqual({ ok: true });
  });

  it('an action must be same-origin JSON and confirm the job by its full id', () => {
    expect(sameOriginWrite(request({ 'content-type': 'application/json; charset=utf-8', host: 'h:1', origin: 'http://h:1' }))).toBe(true);
    expect(sameOriginWrite(request({ 'content-type': 'application/json', host: 'h:1' }))).toBe(true);
    expect(sameOriginWrite(request({ 'content-type': 'application/json', host: 'h:1', origin: 'http://other:1' }))).toBe(false);
    expect(sameOriginWrite(request({ 'content-type': 'application/x-www-form-urlencoded', host: 'h:1' }))).toBe(false);
    expect(parseActionBody({ confirm: 'abc', reason: 'r' }, 'abc')).toEqual({ reason: 'r' });
    expect(() => parseActionBody({ confirm: 'ab' }, 'abc')).toThrow(/confirmed/);
    expect(() => parseActionBody({ confirm: 'abc', reason: 5 }, 'abc')).toThrow(/reason/);
  });

  it('a cell is failed if any task failed, completed when all finished, cancelled when none ran, else its most advanced open state', () => {
    expect(cellStatus(counts({ completed: 9, failed: 1 }))).toBe('failed');
    expect(cellStatus(counts({ completed: 10 }))).toBe('completed');
    expect(cellStatus(counts({ completed: 5, processing: 1, queued: 4 }))).toBe('processing');
    expect(cellStatus(counts({ completed: 5, queued: 5 }))).toBe('queued');
    expect(cellStatus(counts({ pending_queue: 3 }))).toBe('pending_queue');
    expect(cellStatus(counts({ completed: 2, cancelled: 8 }))).toBe('completed');
    expect(cellStatus(counts({ cancelled: 8 }))).toBe('cancelled');
  });

  it('tasks are mapped by a tile (top level or under tile) or a bbox of four numbers', () => {
    expect(spatialKind({ z: 3, x: 1, y: 2 })).toBe('tile');
    expect(spatialKind({ tile: { z: 3, x: 1, y: 2 }, other: 1 })).toBe('tile');
    expect(spatialKind({ bbox: [1, 2, 3, 4] })).toBe('bbox');
    expect(spatialKind({ bbox: [1, 2, 3] })).toBeUndefined();
    expect(spatialKind({ z: '3', x: 1, y: 2 })).toBeUndefined();
    expect(spatialKind({ i: 1, message: 'hello' })).toBeUndefined();
    expect(spatialKind(null)).toBeUndefined();
  });

  it('notifications parse as job and stage changes; anything else is ignored', () => {
    expect(parseNotification('geo_progress', 'abc:2')).toEqual({ channel: 'geo_progress', jobId: 'abc', stage: 2 });
    expect(parseNotification('geo_job_changed', 'abc')).toEqual({ channel: 'geo_job_changed', jobId: 'abc' });
    expect(parseNotification('geo_progress', 'abc')).toBeUndefined();
    expect(parseNotification('other', 'abc:1')).toBeUndefined();
  });

  it('jobs queries: limits, statuses and cursors are checked; a cursor round-trips', () => {
    const cursor = encodeCursor({ createdMicros: '1796574246811123', jobId: 'ab'.repeat(32) });
    expect(parseJobsQuery(new URLSearchParams({ cursor, status: 'failed', type: 'tiles', limit: '10' }))).toEqual({
      status: 'failed',
      type: 'tiles',
      limit: 10,
      cursor: { createdMicros: '1796574246811123', jobId: 'ab'.repeat(32) },
    });
    expect(() => parseJobsQuery(new URLSearchParams({ limit: '201' }))).toThrow(/limit/);
    expect(() => parseJobsQuery(new URLSearchParams({ cursor: 'bm9wZQ' }))).toThrow(/cursor/);
    expect(() => parseJobsQuery(new URLSearchParams({ status: 'queued' }))).toThrow(/status/);
  });

  it('chart buckets split a job life into at most about 300', () => {
    expect(bucketFor(10)).toBe(1);
    expect(bucketFor(300)).toBe(1);
    expect(bucketFor(301)).toBe(2);
    expect(bucketFor(3_600)).toBe(15);
    expect(bucketFor(86_400 * 30)).toBe(21_600);
  });
});
