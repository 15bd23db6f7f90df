// The job type as first deployed: every third task hits a bug, on each of its two attempts.
// swap-fixed.mjs is the same job type (same name, parameters and tasks, so the same job id)
// after the fix; the retry-failed test runs geo work with one, then the other.
import { defineJobType, z } from 'geo/job-types';

export const swapTest = defineJobType({
  name: 'swap_test',
  description: 'test: every third task fails until the module is swapped for swap-fixed.mjs',
  params: z.object({ n: z.coerce.number().int().min(1), tag: z.string().min(1) }).strict(),
  stages: [
    {
      from: 'params',
      name: 'work',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `w-${i}`, parameters: { i } };
      },
      retry: { maxRetries: 1, baseMs: 50, maxMs: 100 },
      handler: (p, ctx) => {
        if (p.i % 3 === 0) throw new Error(`bug: task ${p.i} cannot be done (attempt ${ctx.attempt})`);
        return { i: p.i, version: 'buggy' };
      },
    },
    {
      from: 'params',
      name: 'wrap',
      count: () => 1,
      *tasks() {
        yield { key: 'wrap', parameters: {} };
      },
      handler: () => ({ wrapped: true }),
    },
  ],
});
