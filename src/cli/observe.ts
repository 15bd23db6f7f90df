import type { Command } from 'commander';
import { createLogger, type Logger } from '../observability/logging.js';
import type { CommandContext } from './context.js';

// Tracing has a module of its own: submit and queue-stage trace but do not log, and pino is no part of their start.
export { commandTracing } from './tracing.js';

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
