// Loaded by the `geo work` process the kill test starts (--job-types): its one task's handler
// never returns until its signal aborts, so the process is surely mid-task when it is killed.
// test/work/support/job-type.ts defines the same job type with a handler that returns, for
// the worker that takes the task over.
import { defineJobType, z } from 'geo/job-types';

export const blockingTest = defineJobType({
  name: 'blocking_test',
  description: 'test: a task whose handler blocks until aborted',
  params: z.object({ tag: z.string().min(1) }).strict(),
  stages: [
    {
      from: 'params',
      name: 'hold',
      count: () => 1,
      *tasks() {
        yield { key: 'hold-0', parameters: { i: 0 } };
      },
      handler: (_parameters, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null), { once: true })),
    },
  ],
});
