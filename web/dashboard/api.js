// The dashboard's JSON API and its event stream, as the page uses them (docs/dashboard.md).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function getJson(path, { signal } = {}) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, signal, credentials: 'same-origin' });
  if (!res.ok) throw await apiError(res);
  return res.json();
}

export async function postJson(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (!res.ok) throw await apiError(res);
  return res.json();
}

async function apiError(res) {
  if (res.status === 401) return new ApiError(401, 'UNAUTHORIZED', 'not authorized: open the dashboard with ?token=<GEO_DASHBOARD_TOKEN>');
  try {
    const doc = await res.json();
    return new ApiError(res.status, doc.error?.code ?? 'HTTP', doc.error?.message ?? `HTTP ${res.status}`);
  } catch {
    return new ApiError(res.status, 'HTTP', `HTTP ${res.status}`);
  }
}

const EVENT_NAMES = ['progress', 'stage-completed', 'stage', 'job', 'reset'];

/**
 * Follows /api/events (one job's, or every job's) and calls onChange(event,
 * data) for each change; shows the connection's state in the header.
 */
export function follow(jobId, onChange) {
  const url = jobId ? `/api/events?job=${encodeURIComponent(jobId)}` : '/api/events';
  const source = new EventSource(url);
  const live = document.getElementById('live');
  const show = (state, text) => {
    live.dataset.state = state;
    live.textContent = text;
  };
  source.addEventListener('ready', () => show('live', 'live'));
  source.addEventListener('error', () => show('down', 'reconnecting'));
  for (const name of EVENT_NAMES) {
    source.addEventListener(name, (e) => onChange(name, e.data ? JSON.parse(e.data) : {}));
  }
  // The page's first read may have come before the stream started, and a stream that
  // comes back after a break missed changes: read again on ready, everything after a break.
  let opened = false;
  source.addEventListener('ready', () => {
    onChange(opened ? 'reset' : 'ready', {});
    opened = true;
  });
  return () => source.close();
}
