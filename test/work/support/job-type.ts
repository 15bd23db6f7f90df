import { z } from 'zod';
import { defineJobType } from '../../../src/core/job-types/define.js';
import { type JobType, PermanentTaskError } from '../../../src/core/job-types/job-type.js';
import { registerJobTypes } from '../../../src/core/job-types/registry.js';

/** Tasks whose blocking handler saw its signal abort, in this process. */
export const abortedTasks = new Set<string>();

/** When each attempt of each task started (ms), as the handlers saw them, in this process. */
export const attemptStarts = new Map<string, number[]>();

const params = z.object({
  n: z.coerce.number().int().min(1),
  /** Attempts that fail before one succeeds. */
  failTimes: z.coerce.number().int().min(0).default(0),
  /** Fail with PermanentTaskError (no retries). */
  permanent: z.coerce.boolean().default(false),
  tag: z.string().default('t'),
  /** Milliseconds each attempt keeps the event loop busy (a CPU-bound handler: no lock renewal runs meanwhile). */
  spinMs: z.coerce.number().int().min(0).default(0),
});

/**
 * Called synchronously when a spinning attempt (spinMs > 0) has spun, the
 * event loop still held: what a test makes happen for certain before that
 * handler returns.
 */
export const spinHooks: { afterSpin?: (taskId: string) => void } = {};

/** Short delays so retries are observable within a test: retry n waits 100-200 ms x 2^(n-1). */
export const TEST_RETRY = { maxRetries: 3, baseMs: 200, maxMs: 5_000 };

/**
 * `flaky_test`: one stage of n tasks whose handler fails its first
 * `failTimes` attempts. With `block`, the handler never returns (until its
 * signal aborts): a worker to be killed mid-task.
 */
export function flakyJobType(opts: { block?: boolean } = {}): JobType {
  const jobType: JobType<z.infer<typeof params>> = {
    name: 'flaky_test',
    description: 'test: fails the first failTimes attempts of each task',
    params,
    stages: [
      {
        stage: 1,
        name: 'attempt',
        taskType: 'attempt',
        taskCount: (p) => p.n,
        *tasks(p) {
          for (let i = 0; i < p.n; i++)
            yield { index: i, key: `try-${i}`, parameters: { i, failTimes: p.failTimes, permanent: p.permanent, spinMs: p.spinMs } };
        },
        retry: TEST_RETRY,
        async handler(p, ctx) {
          attemptStarts.set(ctx.taskId, [...(attemptStarts.get(ctx.taskId) ?? []), Date.now()]);
          for (const end = Date.now() + Number(p.spinMs ?? 0); Date.now() < end; );
          if (Number(p.spinMs ?? 0) > 0) spinHooks.afterSpin?.(ctx.taskId);
          if (opts.block) {
            await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
            abortedTasks.add(ctx.taskId);
          }
          if (ctx.attempt <= Number(p.failTimes)) {
            const message = `attempt ${ctx.attempt} of task ${String(p.i)} failed on purpose`;
            throw p.permanent ? new PermanentTaskError(message) : new Error(message);
          }
          return { i: p.i, attempt: ctx.attempt };
        },
      },
    ],
  };
  return jobType as unknown as JobType;
}

let registered: JobType | undefined;

/** Registers `flaky_test` in this process once. */
export function registerFlakyJobType(opts: { block?: boolean } = {}): void {
  if (registered) return;
  registered = flakyJobType(opts);
  registerJobTypes([
    { jobType: registered, origin: 'test/work/support/job-type.ts' },
    { jobType: blockingTakeOver as unknown as JobType, origin: 'test/work/support/job-type.ts' },
  ]);
}

/**
 * `blocking_test` as blocking-job-type.mjs defines it (same name, parameters and task, so the
 * same job id), with a handler that returns: the worker that takes over a killed worker's task.
 */
export const blockingTakeOver = defineJobType({
  name: 'blocking_test',
  description: 'test: the take-over side of blocking-job-type.mjs',
  params: z.object({ tag: z.string().min(1) }).strict(),
  stages: [
    {
      from: 'params',
      name: 'hold',
      count: () => 1,
      *tasks() {
        yield { key: 'hold-0', parameters: { i: 0 } };
      },
      handler: (_parameters, ctx) => ({ attempt: ctx.attempt }),
    },
  ],
});
