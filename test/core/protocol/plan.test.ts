import { describe, expect, it } from 'vitest';
import type { TaskDefinition } from '../../../src/core/job-types/job-type.js';
import { alignedBatches } from '../../../src/core/protocol/plan.js';

function defs(indexes: number[]): TaskDefinition[] {
  return indexes.map((i) => ({ index: i, key: `t-${i}`, parameters: {} }));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('alignedBatches', () => {
  it('cuts at multiples of the batch size, the last batch holding the remainder', async () => {
    const batches = await collect(alignedBatches(defs([...Array(250).keys()]), 100));
    expect(batches.map((b) => [b.batchIndex, b.tasks.length])).toEqual([
      [0, 100],
      [1, 100],
      [2, 50],
    ]);
  });

  it('keeps batch membership by index when some tasks are missing from the stream', async () => {
    const batches = await collect(alignedBatches(defs([3, 99, 100, 305]), 100));
    expect(batches.map((b) => [b.batchIndex, b.tasks.map((t) => t.index)])).toEqual([
      [0, [3, 99]],
      [1, [100]],
      [3, [305]],
    ]);
  });

  it('rejects definitions out of index order', async () => {
    await expect(collect(alignedBatches(defs([1, 0]), 100))).rejects.toThrow(/increasing index order/);
  });

  it('streams: holds one batch, not the whole stage', async () => {
    let produced = 0;
    function* many() {
      for (let i = 0; i < 1_000_000; i++) {
        produced++;
        yield { index: i, key: `k${i}`, parameters: {} };
      }
    }
    const iterator = alignedBatches(many(), 100)[Symbol.asyncIterator]();
    await iterator.next();
    expect(produced).toBeLessThanOrEqual(101);
    await iterator.return?.(undefined);
  });
});
