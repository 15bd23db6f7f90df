import type { ChildProcess } from 'node:child_process';

/** A JSON log line of geo (--log-format json). */
export interface LogLine {
  level: string;
  time: string;
  event: string;
  msg: string;
  [field: string]: unknown;
}

/** Parses every stderr line as a JSON log line, failing on any line that is not one. */
export function parseLogLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        throw new Error(`a stderr line is not JSON: ${line}`);
      }
    });
}

/** Resolves with the first JSON log line of a running geo's stderr that matches; rejects if geo ends first. */
export function waitForLogLine(child: ChildProcess, match: (line: LogLine) => boolean): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const text of lines) {
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          continue;
        }
        if (match(line)) {
          child.stderr!.off('data', onData);
          child.off('close', onClose);
          resolve(line);
          return;
        }
      }
    };
    const onClose = (code: number | null) => reject(new Error(`geo ended (exit ${code}) before the log line`));
    child.stderr!.on('data', onData);
    child.once('close', onClose);
  });
}
