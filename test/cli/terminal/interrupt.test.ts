import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { taskStatusCounts } from '../../support/submit.js';
import { endAllTerminals, type Launch, startInTerminal, visibleLines } from './pty.js';

let db: TestDatabase;
let env: Record<string, string>;
let run = 0;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-terminal-test-unused') };
});
afterAll(async () => {
  await db.drop();
});
beforeEach(() => {
  run++;
});
afterEach(endAllTerminals);

/** A submit far too long to finish during the test: 3,000,000 tasks. */
const longSubmit = (name: string) => ['submit', 'hello_world', '--n', '3000000', '--param', `name=${name}-${run}`];
/** The progress bar once it has counted something. */
const PROGRESS = /[1-9][\d,]* \/ 3,000,000 tasks/;

async function jobOf(screen: string): Promise<{ jobId: string; counts: Record<string, number> }> {
  const jobId = /job ([0-9a-f]{64})/.exec(screen)?.[1];
  expect(jobId, screen).toBeDefined();
  return { jobId: jobId!, counts: await taskStatusCounts(db.pool, jobId!) };
}

describe('Ctrl-C and SIGTERM on a real terminal', () => {
  it.each<[Launch]>([['node'], ['direct'], ['npx']])(
    'Ctrl-C typed into the terminal stops a long submit (started via %s) within 2 s with its summary and resume hint, status 130',
    async (launch) => {
      const session = await startInTerminal(longSubmit(`ctrl-c-${launch}`), { env, columns: 80, launch });
      await session.waitFor(PROGRESS);
      session.type('\x03');
      const result = await session.exit(2_000);

      expect(result.status).toBe(130);
      const lines = visibleLines(result.screen);
      expect(lines).toContain('geo: stopping after the work in flight (Ctrl-C again quits at once)');
      expect(lines).toContain('  stopped: interrupted');
      expect(lines).toContain('  run the same command again (or geo retry-pending) to finish');
      // The summary tells the truth about what was written: resumable from there.
      const { counts } = await jobOf(result.screen);
      const summary = lines.find((l) => l.includes('3,000,000 tasks in 30,000 batches:'))!;
      const queued = Number(/: ([\d,]+) queued/.exec(summary)![1]!.replaceAll(',', ''));
      expect(queued).toBeGreaterThan(0);
      expect(queued).toBeLessThan(3_000_000);
      expect(counts).toEqual({ queued });
    },
  );

  it('a second Ctrl-C quits at once while the first waits for slow sends', async () => {
    // Each batch send takes 5 s (the Service Bus peer's latency), so a clean stop would take that long.
    const { startServiceBusPeer } = await import('../../support/servicebus-peer/index.js');
    const peer = await startServiceBusPeer({ queues: { slow: {} } });
    try {
      peer.faults.setLatencyMs(5_000);
      const session = await startInTerminal(longSubmit('twice'), {
        env: { ...env, GEO_TRANSPORT: 'servicebus', GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(), GEO_SERVICEBUS_QUEUE: 'slow' },
        columns: 80,
      });
      await session.waitFor(/0 tasks/);
      session.type('\x03');
      await session.waitFor(/Ctrl-C again quits at once/);
      session.type('\x03');
      const result = await session.exit(2_000);

      expect(result.status).toBe(130);
      const lines = visibleLines(result.screen);
      // No batch was acknowledged yet, so there is no count to give.
      expect(lines.at(-1)).toBe('geo: stopped at once; run the same command again (or geo retry-pending) to finish');
      expect(lines.some((l) => l.startsWith('job '))).toBe(false);
    } finally {
      await peer.close();
    }
  });

  it('SIGTERM takes the same path as the first Ctrl-C: summary, resume hint, status 143', async () => {
    const session = await startInTerminal(longSubmit('sigterm'), { env, columns: 80 });
    await session.waitFor(PROGRESS);
    process.kill(await session.pid(), 'SIGTERM');
    const result = await session.exit(2_000);

    expect(result.status).toBe(143);
    const lines = visibleLines(result.screen);
    expect(lines).toContain('geo: stopping after the work in flight (SIGTERM again quits at once)');
    expect(lines).toContain('  stopped: interrupted');
    const { counts } = await jobOf(result.screen);
    expect(counts.queued).toBeGreaterThan(0);
  });

  it('Ctrl-C while geo is still connecting quits at once, status 130', async () => {
    // A TCP port that accepts and never answers: the Service Bus connect hangs until its timeout.
    const net = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    try {
      const session = await startInTerminal(longSubmit('connecting'), {
        env: {
          ...env,
          GEO_TRANSPORT: 'servicebus',
          GEO_SERVICEBUS_CONNECTION_STRING: `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true`,
          GEO_SERVICEBUS_TIMEOUT_MS: '60000',
        },
        columns: 80,
      });
      await new Promise<void>((resolve) => silent.once('connection', () => resolve()));
      session.type('\x03');
      const result = await session.exit(2_000);
      expect(result.status).toBe(130);
      expect(visibleLines(result.screen)).toContain('geo: interrupted');
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
