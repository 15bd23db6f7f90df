import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { endAllTerminals, runInTerminal, visibleLines } from './pty.js';

let db: TestDatabase;
let env: Record<string, string>;
let jobId: string;
const UNREACHABLE =
  'servicebus: cannot reach Service Bus queue geo-tasks in namespace myns.servicebus.windows.net: connect ECONNREFUSED 10.0.0.4:5671 (after 3 attempts)';
const TOO_LARGE = 'message of 300,000 bytes exceeds the Service Bus limit of 262,144 bytes (task greet-707)';

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-terminal-test-unused') };
  jobId = String(parseJsonOutput(await runGeo(['submit', 'hello_world', '--n', '1000', '--param', 'name=tables', '--json'], env)).jobId);
  // Three problem batches, as an outage and an oversized message leave them.
  await db.pool.query(`UPDATE batches SET status = 'pending_queue', attempts = 3, last_error = $2 WHERE job_id = $1 AND batch_index IN (3, 4)`, [
    jobId,
    UNREACHABLE,
  ]);
  await db.pool.query(`UPDATE tasks SET status = 'pending_queue' WHERE job_id = $1 AND batch_id LIKE '%-s1-b3'`, [jobId]);
  await db.pool.query(`UPDATE batches SET attempts = 1, last_error = $2 WHERE job_id = $1 AND batch_index = 7`, [jobId, TOO_LARGE]);
  await db.pool.query(`UPDATE tasks SET status = 'failed' WHERE job_id = $1 AND task_id LIKE '%-s1-greet-707'`, [jobId]);
});
afterEach(endAllTerminals);
afterAll(async () => {
  await db.drop();
});

/** Start and end columns of each header word, to check that a column's cells line up under it. */
function headerSpan(header: string, word: string): [number, number] {
  const at = header.indexOf(word);
  expect(at, `no column ${word} in: ${header}`).toBeGreaterThanOrEqual(0);
  return [at, at + word.length];
}

describe('tables on an 80-column terminal', () => {
  it('geo batches fits 80 columns, right-aligns numbers, has no rules, and shows each last error in full below', async () => {
    const result = await runInTerminal(['batches', jobId.slice(0, 12)], { env, columns: 80 });
    expect(result.status).toBe(0);
    const lines = visibleLines(result.screen);
    for (const line of lines.filter((l) => !l.startsWith('job ') && !l.startsWith('  s1-'))) expect(line.length).toBeLessThanOrEqual(80);
    expect(lines.some((l) => /[─┼┴┬│]|^[+-]{5,}/.test(l))).toBe(false);

    const header = lines.find((l) => l.startsWith('batch '))!;
    const rows = lines.slice(lines.indexOf(header) + 1, lines.indexOf(header) + 4);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['s1-b3', 's1-b4', 's1-b7']);
    const [, queuedEnd] = headerSpan(header, 'queued');
    // Right-aligned: every cell of a count column ends where its header ends.
    expect(rows.map((r) => r.slice(0, queuedEnd).trimEnd().length)).toEqual([queuedEnd, queuedEnd, queuedEnd]);
    expect(rows.map((r) => r.slice(0, queuedEnd).trim().split(/\s+/).at(-1))).toEqual(['0', '100', '99']);

    expect(lines).toContain('last errors in full:');
    expect(lines).toContain(`  s1-b3, s1-b4: ${UNREACHABLE}`);
    expect(lines).toContain(`  s1-b7: ${TOO_LARGE}`);
    expect(lines).toContain(`batch ids are ${jobId.slice(0, 16)}-<batch> (--wide shows them whole)`);
  });

  it('--wide keeps whole ids, every column and whole errors in the rows', async () => {
    const result = await runInTerminal(['batches', jobId.slice(0, 12), '--wide'], { env, columns: 80 });
    expect(result.status).toBe(0);
    const lines = visibleLines(result.screen);
    expect(lines.find((l) => l.startsWith('batch '))).toMatch(
      /^batch\s+status\s+tasks\s+pending_queue\s+queued\s+processing\s+completed\s+failed\s+cancelled\s+attempts\s+last error$/,
    );
    const row = lines.find((l) => l.startsWith(`${jobId.slice(0, 16)}-s1-b4 `))!;
    expect(row.endsWith(UNREACHABLE)).toBe(true);
  });

  it('geo bench --path all fits 80 columns, a skipped path is one row with its reason, no stray rule', async () => {
    const result = await runInTerminal(['bench', '--path', 'all', '--n', '500', '--individual-n', '50'], {
      env: { ...env, GEO_TRANSPORT: '' },
      columns: 80,
    });
    expect(result.status).toBe(0);
    const lines = visibleLines(result.screen);
    const header = lines.findIndex((l) => l.startsWith('path '));
    const table = lines.slice(header, header + 7);
    expect(table[0]).toMatch(/^path\s+mode\s+tasks\s+(.+\s+)?tasks\/s\s+(.+\s+)?p50 ms\s+(.+\s+)?failed\s+speedup$/);
    expect(table[1]).toMatch(/^local\s+individual\s+50\s/);
    expect(table[2]).toMatch(/^\s+aligned\s+500\s.*x$/);
    // A skipped path is its name and the reason, wrapped under the reason's first column.
    expect(table.slice(3)).toEqual([
      'servicebus     skipped: not configured (GEO_SERVICEBUS_CONNECTION_STRING or',
      '               GEO_SERVICEBUS_NAMESPACE)',
      'storage-queue  skipped: not configured (GEO_STORAGE_CONNECTION_STRING or',
      '               GEO_STORAGE_ACCOUNT_URL)',
    ]);
    expect(lines.some((l) => /[┴┬─│]/.test(l))).toBe(false);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(79);
    expect(lines.join('\n')).toMatch(/\(not shown at this width: max ms, db s[^)]*--wide or\s+--json\s+shows them\)/);
  });
});

describe('geo status on a 40-column terminal', () => {
  it('fits the width: columns the headline repeats go first, the rest fit, errors wrap between words', async () => {
    const failing = `${jobId.slice(0, 16)}-s1-greet-707`;
    // A short word, then one of 28 characters: splitting only where a space falls in the line's
    // second half cut that word in two.
    const refused = 'refused by tiles-eu-west-3.example.com: 403 Forbidden for the request';
    await db.pool.query('UPDATE tasks SET error = $2 WHERE task_id = $1', [failing, refused]);
    const result = await runInTerminal(['status', jobId.slice(0, 12)], { env, columns: 40 });
    expect(result.status).toBe(0);
    const lines = visibleLines(result.screen);
    // Only the job id, one word longer than the terminal, may run over.
    for (const line of lines.filter((l) => !l.startsWith('job '))) expect(line.length, line).toBeLessThanOrEqual(39);
    const header = lines.find((l) => l.startsWith('stage '))!;
    expect(header).toMatch(/^stage\s+status\s+completed\s+failed$/);
    expect(lines.map((l) => l.trim()).join(' ')).toMatch(/\(not shown at this width: .*--wide or --json shows them\)/);
    // The error, cut into lines at spaces only: its words joined again are the message itself.
    const first = lines.indexOf('first errors:');
    expect(first).toBeGreaterThan(0);
    const errorLines = lines.slice(first + 1).filter((l) => l.startsWith('  '));
    expect(errorLines.length).toBeGreaterThan(1);
    expect(errorLines.map((l) => l.trim()).join(' ')).toBe(`${failing}: ${refused}`);
  });
});
