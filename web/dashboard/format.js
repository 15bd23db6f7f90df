// Number, time and status formatting shared by the views.

/** Task status colours: the map, the progress bars and the legend use these (set as CSS variables at start). */
export const STATUS_COLOURS = {
  pending_queue: '#b8bec6',
  queued: '#6ea8fe',
  processing: '#f0ad4e',
  completed: '#2e9e5b',
  failed: '#d9534f',
  cancelled: '#5f6b76',
};

export function applyStatusColours(root = document.documentElement) {
  for (const [status, colour] of Object.entries(STATUS_COLOURS)) root.style.setProperty(`--status-${status}`, colour);
}

const counts = new Intl.NumberFormat('en-US');

export function count(n) {
  return n === null || n === undefined ? '' : counts.format(n);
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function ago(iso, now = Date.now()) {
  return iso ? `${duration(now - Date.parse(iso))} ago` : '';
}

export function shortId(id) {
  return id ? id.slice(0, 12) : '';
}

/** Creates an element: el('td', { class: 'n', dataset: { field: 'x' } }, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function badge(status) {
  return el('span', { class: `badge s-${status}`, dataset: { status } }, status.replace('_', ' '));
}

/** A stacked bar of one stage: completed, failed, processing, queued/pending, out of expected. */
export function stageBar(stage) {
  const total = Math.max(stage.expected, 1);
  const parts = [
    ['completed', stage.completed],
    ['failed', stage.failed],
    ['processing', stage.processing],
  ];
  const pct = (n) => `${Math.min(100, (n / total) * 100).toFixed(2)}%`;
  const done = stage.expected > 0 ? Math.floor(((stage.completed + stage.failed) / stage.expected) * 100) : 0;
  return el(
    'div',
    {
      class: 'bar',
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': done,
      title: `stage ${stage.stage}${stage.name ? ` ${stage.name}` : ''}: ${count(stage.completed)} completed, ${count(stage.failed)} failed, ${count(stage.processing)} processing of ${count(stage.expected)}`,
    },
    parts.filter(([, n]) => n > 0).map(([status, n]) => el('span', { class: `seg s-${status}`, style: `width:${pct(n)}` })),
  );
}

/**
 * Calls `fn` again after every change it is told about, never twice at once,
 * at most once per `minMs` (a number, or a function of how long the last call took).
 */
export function refresher(fn, minMs) {
  let tookMs = 0;
  const gap = () => (typeof minMs === 'function' ? minMs(tookMs) : minMs);
  let running = false;
  let again = false;
  let last = 0;
  let timer;
  const run = async () => {
    timer = undefined;
    running = true;
    again = false;
    last = performance.now();
    try {
      await fn();
    } catch (err) {
      console.error(err);
    } finally {
      tookMs = performance.now() - last;
      running = false;
      if (again) schedule();
    }
  };
  const schedule = () => {
    if (running) {
      again = true;
      return;
    }
    if (timer) return;
    const wait = Math.max(0, gap() - (performance.now() - last));
    timer = setTimeout(run, wait);
  };
  schedule.now = run;
  schedule.cancel = () => clearTimeout(timer);
  return schedule;
}
