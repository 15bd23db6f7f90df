import fs from 'node:fs/promises';
import path from 'node:path';

/** The job type `holding` (n tasks of one stage) with `handler`, as a module's source. */
function holdingModule(handler: string): string {
  return `import { defineJobType, integer, z } from 'geo/job-types';
export const holding = defineJobType({
  name: 'holding',
  params: z.object({ n: integer({ min: 1 }), tag: z.string() }).strict(),
  stages: [{
    from: 'params',
    name: 'hold',
    count: (p) => p.n,
    *tasks(p) { for (let i = 0; i < p.n; i++) yield { key: 'h-' + i, parameters: { i } }; },
    handler: ${handler},
  }],
});
`;
}

/**
 * Writes `holding` twice into `dir`: block.mjs, whose handler waits until it
 * is aborted (the worker to kill holds its tasks), and finish.mjs, whose
 * handler returns `finish` (JavaScript source of a handler).
 */
export async function writeHoldingModules(dir: string, finish: string): Promise<void> {
  await fs.writeFile(
    path.join(dir, 'block.mjs'),
    holdingModule(`(_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null), { once: true }))`),
  );
  await fs.writeFile(path.join(dir, 'finish.mjs'), holdingModule(finish));
}
