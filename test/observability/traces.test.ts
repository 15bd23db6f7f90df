import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED } from '../../src/secrets/redact.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { useWorkHarness } from '../work/support/harness.js';
import { type CollectedSpan, startOtlpCollector } from './support/otlp-collector.js';

const MODULE = path.resolve(import.meta.dirname, 'support/observed-job-type.mjs');
const RECORD_IMPORTS = path.resolve(import.meta.dirname, 'support/record-imports.mjs');
// Service Bus: a broker, so the batch protocol has all three steps (write, send, record).
const harness = useWorkHarness('servicebus');

let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
let dir: string;
beforeAll(async () => {
  collector = await startOtlpCollector();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-traces-'));
});
afterAll(async () => {
  await collector.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** The standard variables that send geo's spans to the test collector, as OTLP/HTTP JSON. */
const otlp = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });

const spansOf = (jobId: string, name: string) => collector.spans.filter((s) => s.name === name && s.attributes['geo.job_id'] === jobId);
const childrenOf = (parent: CollectedSpan) => collector.spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);

describe('OpenTelemetry traces over OTLP (a collector started by the test)', () => {
  it('geo submit: one trace, a geo.batch span per batch (ids as in SQL) with its write, send and record steps as children', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const run = await runGeo(['submit', 'hello_world', '--n', '250', '--param', 'name=traced', '--json'], lane.env(otlp()));
      expect(run.code, run.stderr).toBe(0);
      const { jobId } = parseJsonOutput<{ jobId: string }>(run);
      const { rows } = await db.query<{ batchId: string; taskCount: number }>(
        `SELECT batch_id AS "batchId", task_count AS "taskCount" FROM batches WHERE job_id = $1 AND stage = 1 ORDER BY batch_index`,
        [jobId],
      );
      expect(rows.map((r) => r.taskCount)).toEqual([100, 100, 50]);

      // The command ends only after its last spans were exported.
      const [root] = collector.spans.filter((s) => s.name === 'geo.submit' && s.attributes['geo.job_id'] === jobId);
      expect(root).toMatchObject({ service: 'geo', attributes: { 'geo.command': 'submit', 'geo.stage': 1 } });
      const batches = spansOf(jobId, 'geo.batch');
      expect(batches.map((b) => b.attributes['geo.batch_id']).sort()).toEqual(rows.map((r) => r.batchId).sort());
      for (const batch of batches) {
        const expected = rows.find((r) => r.batchId === batch.attributes['geo.batch_id'])!;
        expect(batch).toMatchObject({
          traceId: root!.traceId,
          parentSpanId: root!.spanId,
          attributes: {
            'geo.stage': 1,
            'geo.transport': 'servicebus',
            'geo.tasks': expected.taskCount,
            'geo.queued': expected.taskCount,
            'geo.outcome': 'queued',
          },
        });
        expect(batch.statusCode).not.toBe(2);
        expect(
          childrenOf(batch)
            .map((c) => c.name)
            .sort(),
        ).toEqual(['geo.batch.record', 'geo.batch.send', 'geo.batch.write']);
        for (const step of childrenOf(batch)) expect(step.attributes['geo.batch_id']).toBe(batch.attributes['geo.batch_id']);
      }
    } finally {
      await lane.close();
    }
  });

  it('geo work: a geo.task span per task run with its task, job and batch ids, attempt and outcome; a failure is an error span, redacted', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const env = lane.env(otlp());
      const password = decodeURIComponent(new URL(env.DATABASE_URL!).password);
      const submitted = await runGeo(['--job-types', MODULE, 'submit', 'observed_test', '--param', 'n=10', '--param', 'tag=traced', '--json'], env);
      expect(submitted.code, submitted.stderr).toBe(0);
      const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);
      const worked = await runGeo(['--job-types', MODULE, 'work', '--until-idle', '--idle', '1s', '--json'], env);
      expect(worked.code, worked.stderr).toBe(0);

      const { rows: tasks } = await db.query<{ taskId: string; batchId: string; status: string; attempt: number }>(
        `SELECT task_id AS "taskId", batch_id AS "batchId", status, attempt FROM tasks WHERE job_id = $1`,
        [jobId],
      );
      // i = 0 and 7 fail for good; 3, 6 and 9 fail once and complete on attempt 2.
      expect(tasks.filter((t) => t.status === 'failed')).toHaveLength(2);
      expect(tasks.filter((t) => t.attempt === 2)).toHaveLength(3);
      const runs = spansOf(jobId, 'geo.task');
      // One span per attempt: 10 tasks, 3 of them twice.
      expect(runs).toHaveLength(13);
      for (const task of tasks) {
        const attempts = runs
          .filter((s) => s.attributes['geo.task_id'] === task.taskId)
          .sort((a, b) => Number(a.attributes['geo.attempt']) - Number(b.attributes['geo.attempt']));
        expect(attempts.map((s) => s.attributes['geo.attempt'])).toEqual(Array.from({ length: task.attempt }, (_, i) => i + 1));
        const last = attempts.at(-1)!;
        expect(last.attributes).toMatchObject({ 'geo.batch_id': task.batchId, 'geo.job_type': 'observed_test', 'geo.stage': 1, 'geo.outcome': task.status });
        if (task.attempt === 2) expect(attempts[0]!.attributes['geo.outcome']).toBe('retry');
        if (task.status === 'failed') {
          expect(last.statusCode).toBe(2);
          expect(last.statusMessage).toContain(REDACTED);
        }
      }
      expect(JSON.stringify(collector.spans)).not.toContain(password);
    } finally {
      await lane.close();
    }
  });

  it('without an endpoint, geo loads nothing of OpenTelemetry; with one, it does', async () => {
    const lane = await harness.lane();
    try {
      const imports = async (extra: Record<string, string>) => {
        const file = path.join(dir, `imports-${Object.keys(extra).length}.txt`);
        await fs.writeFile(file, '');
        const env = lane.env({ NODE_OPTIONS: `--import=${RECORD_IMPORTS}`, GEO_TEST_IMPORTS_FILE: file, ...extra });
        const run = await runGeo(['work', '--until-idle', '--idle', '1s', '--json'], env);
        expect(run.code, run.stderr).toBe(0);
        return (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
      };
      expect(await imports({})).toEqual([]);
      const traced = await imports(otlp());
      expect(traced.some((url) => url.includes('/@opentelemetry/sdk-trace/'))).toBe(true);
      expect(traced.some((url) => url.includes('/@opentelemetry/exporter-trace-otlp-http/'))).toBe(true);
    } finally {
      await lane.close();
    }
  });
});
