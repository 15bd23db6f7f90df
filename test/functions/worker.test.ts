import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { helloWorld } from '../../src/core/job-types/hello-world.js';
import { buildTaskMessage, encodeTaskMessage } from '../../src/transports/message.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { JOB_TYPE_MODULE } from './support/plan.js';
import { EXAMPLE_DIR, pythonEnv, runPython, SUPPORT_DIR } from './support/python.js';

const fixture = useServiceBusFixture();
const TASKS = 30;
let jobId: string;

interface Row {
  taskId: string;
  jobId: string;
  taskType: string;
  stage: number;
  batchId: string;
  parameters: Record<string, unknown>;
  status: string;
  attempt: number;
  worker: string | null;
  result: unknown;
  error: string | null;
  leaseUntil: Date | null;
  startedAt: Date | null;
}

beforeAll(async () => {
  // Stage 1 of functions_hello (hello_world's task types) on a queue nobody reads: each test takes its own task.
  fixture.peer.createQueue('worker-cases');
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-fn-worker-'));
  const submitted = await runGeo(['submit', 'functions_hello', '--param', `n=${TASKS}`, '--transport', 'servicebus', '--json'], {
    DATABASE_URL: fixture.db.url,
    GEO_HOME: home,
    GEO_JOB_TYPES: JOB_TYPE_MODULE,
    GEO_SERVICEBUS_CONNECTION_STRING: fixture.peer.connectionString(),
    GEO_SERVICEBUS_QUEUE: 'worker-cases',
  });
  await fs.rm(home, { recursive: true, force: true });
  expect(submitted.code, submitted.stderr).toBe(0);
  jobId = parseJsonOutput<{ jobId: string }>(submitted).jobId;
});

async function task(i: number): Promise<Row> {
  const { rows } = await fixture.db.pool.query<Row>(
    `SELECT task_id AS "taskId", job_id AS "jobId", task_type AS "taskType", stage, batch_id AS "batchId", parameters,
            status, attempt, worker, result, error, lease_until AS "leaseUntil", started_at AS "startedAt"
     FROM tasks WHERE job_id = $1 AND stage = 1 AND task_index = $2`,
    [jobId, i],
  );
  return rows[0]!;
}

/** The message geo put on the queue for task `i`, as the Functions host hands it to main. */
async function bodyOf(i: number): Promise<string> {
  return encodeTaskMessage(buildTaskMessage({ ...(await task(i)), jobType: 'functions_hello' }));
}

interface Driven {
  results: Array<{ outcome?: string; raised?: string; message?: string }>;
  handlerCalls: number;
}

/** Runs worker.process in Python for each call at once (test/functions/support/drive_worker.py). */
async function drive(
  spec: { handler: string; calls: Array<{ body: string; invocationId?: string }>; releaseFile?: string },
  env: Record<string, string> = {},
): Promise<Driven> {
  const result = await runPython(
    [path.join(SUPPORT_DIR, 'drive_worker.py')],
    pythonEnv({ DATABASE_URL: fixture.db.url, GEO_LEASE_SECONDS: '30', ...env }),
    JSON.stringify({ taskType: 'greeting', ...spec }),
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Driven;
}

async function owed(taskId: string): Promise<{ reason: string; deliverAt: Date } | undefined> {
  const { rows } = await fixture.db.pool.query<{ reason: string; deliverAt: Date }>(
    `SELECT reason, deliver_at AS "deliverAt" FROM redeliveries WHERE task_id = $1`,
    [taskId],
  );
  return rows[0];
}

describe("worker.main (examples/azure-functions-python/worker.py) on geo's SQL contract", () => {
  it('runs a claimed task and stores its result under a claim named for the host and invocation; a second delivery finds it finished and does not run it', async () => {
    const body = await bodyOf(0);
    const first = await drive({ handler: 'example', calls: [{ body, invocationId: 'inv-first' }] });
    expect(first.results).toEqual([{ outcome: 'completed' }]);
    const done = await task(0);
    expect(done).toMatchObject({ status: 'completed', attempt: 1, result: { message: 'Hello World from task 0!' } });
    expect(done.worker).toMatch(/^.+:inv-first$/);

    const again = await drive({ handler: 'raise', calls: [{ body, invocationId: 'inv-again' }] });
    expect(again).toEqual({ results: [{ outcome: 'finished' }], handlerCalls: 0 });
    expect((await task(0)).status).toBe('completed');
  });

  it('two invocations of one message at once on one host: one runs the task, the other answers busy and returns', async () => {
    const body = await bodyOf(1);
    const driven = await drive({
      handler: 'untilOthersReturn',
      calls: [
        { body, invocationId: 'inv-a' },
        { body, invocationId: 'inv-b' },
      ],
    });
    expect(driven.handlerCalls).toBe(1);
    expect(driven.results.map((r) => r.outcome).sort()).toEqual(['busy', 'completed']);
    expect(await task(1)).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('an invocation without an id still gets a claim of its own', async () => {
    const body = await bodyOf(2);
    const driven = await drive({ handler: 'untilOthersReturn', calls: [{ body }, { body }] });
    expect(driven.results.map((r) => r.outcome).sort()).toEqual(['busy', 'completed']);
    expect((await task(2)).worker).toMatch(/^.+:[0-9a-f-]{36}$/);
  });

  it('a handler error is a retry: the message is acknowledged, the task queued again and owed a delivery by geo; after the last retry it fails', async () => {
    const row = await task(3);
    const body = await bodyOf(3);
    const first = await drive({ handler: 'raise', calls: [{ body }] });
    expect(first.results).toEqual([{ outcome: 'retry' }]);
    expect(await task(3)).toMatchObject({ status: 'queued', attempt: 1, error: 'RuntimeError: boom' });
    expect((await owed(row.taskId))?.reason).toBe('retry');

    // functions_hello allows 3 retries: attempts 2 and 3 are retried, attempt 4 is the last.
    const outcomes = [];
    for (let attempt = 2; attempt <= 4; attempt++) outcomes.push((await drive({ handler: 'raise', calls: [{ body }] })).results[0]!.outcome);
    expect(outcomes).toEqual(['retry', 'retry', 'failed']);
    expect(await task(3)).toMatchObject({ status: 'failed', attempt: 4, error: 'RuntimeError: boom' });
  });

  it('PermanentError fails the task at once with its message', async () => {
    const driven = await drive({ handler: 'permanent', calls: [{ body: await bodyOf(4) }] });
    expect(driven.results).toEqual([{ outcome: 'failed' }]);
    expect(await task(4)).toMatchObject({ status: 'failed', attempt: 1, error: 'no such scene' });
  });

  it('a result JSON cannot hold fails the task for good, without a retry', async () => {
    const driven = await drive({ handler: 'nan', calls: [{ body: await bodyOf(5) }] });
    expect(driven.results).toEqual([{ outcome: 'failed' }]);
    const row = await task(5);
    expect(row.status).toBe('failed');
    expect(row.error).toContain("the handler's result is not JSON");
  });

  it('a task type with no handler is given back unrun: the attempt does not count and geo sends it again after GEO_RELEASE_DELAY_SECONDS', async () => {
    const row = await task(6);
    const driven = await drive({ handler: 'none', calls: [{ body: await bodyOf(6) }] }, { GEO_RELEASE_DELAY_SECONDS: '120' });
    expect(driven.results).toEqual([{ outcome: 'released' }]);
    expect(await task(6)).toMatchObject({ status: 'queued', attempt: 0 });
    const delivery = await owed(row.taskId);
    expect(delivery?.reason).toBe('released');
    const { rows } = await fixture.db.pool.query<{ seconds: number }>(`SELECT extract(epoch FROM $1::timestamptz - now())::float8 AS seconds`, [
      delivery!.deliverAt,
    ]);
    expect(rows[0]!.seconds).toBeGreaterThan(100);
  });

  it('renews its lease while a long handler runs: past the first lease another invocation still finds the task busy', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-fn-renew-'));
    const releaseFile = path.join(dir, 'release');
    const body = await bodyOf(7);
    const env = { GEO_LEASE_SECONDS: '1' };
    const long = drive({ handler: 'untilFile', releaseFile, calls: [{ body, invocationId: 'inv-long' }] }, env);
    try {
      // Past the end of the claim's first lease, the lease is still live: renewed.
      await vi.waitFor(
        async () => {
          const { rows } = await fixture.db.pool.query<{ status: string; past: boolean | null; live: boolean | null }>(
            `SELECT status, now() > started_at + interval '1.5 seconds' AS past, lease_until > now() AS live FROM tasks WHERE task_id = $1`,
            [(await task(7)).taskId],
          );
          const row = rows[0]!;
          if (row.status !== 'processing' || !row.past) throw new Error(`claim not past its first lease yet: ${JSON.stringify(row)}`);
          expect(row.live).toBe(true);
        },
        { timeout: 20_000, interval: 100 },
      );
      const other = await drive({ handler: 'example', calls: [{ body, invocationId: 'inv-other' }] }, env);
      expect(other).toEqual({ results: [{ outcome: 'busy' }], handlerCalls: 0 });
    } finally {
      await fs.writeFile(releaseFile, '');
    }
    expect((await long).results).toEqual([{ outcome: 'completed' }]);
    expect(await task(7)).toMatchObject({ status: 'completed', attempt: 1, result: { ok: true } });
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('acknowledges the task of a cancelled job without running it, and a task the database does not have', async () => {
    const body = await bodyOf(8);
    const missing = JSON.stringify({ ...JSON.parse(body), taskId: `${(await task(8)).taskId}-nope` });
    await fixture.db.pool.query(`UPDATE jobs SET status = 'cancelled' WHERE job_id = $1`, [jobId]);
    try {
      const driven = await drive({ handler: 'raise', calls: [{ body }, { body: missing }] });
      expect(driven).toEqual({ results: [{ outcome: 'cancelled' }, { outcome: 'missing' }], handlerCalls: 0 });
      expect((await task(8)).status).toBe('cancelled');
    } finally {
      await fixture.db.pool.query(`UPDATE jobs SET status = 'processing' WHERE job_id = $1`, [jobId]);
    }
  });

  it('raises for a body that is not a geo task message, so the host poisons it, and changes nothing', async () => {
    const before = await task(9);
    const bodies = ['hello', '[1, 2]', '{"taskId": 5, "jobId": "x", "taskType": "greeting"}', JSON.stringify({ jobId: before.jobId, taskType: 'greeting' })];
    const driven = await drive({ handler: 'raise', calls: bodies.map((body) => ({ body })) });
    expect(driven.results.map((r) => r.raised)).toEqual(bodies.map(() => 'NotATaskMessage'));
    expect(driven.results.map((r) => r.message)).toEqual([
      expect.stringContaining('not JSON'),
      expect.stringContaining('not a JSON object'),
      expect.stringContaining('no taskId'),
      expect.stringContaining('no taskId'),
    ]);
    expect(await task(9)).toEqual(before);
  });

  it('raises when the database cannot be reached, so the host delivers the message again', async () => {
    const unreachable = new URL(fixture.db.url);
    unreachable.port = '1';
    const before = await task(10);
    const driven = await drive({ handler: 'raise', calls: [{ body: await bodyOf(10) }] }, { DATABASE_URL: unreachable.toString() });
    expect(driven.results).toEqual([{ raised: 'OperationalError', message: expect.stringContaining('127.0.0.1') }]);
    expect(await task(10)).toEqual(before);
  });
});

describe("the example's hello_world handlers", () => {
  it("return what geo's own hello_world handlers return", async () => {
    const greet = helloWorld.stages[0]!.handler!;
    const reply = helloWorld.stages[1]!.handler!;
    const cases = {
      greeting: [
        { i: 0, message: 'Hello World from task 0!' },
        { i: 7, message: 'Hallo' },
      ],
      reply: [
        { i: 0, greeting: 'Hello World from task 0!' },
        { i: 12, greeting: null },
      ],
    };
    const script = `import json, sys, worker
cases = json.load(sys.stdin)
print(json.dumps({t: [worker.HANDLERS[t](p) for p in ps] for t, ps in cases.items()}))`;
    const result = await runPython(['-c', script], pythonEnv({}), JSON.stringify(cases));
    expect(result.code, result.stderr).toBe(0);
    const ctx = { taskId: 't', jobId: 'j', stage: 1, attempt: 1, signal: new AbortController().signal };
    expect(JSON.parse(result.stdout)).toEqual({
      greeting: await Promise.all(cases.greeting.map((p) => greet(p, ctx))),
      reply: await Promise.all(cases.reply.map((p) => reply(p, ctx))),
    });
  });
});

describe('function_app.py', () => {
  it('compiles, and binds a Storage Queue and a Service Bus trigger that hand worker.main the message text and the invocation id', async () => {
    const compiled = await runPython(
      [
        '-c',
        'import os, py_compile, sys, tempfile\nwith tempfile.TemporaryDirectory() as d:\n    for f in sys.argv[1:]: py_compile.compile(f, cfile=os.path.join(d, "out.pyc"), doraise=True)',
        path.join(EXAMPLE_DIR, 'function_app.py'),
        path.join(EXAMPLE_DIR, 'worker.py'),
      ],
      pythonEnv({}),
    );
    expect(compiled.code, compiled.stderr).toBe(0);

    const stubs = path.join(SUPPORT_DIR, 'stubs');
    const check = (env: Record<string, string>) => runPython([path.join(SUPPORT_DIR, 'check_function_app.py')], pythonEnv(env, [stubs]));
    const both = await check({ GEO_STORAGE_QUEUE: 'geo-tasks', GEO_SERVICEBUS_QUEUE: 'geo-sb' });
    expect(both.code, both.stderr).toBe(0);
    expect(JSON.parse(both.stdout)).toEqual([
      {
        kind: 'queue_trigger',
        binding: { arg_name: 'msg', queue_name: '%GEO_STORAGE_QUEUE%', connection: 'AzureWebJobsStorage' },
        name: 'geo_storage_queue_task',
        main: [['{"taskId": "t-1"}', 'inv-1']],
      },
      {
        kind: 'service_bus_queue_trigger',
        binding: { arg_name: 'msg', queue_name: '%GEO_SERVICEBUS_QUEUE%', connection: 'ServiceBusConnection' },
        name: 'geo_service_bus_task',
        main: [['{"taskId": "t-1"}', 'inv-1']],
      },
    ]);
    // A trigger whose queue is not configured is not bound.
    const serviceBusOnly = await check({ GEO_SERVICEBUS_QUEUE: 'geo-sb' });
    expect(JSON.parse(serviceBusOnly.stdout).map((f: { kind: string }) => f.kind)).toEqual(['service_bus_queue_trigger']);
  });
});
