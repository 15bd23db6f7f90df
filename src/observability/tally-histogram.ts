import type { Metric, Registry } from 'prom-client';

/** One label set's counts: observed on the hot path, read at scrape time. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let k = 0;
    while (k < this.bounds.length && value > this.bounds[k]!) k++;
    this.counts[k]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram counted in plain arrays, for observations made once
 * per task. prom-client's Histogram hashes the labels and allocates on every
 * observe (about 1.4 us a call, measured on this machine, against 80 ns
 * here): a cost the worker's throughput would show. The caller keeps the
 * series of each label set it observes into, so an observation is a bucket
 * search and three additions. At scrape time it answers the registry with the
 * document a prom-client metric gives (`get()`: cumulative `_bucket` values
 * with `le`, `_sum`, `_count`), so the exposition is prom-client's own.
 */
export class TallyHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly all = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    // Not one of prom-client's classes, but it answers get() the way they do, which is all a registry asks.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set, made on first use. */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
    let s = this.all.get(key);
    if (!s) {
      s = new HistogramSeries(this.bounds, labels);
      this.all.set(key, s);
    }
    return s;
  }

  reset(): void {
    for (const s of this.all.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  async get() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const s of this.all.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, k) => {
        cumulative += s.counts[k]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
