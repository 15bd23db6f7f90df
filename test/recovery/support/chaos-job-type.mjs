// `chaos`: a two-stage job type whose every task decides from the seed, the
// job's parameters, its index and its attempt (chaos-plan.mjs) whether it
// fails once or twice (retryable), fails for good, returns a result JSON
// cannot hold, and how long it takes; stage 2 is built from stage 1's results
// and its builder throws for a job submitted with fault=stage2; the job's
// result throws for fault=result.
import { setTimeout as sleep } from 'node:timers/promises';
import { defineJobType, integer, PermanentTaskError, z } from 'geo/job-types';
import { bigintTask, FAULTS, MESSAGES, permanentTasks, RETRY, stage2BreaksAt, taskPlan, taskValue } from './chaos-plan.mjs';

/** The job as the plan reads it, from a task's parameters. */
const jobOf = (p) => ({ seed: p.seed, tag: p.tag, fault: p.fault, n: p.n, ...(p.slowestMs === undefined ? {} : { slowestMs: p.slowestMs }) });

export const chaos = defineJobType({
  name: 'chaos',
  description: 'test: tasks that fail, retry, fail for good or return a BigInt, decided by a seed',
  params: z
    .object({
      n: integer({ min: 1, max: 100_000 }),
      seed: integer({ min: 0 }),
      tag: z.string().min(1),
      fault: z.enum(FAULTS),
      slowestMs: integer({ min: 3, max: 10_000 }).optional(),
    })
    .strict(),
  stages: [
    {
      from: 'params',
      name: 'work',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `w-${i}`, parameters: { ...jobOf(p), i } };
      },
      retry: RETRY,
      async handler(p, ctx) {
        const job = jobOf(p);
        const plan = taskPlan(job, 1, p.i);
        await sleep(plan.delayMs);
        if (ctx.attempt <= plan.failFirst) throw new Error(MESSAGES.retry(1, p.i, ctx.attempt));
        if (permanentTasks(job).has(p.i)) throw new PermanentTaskError(MESSAGES.permanent(p.i));
        if (bigintTask(job) === p.i) return { i: p.i, v: 10n };
        return { i: p.i, v: taskValue(job, p.i) };
      },
    },
    {
      from: 'results',
      name: 'echo',
      task(outcome, p) {
        if (stage2BreaksAt(p) === outcome.taskIndex) throw new Error(MESSAGES.stage2(outcome.taskIndex));
        return { ...jobOf(p), i: outcome.taskIndex, v: outcome.result.v };
      },
      retry: RETRY,
      async handler(p, ctx) {
        const plan = taskPlan(jobOf(p), 2, p.i);
        await sleep(plan.delayMs);
        if (ctx.attempt <= plan.failFirst) throw new Error(MESSAGES.retry(2, p.i, ctx.attempt));
        return { i: p.i, v: p.v + 1 };
      },
    },
  ],
  async result(p, inputs) {
    if (p.fault === 'result') throw new Error(MESSAGES.result);
    let sum = 0;
    let count = 0;
    for await (const task of inputs.results()) {
      sum += task.result.v;
      count++;
    }
    return { sum, count };
  },
});
