import fs from 'node:fs/promises';
import { vi } from 'vitest';
import { DOUBLE_INVOKED, releaseFile } from './plan.js';
import { type HandlerRecord, readRecords } from './records.js';

const held = (r: HandlerRecord) => r.kind === 'held' && r.taskType === 'greeting' && r.i === DOUBLE_INVOKED;

/**
 * The barrier of the double invocation: once the invocation running the
 * double-invoked greeting is held in its handler and the other invocation, in
 * the same process, has answered busy, lets the handler return.
 */
export async function releaseOnceBusy(records: string, taskId: string): Promise<void> {
  await vi.waitFor(
    async () => {
      const written = await readRecords(records);
      const holder = written.find(held);
      if (!holder) throw new Error(`greeting ${DOUBLE_INVOKED} is not held yet`);
      const busy = written.some((r) => r.kind === 'invocation' && r.taskId === taskId && r.outcome === 'busy' && r.pid === holder.pid);
      if (!busy) throw new Error(`the other invocation of greeting ${DOUBLE_INVOKED} has not answered busy yet`);
    },
    { timeout: 120_000, interval: 100 },
  );
  await fs.writeFile(releaseFile(records, 'greeting', DOUBLE_INVOKED), '');
}

/**
 * Where the process that ran the double-invoked task wrote, in its order,
 * that its handler was held, that the other invocation answered busy, and that
 * the handler returned: -1 for a record it did not write.
 */
export function doubleInvocationOrder(records: HandlerRecord[], taskId: string, pid: number): { held: number; busy: number; returned: number } {
  const written = records.filter((r) => r.pid === pid);
  return {
    held: written.findIndex(held),
    busy: written.findIndex((r) => r.kind === 'invocation' && r.taskId === taskId && r.outcome === 'busy'),
    returned: written.findIndex((r) => r.kind === 'returned' && r.taskType === 'greeting' && r.i === DOUBLE_INVOKED),
  };
}
