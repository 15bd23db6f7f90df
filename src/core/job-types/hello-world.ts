import { z } from 'zod';
import type { JobType } from './job-type.js';

export const MAX_TASKS = 10_000_000;

const params = z
  .object({
    n: z
      .unknown()
      .refine((v) => v !== undefined && v !== '', { error: 'is required (--n N)' })
      .pipe(z.coerce.number({ error: 'must be a number' }))
      .pipe(
        z
          .number()
          .int({ error: 'must be a whole number' })
          .min(1, { error: 'must be at least 1' })
          .max(MAX_TASKS, { error: `must be at most ${MAX_TASKS.toLocaleString('en-US')}` }),
      ),
    name: z.string().min(1).default('World'),
  })
  .strict();

export type HelloWorldParams = z.infer<typeof params>;

/** Stage 1 greets n times; stage 2 replies to each greeting of stage 1. */
export const helloWorld: JobType<HelloWorldParams> = {
  name: 'hello_world',
  description: 'stage 1 `greeting` makes n greetings, stage 2 `reply` answers each one',
  params,
  stages: [
    {
      stage: 1,
      name: 'greeting',
      taskType: 'greeting',
      taskCount: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) {
          yield { index: i, key: `greet-${i}`, parameters: { i, message: `Hello ${p.name} from task ${i}!` } };
        }
      },
      handler: (p) => ({ message: String(p.message) }),
    },
    {
      stage: 2,
      name: 'reply',
      taskType: 'reply',
      inputStage: 1,
      taskCount: (p) => p.n,
      async *tasks(_p, inputs) {
        for await (const greeting of inputs.results(1)) {
          const message = (greeting.result as { message?: unknown } | null)?.message;
          yield {
            index: greeting.taskIndex,
            key: `reply-${greeting.taskIndex}`,
            parameters: { i: greeting.taskIndex, greeting: typeof message === 'string' ? message : null },
          };
        }
      },
      handler: (p) => ({ reply: `Task ${String(p.i)} heard: ${String(p.greeting)}` }),
    },
  ],
};
