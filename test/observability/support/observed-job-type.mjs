// Loaded by the `geo` processes of test/observability (--job-types). Of task i, a multiple of 7 fails
// for good and any other multiple of 3 fails its first attempt and succeeds on the second, so a run has
// completions, retries and failures to count. A failure's message names the database the worker uses,
// password included, as a careless handler's might: the log must not show that password.
import { defineJobType, PermanentTaskError, z } from 'geo/job-types';

export const observedTest = defineJobType({
  name: 'observed_test',
  description: 'test: some tasks fail once, some fail for good',
  params: z.object({ n: z.coerce.number().int().min(1), tag: z.string().min(1) }).strict(),
  stages: [
    {
      from: 'params',
      name: 'run',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `t-${i}`, parameters: { i } };
      },
      retry: { maxRetries: 2, baseMs: 100, maxMs: 200 },
      handler: (p, ctx) => {
        const where = `could not reach ${process.env.DATABASE_URL}`;
        if (p.i % 7 === 0) throw new PermanentTaskError(`task ${p.i} fails for good: ${where}`);
        if (p.i % 3 === 0 && ctx.attempt === 1) throw new Error(`task ${p.i} fails once: ${where}`);
        return { i: p.i };
      },
    },
  ],
});
