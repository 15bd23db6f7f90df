/**
 * What a peer's child process shares with scripts/peers-bench.ts: its
 * arguments, the one JSON document it prints, and the bulk insert's chunk.
 * Each peer runs in a process of its own (as `geo work` does), once to add
 * its jobs (not timed) and once to process them (timed inside the child,
 * after its start-up), so neither step's heap or event loop carries into
 * the other or into another system's run.
 */
import { parseArgs } from 'node:util';

/** Jobs per bulk insert statement: large enough that inserting is a few seconds, small enough to keep the parameter modest. */
export const INSERT_CHUNK = 10_000;

export interface ChildArgs {
  mode: 'prepare' | 'run';
  url: string;
  schema: string;
  jobs: number;
  concurrency: number;
  /** A peer's named configuration (graphile-worker: default or batched). */
  variant: string;
}

/** What a run reports: jobs processed, and the time from the runner's start until the last was completed. */
export interface ChildResult {
  jobs: number;
  elapsedMs: number;
  settings: Record<string, unknown>;
}

export function childArgs(): ChildArgs {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      url: { type: 'string' },
      schema: { type: 'string' },
      jobs: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      variant: { type: 'string', default: 'default' },
    },
  });
  if ((values.mode !== 'prepare' && values.mode !== 'run') || !values.url || !values.schema || !values.jobs) {
    throw new Error('usage: --mode prepare|run --url <postgres url> --schema <name> --jobs <n> [--concurrency 16] [--variant name]');
  }
  return {
    mode: values.mode,
    url: values.url,
    schema: values.schema,
    jobs: Number(values.jobs),
    concurrency: Number(values.concurrency),
    variant: values.variant!,
  };
}

export function printResult(result: ChildResult | { prepared: number }): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
