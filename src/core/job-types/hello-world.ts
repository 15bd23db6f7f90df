import { z } from 'zod';
import { defineJobType } from './define.js';
import { integer } from './fields.js';

export const MAX_TASKS = 10_000_000;

const params = z
  .object({
    n: integer({ min: 1, max: MAX_TASKS, description: 'number of greetings (--n)' }),
    name: z.string().min(1).default('World').describe('who is greeted'),
  })
  .strict();

export type HelloWorldParams = z.infer<typeof params>;

/** Stage 1 greets n times; stage 2 replies to each greeting of stage 1. */
export const helloWorld = defineJobType({
  name: 'hello_world',
  description: 'stage 1 `greeting` makes n greetings, stage 2 `reply` answers each one',
  params,
  stages: [
    {
      from: 'params',
      name: 'greeting',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) {
          yield { key: `greet-${i}`, parameters: { i, message: `Hello ${p.name} from task ${i}!` } };
        }
      },
      handler: (p) => ({ message: String(p.message) }),
    },
    {
      from: 'results',
      name: 'reply',
      task: (greeting) => {
        const message = (greeting.result as { message?: unknown } | null)?.message;
        return { i: greeting.taskIndex, greeting: typeof message === 'string' ? message : null };
      },
      handler: (p) => ({ reply: `Task ${String(p.i)} heard: ${String(p.greeting)}` }),
    },
  ],
});
