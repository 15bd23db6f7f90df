// The throughput chart (uPlot): tasks finished per second, per stage, over the job's life.
import { getJson } from './api.js';

const STAGE_COLOURS = ['#2e9e5b', '#1f77b4', '#9467bd', '#8c564b', '#17becf', '#bcbd22'];

export function throughputChart(container) {
  let plot;
  let bucket;
  let from;
  const points = new Map();
  const observer = new ResizeObserver(() => plot?.setSize(size()));
  observer.observe(container);

  function size() {
    return { width: Math.max(200, container.clientWidth), height: container.clientWidth < 500 ? 160 : 220 };
  }

  /** Loads the whole job once, then only its open stages (finished ones do not change). */
  async function load(jobId, openStages) {
    const fresh = !bucket || (Date.now() / 1000 - from) / bucket > 400;
    if (!fresh && openStages.length === 0) return;
    const q = new URLSearchParams();
    if (!fresh) {
      q.set('bucket', String(bucket));
      for (const s of openStages) q.append('stage', String(s));
    }
    const doc = await getJson(`/api/jobs/${jobId}/throughput?${q}`);
    if (fresh) points.clear();
    bucket = doc.bucketSeconds;
    from = doc.from;
    for (const s of doc.stages) points.set(s.stage, s.points);
    draw(doc.to);
  }

  function draw(to) {
    const start = Math.floor(from / bucket) * bucket;
    const xs = [];
    for (let t = start; t <= to; t += bucket) xs.push(t);
    const stages = [...points.keys()].sort((a, b) => a - b);
    const index = new Map(xs.map((t, i) => [t, i]));
    const series = stages.map((stage) => {
      const ys = new Array(xs.length).fill(0);
      for (const [at, completed] of points.get(stage)) {
        const i = index.get(at);
        if (i !== undefined) ys[i] = completed / bucket;
      }
      return ys;
    });
    const failed = new Array(xs.length).fill(0);
    for (const stage of stages) {
      for (const [at, , f] of points.get(stage)) {
        const i = index.get(at);
        if (i !== undefined) failed[i] += f / bucket;
      }
    }
    const data = [xs, ...series, failed];
    container.dataset.buckets = String(xs.length);
    container.dataset.finished = String(stages.reduce((sum, s) => sum + points.get(s).reduce((a, [, c, f]) => a + c + f, 0), 0));
    const key = stages.join(',');
    if (plot && plot.geoKey === key) {
      plot.setData(data);
      return;
    }
    plot?.destroy();
    plot = new uPlot(
      {
        ...size(),
        series: [
          {},
          ...stages.map((stage, i) => ({
            label: `stage ${stage}`,
            stroke: STAGE_COLOURS[i % STAGE_COLOURS.length],
            width: 1.5,
            points: { show: false },
            value: (_u, v) => (v === null ? '' : v.toFixed(1)),
          })),
          { label: 'failed', stroke: '#d9534f', width: 1, points: { show: false }, value: (_u, v) => (v === null ? '' : v.toFixed(1)) },
        ],
        // Whole seconds at least: a bucket is never shorter than one.
        axes: [{ incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400] }, { label: 'tasks/s', size: 60 }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        legend: { live: false },
      },
      data,
      container,
    );
    plot.geoKey = key;
  }

  return {
    load,
    remove() {
      observer.disconnect();
      plot?.destroy();
    },
  };
}
