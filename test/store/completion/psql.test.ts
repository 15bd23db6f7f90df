import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseTaskMessage, type TaskMessage } from '../../../src/transports/message.js';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { serviceBusEnv } from '../../support/servicebus-env.js';
import { useServiceBusFixture } from '../../support/servicebus-fixture.js';
import { drainQueue } from '../../support/servicebus-receive.js';

const run = promisify(execFile);
const fixture = useServiceBusFixture();
const N = 300;

/**
 * A worker that is not Node: one psql session works through the deliveries,
 * calling the completion API with psql's own quoting (:'var'), as a shell
 * script would. Returns, per delivery, the claim outcome and the completion
 * outcome with its stage_completed flag.
 */
async function psqlDeliver(url: string, deliveries: TaskMessage[]): Promise<Array<[string, string]>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-psql-'));
  const script = path.join(dir, 'deliver.sql');
  const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  await fs.writeFile(
    script,
    deliveries
      .flatMap((m) => [
        `\\set task ${quote(m.taskId)}`,
        `\\set result ${quote(JSON.stringify({ message: String(m.parameters.message) }))}`,
        // The claim's token is kept for the report; only a claim that took the task runs and reports it.
        `SELECT outcome, coalesce(claim, 0) AS claim, outcome = 'claimed' AS run FROM geo_claim_task(:'task', 'psql-worker', interval '60 seconds') \\gset`,
        `SELECT :'outcome';`,
        `\\if :run`,
        `SELECT outcome, stage_completed FROM geo_complete_task(:'task', :claim, :'result'::jsonb);`,
        `\\else`,
        `SELECT 'acknowledged', false;`,
        `\\endif`,
      ])
      .join('\n'),
  );
  try {
    const { stdout } = await run(
      'psql',
      [url, '--no-psqlrc', '--quiet', '--tuples-only', '--no-align', '--field-separator=,', '-v', 'ON_ERROR_STOP=1', '-f', script],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const lines = stdout.trim().split('\n');
    return deliveries.map((_, i) => [lines[2 * i]!, lines[2 * i + 1]!]);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('the completion API from a client that is not Node (psql)', () => {
  it("psql claims and completes a Service Bus job's tasks, duplicates included; retry-pending then queues stage 2", async () => {
    const { db, peer } = fixture;
    const queue = 'psql-worker';
    peer.createQueue(queue, { duplicateDetection: true });
    const env = serviceBusEnv(db, peer, queue);
    const submitted = await runGeo(['submit', 'hello_world', '--n', String(N), '--param', 'name=psql', '--json'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);

    const messages = (await drainQueue(peer.connectionString(), queue, N)).map(parseTaskMessage);
    expect(messages).toHaveLength(N);
    // Every 10th task is delivered twice (at-least-once brokers do that).
    const deliveries = [...messages, ...messages.filter((_, i) => i % 10 === 0)];
    const outcomes = await psqlDeliver(db.url, deliveries);

    const first = outcomes.slice(0, N);
    const repeats = outcomes.slice(N);
    expect(first.every(([claim, complete]) => claim === 'claimed' && /^completed,[tf]$/.test(complete!))).toBe(true);
    expect(repeats).toHaveLength(N / 10);
    expect(repeats.every(([claim, complete]) => claim === 'finished' && complete === 'acknowledged,f')).toBe(true);
    // Exactly one completion, the last first delivery, finished stage 1.
    expect(first.filter(([, complete]) => complete === 'completed,t')).toHaveLength(1);
    expect(first.at(-1)![1]).toBe('completed,t');

    const swept = await runGeo(['retry-pending', '--json'], env);
    expect(swept.code, swept.stderr).toBe(0);
    expect(parseJsonOutput<{ advancedStages: unknown[] }>(swept).advancedStages).toEqual([
      expect.objectContaining({ jobId, stage: 1, action: 'queued-next-stage', nextStage: 2 }),
    ]);
    const replies = (await drainQueue(peer.connectionString(), queue, N)).map(parseTaskMessage);
    expect(replies).toHaveLength(N);
    expect(new Set(replies.map((m) => m.taskId)).size).toBe(N);
    expect(replies.every((m) => m.stage === 2 && String(m.parameters.greeting).startsWith('Hello psql from task '))).toBe(true);
    peer.deleteQueue(queue);
  });
});
