// Loaded with GEO_JOB_TYPES by every geo process of the Functions tests (submit, and
// retry-pending, which builds stage 2): hello_world's two stages, task types and
// parameters exactly, with two changes for a test that must finish in a couple of
// minutes and exercise both stages: retries after 0.1-1 s instead of 2.5-300 s, and
// stage 1 accepting partial results, so a greeting that fails for good still gets its
// reply (`Task <i> heard: null`) and the job ends `completed`.
import { defineJobType, integer, z } from 'geo/job-types';

const retry = { maxRetries: 3, baseMs: 200, maxMs: 1000 };

export const functionsHello = defineJobType({
  name: 'functions_hello',
  description: 'test: hello_world with fast retries and a stage 1 that accepts partial results',
  params: z.object({ n: integer({ min: 1, max: 100_000 }), name: z.string().min(1).default('World') }).strict(),
  stages: [
    {
      from: 'params',
      name: 'greeting',
      retry,
      acceptPartial: true,
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `greet-${i}`, parameters: { i, message: `Hello ${p.name} from task ${i}!` } };
      },
      handler: (p) => ({ message: String(p.message) }),
    },
    {
      from: 'results',
      name: 'reply',
      retry,
      task: (greeting) => {
        const message = greeting.result?.message;
        return { i: greeting.taskIndex, greeting: typeof message === 'string' ? message : null };
      },
      handler: (p) => ({ reply: `Task ${String(p.i)} heard: ${String(p.greeting)}` }),
    },
  ],
});
