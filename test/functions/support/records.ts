import fs from 'node:fs/promises';
import path from 'node:path';

/** One line the Python side wrote (test/functions/support/handlers.py). */
export interface HandlerRecord {
  kind: 'call' | 'held' | 'returned' | 'raised' | 'invocation' | 'poisoned' | 'host-started';
  pid: number;
  taskType?: string;
  i?: number;
  first?: boolean;
  error?: string;
  taskId?: string | null;
  outcome?: string;
  raised?: string;
  copies?: number;
  /** A poisoned message's text as it was on the queue. */
  content?: string;
}

/** Every record of every Python process of a test: each process's in the order it wrote them, the processes in no particular order. */
export async function readRecords(directory: string): Promise<HandlerRecord[]> {
  const names = (await fs.readdir(directory)).filter((n) => /^records-\d+\.jsonl$/.test(n));
  const records: HandlerRecord[] = [];
  for (const name of names) {
    const text = await fs.readFile(path.join(directory, name), 'utf8');
    for (const line of text.split('\n')) if (line) records.push(JSON.parse(line) as HandlerRecord);
  }
  return records;
}

/** Handler records of one task (`taskType` and its index `i`). */
export function callsOf(records: HandlerRecord[], taskType: string, i: number): HandlerRecord[] {
  return records.filter((r) => r.taskType === taskType && r.i === i);
}
