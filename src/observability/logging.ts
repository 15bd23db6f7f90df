import os from 'node:os';
import { pino } from 'pino';
import type { LogFormat, LogLevel } from '../config/index.js';

/** Fields of a log line beyond its event and message. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

type Emit = (event: string, message: string, fields?: LogFields) => void;

/** Structured lines: each names its event (a stable snake_case name) and says it in words. */
export interface Logger {
  debug: Emit;
  info: Emit;
  warn: Emit;
  error: Emit;
}

/**
 * A pino logger writing one line per call: JSON (pino's own line, with
 * `level` as a word, `time` in ISO 8601, `event`, `msg` and the fields) or,
 * for people, `time level message` (the message says what the fields hold).
 * Every text and field goes through `redact` before it is written, so no
 * connection string's secret reaches a line.
 *
 * Lines for people are formatted here rather than by pino-pretty: they must
 * reach the terminal through geo's screen (which clears and redraws the
 * progress line around them), be one line each, and read like geo's other
 * output; pino-pretty writes to a stream of its own, spreads fields over
 * extra lines, and brings a dozen dependencies for a five-line format.
 */
export function createLogger(params: {
  format: LogFormat;
  level: LogLevel;
  /** Where a finished line goes (without its newline). */
  write: (line: string) => void;
  redact: (text: string) => string;
  /** Fields every line carries (which command wrote it). */
  base?: LogFields;
}): Logger {
  const { redact } = params;
  const destination = {
    write: (line: string) => params.write(params.format === 'json' ? line.trimEnd() : humanLine(line)),
  };
  const logger = pino(
    {
      level: params.level,
      base: { pid: process.pid, hostname: os.hostname(), ...params.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  const emit =
    (level: Exclude<LogLevel, 'silent'>): Emit =>
    (event, message, fields) => {
      if (!logger.isLevelEnabled(level)) return;
      const record: Record<string, unknown> = { event };
      for (const [key, value] of Object.entries(fields ?? {})) {
        if (value !== undefined) record[key] = typeof value === 'string' ? redact(value) : value;
      }
      logger[level](record, redact(message));
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** pino's JSON line as a person reads it: local date and time, the level, the message. */
function humanLine(json: string): string {
  const { time, level, msg } = JSON.parse(json) as { time: string; level: string; msg: string };
  const at = new Date(time);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const stamp = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
  return `${stamp} ${level.padEnd(5)} ${msg}`;
}
