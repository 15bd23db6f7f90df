import type { Command } from 'commander';
import type { DispatchEvents, TraceSpan } from '../core/events.js';
import { createLogger, type Logger } from '../observability/logging.js';
import { startTracing, type Tracing } from '../observability/tracing.js';
import type { CommandContext } from './context.js';
import { packageVersion } from './version.js';

/** The log options of the commands that log (geo work, geo dashboard). */
export function addLogOptions(command: Command): Command {
  return command
    .option('--log-format <format>', 'log lines: human (default) or json, one object per line (env GEO_LOG_FORMAT)')
    .option('--log-level <level>', 'least level logged: debug, info (default), warn, error or silent (env GEO_LOG_LEVEL)');
}

/**
 * A long-running command's logger: lines on stderr through the command's
 * output (so they never mix with the progress line, and stdout keeps its one
 * JSON document under --json), every secret the run knows redacted.
 */
export function commandLogger(ctx: CommandContext, command: string): Logger {
  return createLogger({
    format: ctx.config.log.format,
    level: ctx.config.log.level,
    write: (line) => ctx.output.notice(line),
    redact: ctx.redact,
    base: { command },
  });
}

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
