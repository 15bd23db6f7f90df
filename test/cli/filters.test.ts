import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { writePendingJob } from '../support/submit.js';

let db: TestDatabase;
let env: Record<string, string>;
let jobId: string;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-cli-test-unused') };
  jobId = String(parseJsonOutput(await runGeo(['submit', 'hello_world', '--n', '1000', '--param', 'name=filters', '--json'], env)).jobId);
});
afterAll(async () => {
  await db.drop();
});

describe('geo batches filters (subprocess)', () => {
  it('--status without --all lists the matching batches, not "no problem batches"', async () => {
    const result = await runGeo(['batches', jobId.slice(0, 12), '--status', 'queued'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/no problem batches/);
    expect(result.stdout).toContain('\n10 batches with status queued or with queued tasks:\n');
    const rows = result.stdout.split('\n').filter((l) => l.startsWith(`${jobId.slice(0, 16)}-s1-b`));
    expect(rows).toHaveLength(10);
  });

  it('--limit is honoured under --json, and says how many it left out', async () => {
    const result = await runGeo(['batches', jobId.slice(0, 12), '--limit', '3', '--json'], env);
    expect(result.code).toBe(0);
    const doc = parseJsonOutput<{ batches: Array<{ batchId: string }>; omittedBatches: number }>(result);
    expect(doc.batches.map((b) => b.batchId)).toEqual([0, 1, 2].map((k) => `${jobId.slice(0, 16)}-s1-b${k}`));
    expect(doc.omittedBatches).toBe(7);
    // Without --limit, --json lists every batch.
    expect(parseJsonOutput<{ batches: unknown[] }>(await runGeo(['batches', jobId.slice(0, 12), '--json'], env)).batches).toHaveLength(10);
  });

  it('--stage 9 on a two-stage job is exit 2 naming the stages', async () => {
    const result = await runGeo(['batches', jobId.slice(0, 12), '--stage', '9'], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('geo: --stage 9: hello_world has no stage 9; its stages: 1 (greeting), 2 (reply)\n');
  });
});

describe('geo retry-pending --dry-run (subprocess)', () => {
  it('shows each batch with its job, and the batches other live processes hold', async () => {
    const pending = await writePendingJob(db.pool, { n: 2_000, name: 'dry-run' }, 'local');
    // Five batches are being sent by another process right now: its claim is live.
    await db.pool.query(
      `UPDATE batches SET claimed_until = now() + interval '10 minutes', claim_token = gen_random_uuid() WHERE job_id = $1 AND batch_index < 5`,
      [pending],
    );
    const result = await runGeo(['retry-pending', '--dry-run', '--job', pending.slice(0, 12)], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines).toContain('  would claim 15 pending batches:');
    expect(lines.find((l) => l.startsWith('job '))).toMatch(/^job\s+batch\s+transport\s+attempts\s+last error$/);
    expect(lines.filter((l) => new RegExp(`^${pending}\\s+${pending.slice(0, 16)}-s1-b\\d+\\s+local\\s+0$`).test(l))).toHaveLength(15);
    expect(lines).toContain('  being sent by other live processes: 5 batches (500 tasks)');

    const json = parseJsonOutput<{ heldByOthers: unknown; wouldClaim: Array<{ jobId: string }> }>(
      await runGeo(['retry-pending', '--dry-run', '--job', pending.slice(0, 12), '--json'], env),
    );
    expect(json.heldByOthers).toEqual({ batches: 5, tasks: 500 });
    expect(new Set(json.wouldClaim.map((b) => b.jobId))).toEqual(new Set([pending]));
  });
});
