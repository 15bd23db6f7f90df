import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TallyHistogram } from '../../src/observability/tally-histogram.js';

describe('TallyHistogram (the per-task histogram counted in plain arrays)', () => {
  it("exposes exactly what prom-client's own Histogram exposes for the same observations", async () => {
    const bounds = [0.001, 0.01, 0.1, 1, 10];
    const theirs = new Registry();
    const ours = new Registry();
    const reference = new Histogram({ name: 'h_seconds', help: 'help text', labelNames: ['job_type', 'outcome'], buckets: bounds, registers: [theirs] });
    const tally = new TallyHistogram('h_seconds', 'help text', bounds, ours);
    // Values on, between, below and above the bounds.
    const observations: Array<[string, string, number]> = [
      ['hello_world', 'ok', 0.0005],
      ['hello_world', 'ok', 0.001],
      ['hello_world', 'ok', 0.05],
      ['hello_world', 'error', 2],
      ['tiles', 'ok', 10],
      ['tiles', 'ok', 42],
      ['tiles', 'ok', 0.1],
    ];
    for (const [jobType, outcome, value] of observations) {
      reference.observe({ job_type: jobType, outcome }, value);
      tally.series({ job_type: jobType, outcome }).observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // As objects too (what Registry.aggregate reads), exemplars aside: prom-client writes null where it has none.
    const values = async (registry: Registry) =>
      (await registry.getMetricsAsJSON()).flatMap((m) =>
        m.values.map(({ labels, value, metricName }: { labels: object; value: number; metricName?: string }) => ({ labels, value, metricName })),
      );
    expect(await values(ours)).toEqual(await values(theirs));
  });

  it('keeps one series per label set whatever the order the labels are given in', () => {
    const tally = new TallyHistogram('x_seconds', 'x', [1], new Registry());
    expect(tally.series({ a: '1', b: '2' })).toBe(tally.series({ b: '2', a: '1' }));
  });
});
