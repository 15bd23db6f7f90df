import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineJobType } from '../../../src/core/job-types/define.js';
import { type JobType, PermanentTaskError } from '../../../src/core/job-types/job-type.js';
import { findJobType, registerJobTypes } from '../../../src/core/job-types/registry.js';

/** When each handler started (ms since the epoch, sub-millisecond), by task id, in this process. */
export const handlerStarts = new Map<string, number[]>();

/** The wall clock with sub-millisecond resolution: comparable with PostgreSQL's clock_timestamp() on this host. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * `control_test`: stage 1 `work` has n tasks whose handler records its start
 * and waits delayMs (so a run lasts long enough to be steered), and with
 * `fail` fails for good; stage 2 `wrap` has one task.
 */
export const controlTest = defineJobType({
  name: 'control_test',
  description: 'test: n recorded tasks, then one',
  params: z
    .object({
      n: z.coerce.number().int().min(1),
      delayMs: z.coerce.number().int().min(0).default(0),
      /** Every task of stage 1 fails for good (a job that ends failed). */
      fail: z.coerce.boolean().default(false),
      tag: z.string().min(1),
    })
    .strict(),
  stages: [
    {
      from: 'params',
      name: 'work',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `w-${i}`, parameters: { i, delayMs: p.delayMs, fail: p.fail } };
      },
      handler: async (p, ctx) => {
        handlerStarts.set(ctx.taskId, [...(handlerStarts.get(ctx.taskId) ?? []), wallClockMs()]);
        const delay = Number(p.delayMs);
        // The task's work is the time it takes.
        if (delay > 0) await sleep(delay);
        if (p.fail) throw new PermanentTaskError(`task ${String(p.i)} fails on purpose`);
        return { i: p.i };
      },
    },
    {
      from: 'params',
      name: 'wrap',
      count: () => 1,
      *tasks() {
        yield { key: 'wrap', parameters: {} };
      },
      handler: (_p, ctx) => {
        handlerStarts.set(ctx.taskId, [...(handlerStarts.get(ctx.taskId) ?? []), wallClockMs()]);
        return { wrapped: true };
      },
    },
  ],
});

/** Registers `control_test` in this process once. */
export function registerControlJobType(): void {
  if (!findJobType('control_test')) registerJobTypes([{ jobType: controlTest as unknown as JobType, origin: 'test/control/support/job-type.ts' }]);
}
