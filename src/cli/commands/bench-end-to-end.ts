import { runEndToEnd } from '../../bench/end-to-end.js';
import { openBenchEnvironment } from '../../bench/environment.js';
import type { CommandContext } from '../context.js';
import { interruption } from '../interrupt.js';
import { endToEndJson, endToEndProgress, renderEndToEnd } from '../render/bench-end-to-end.js';
import type { MachineInfo } from '../render/bench.js';

export interface EndToEndFlags {
  n: number;
  runs: number;
  workConcurrency: number;
  batchSize: number;
}

/** `geo bench --end-to-end`: submit, work and advance hello_world on the local path, in the bench schema. */
export async function benchEndToEnd(ctx: CommandContext, flags: EndToEndFlags, machine: MachineInfo): Promise<void> {
  const env = await openBenchEnvironment({
    config: ctx.config,
    paths: ['local'],
    skipUnconfigured: false,
    dbLatencyMs: 0,
    queueLatencyMs: 0,
    poolSize: flags.workConcurrency + 8,
    onNotice: (message) => ctx.output.notice(message),
  });
  const signal = interruption.graceful();
  const total = 2 * flags.n;
  const progress = ctx.output.progress(endToEndProgress(1, flags.runs, 0, total));
  let result;
  let cleanup: { schemaDropped: boolean };
  try {
    result = await runEndToEnd({
      db: env.db,
      config: ctx.config,
      transport: env.paths[0]!.transport!,
      settings: { n: flags.n, runs: flags.runs, concurrency: flags.workConcurrency, batchSize: flags.batchSize, leaseSeconds: ctx.config.leaseSeconds },
      nonce: env.nonce,
      signal,
      onProgress: (run, completed) => progress.update(endToEndProgress(run, flags.runs, completed, total)),
    });
  } finally {
    progress.stop();
    const closing = env.close();
    cleanup = result ? await closing : await closing.catch(() => ({ schemaDropped: false }));
  }
  const doc = endToEndJson(result, { machine, cleanup: { schema: env.schema, ...cleanup } });
  if (ctx.output.jsonMode) ctx.output.json(doc);
  else renderEndToEnd(ctx.output, doc);
}
