// The dashboard page: routes by path (/ the jobs list, /jobs/<id> a job) and wires live updates.
import { getJson } from './api.js';
import { applyStatusColours, el } from './format.js';
import { showJob } from './job.js';
import { showJobs } from './jobs.js';

const view = document.getElementById('view');
let leave = () => {};

async function route() {
  leave();
  view.replaceChildren();
  const config = await getJson('/api/dashboard').catch((err) => ({ error: err }));
  if (config.error) {
    view.append(el('p', { class: 'error', role: 'alert' }, config.error.message));
    return;
  }
  const match = /^\/jobs\/([0-9a-fA-F]{8,64})$/.exec(location.pathname);
  leave = match ? showJob(view, match[1], config) : showJobs(view, config);
}

/** In-page links change the path without a reload. */
document.addEventListener('click', (event) => {
  const link = event.target.closest?.('a[data-route]');
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  history.pushState(null, '', link.getAttribute('href'));
  void route();
});
window.addEventListener('popstate', () => void route());

// Classic scripts (Leaflet, uPlot, topojson) load deferred, before this module runs.
applyStatusColours();
void route();
