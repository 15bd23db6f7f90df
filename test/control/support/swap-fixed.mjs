// The job type of swap-buggy.mjs after the fix: every task succeeds.
import { defineJobType, z } from 'geo/job-types';

export const swapTest = defineJobType({
  name: 'swap_test',
  description: 'test: swap-buggy.mjs with the bug fixed',
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
      handler: (p) => ({ i: p.i, version: 'fixed' }),
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
