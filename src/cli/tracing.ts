import type { DispatchEvents, TraceSpan } from '../core/events.js';
import { startTracing, type Tracing } from '../observability/tracing.js';
import type { CommandContext } from './context.js';
import { packageVersion } from './version.js';

/**
 * Tracing for this command when an OTLP endpoint is configured (nothing is
 * loaded otherwise); the last spans are sent when the command ends.
 */
export async function commandTracing(ctx: CommandContext, onExportError: (message: string) => void): Promise<Tracing | undefined> {
  const tracing = await startTracing({
    endpoint: ctx.config.otlp.endpoint,
    serviceVersion: packageVersion(),
    redact: ctx.redact,
    onExportError,
  });
  if (tracing) ctx.defer(() => tracing.shutdown());
  return tracing;
}

/**
 * The spans of one stage dispatch (submit, queue-stage): a `geo.<command>`
 * span for the whole run, with the batches' spans under it, so a submit is
 * one trace. Without tracing, no hooks and nothing to end.
 */
export async function dispatchTracing(
  ctx: CommandContext,
  command: string,
): Promise<{ events: DispatchEvents | undefined; end(result?: { jobId: string; stage: number; stoppedBy?: { message: string } }, error?: unknown): void }> {
  const tracing = await commandTracing(ctx, (message) => ctx.output.notice(`geo: ${message}`));
  if (!tracing) return { events: undefined, end: () => undefined };
  const root: TraceSpan = tracing.startSpan(`geo.${command}`, { 'geo.command': command });
  return {
    events: { startSpan: (name, attributes, parent) => tracing.startSpan(name, attributes, parent ?? root) },
    end(result, error) {
      const failure = error !== undefined ? ctx.redact(String(error instanceof Error ? error.message : error)) : result?.stoppedBy?.message;
      root.end(failure, result && { 'geo.job_id': result.jobId, 'geo.stage': result.stage });
    },
  };
}
