// The jobs list: newest first, filtered by status and type, paged by cursor, updated live.
import { follow, getJson } from './api.js';
import { ago, badge, count, duration, el, refresher, shortId, stageBar } from './format.js';

const PAGE_SIZE = 25;

export function showJobs(view, _config) {
  document.getElementById('crumbs').replaceChildren(el('span', {}, 'jobs'));
  const params = new URLSearchParams(location.search);
  const state = { status: params.get('status') ?? '', type: params.get('type') ?? '', cursors: [null] };
  const statusSelect = el('select', { id: 'filter-status', 'aria-label': 'status', onchange: () => filter() });
  const typeSelect = el('select', { id: 'filter-type', 'aria-label': 'type', onchange: () => filter() });
  const body = el('tbody');
  const newer = el('button', { id: 'page-newer', type: 'button', onclick: () => page(-1) }, '← newer');
  const older = el('button', { id: 'page-older', type: 'button', onclick: () => page(1) }, 'older →');
  const note = el('p', { class: 'muted', id: 'jobs-note' });
  view.append(
    el('section', { class: 'filters' }, el('label', {}, 'status ', statusSelect), el('label', {}, 'type ', typeSelect)),
    el(
      'table',
      { class: 'jobs', id: 'jobs' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['job', 'type', 'status', 'stage', 'progress', 'tasks/s', 'ETA', 'failed', 'created'].map((h) => el('th', { scope: 'col' }, h)),
        ),
      ),
      body,
    ),
    note,
    el('nav', { class: 'pager' }, newer, older),
  );

  function filter() {
    state.status = statusSelect.value;
    state.type = typeSelect.value;
    state.cursors = [null];
    const q = new URLSearchParams();
    if (state.status) q.set('status', state.status);
    if (state.type) q.set('type', state.type);
    history.replaceState(null, '', q.size ? `/?${q}` : '/');
    refresh.now();
  }

  function page(direction) {
    if (direction > 0 && !state.next) return;
    if (direction > 0) state.cursors.push(state.next);
    else if (state.cursors.length > 1) state.cursors.pop();
    refresh.now();
  }

  async function load() {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.status) q.set('status', state.status);
    if (state.type) q.set('type', state.type);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) q.set('cursor', cursor);
    const doc = await getJson(`/api/jobs?${q}`);
    state.next = doc.nextCursor;
    fillSelect(statusSelect, doc.facets.statuses, state.status);
    fillSelect(typeSelect, doc.facets.types, state.type);
    body.replaceChildren(...doc.jobs.map(jobRow));
    note.textContent = doc.jobs.length === 0 ? 'No jobs yet: geo submit hello_world --n 1000 makes one.' : '';
    newer.disabled = state.cursors.length <= 1;
    older.disabled = !doc.nextCursor;
    view.dataset.loadedAt = String(performance.now());
  }

  const refresh = refresher(load, 500);
  refresh.now();
  // The dashboard sends one more progress event after the last of a burst: each event is one read.
  const stop = follow(undefined, () => refresh());
  return () => {
    stop();
    refresh.cancel();
  };
}

function fillSelect(select, facet, current) {
  const options = [el('option', { value: '' }, 'all')];
  for (const [value, n] of Object.entries(facet).sort()) options.push(el('option', { value }, `${value.replace('_', ' ')} (${count(n)})`));
  if (current && !(current in facet)) options.push(el('option', { value: current }, current));
  select.replaceChildren(...options);
  select.value = current;
}

function jobRow(job) {
  const current = job.stages.find((s) => s.stage === job.currentStage);
  const cell = (field, label, content, value) => el('td', { dataset: { field, label, ...(value === undefined ? {} : { value: String(value) }) } }, content);
  return el(
    'tr',
    { dataset: { jobId: job.jobId, status: job.status } },
    cell('job', 'job', el('a', { href: `/jobs/${job.jobId}`, 'data-route': true, class: 'mono', title: job.jobId }, shortId(job.jobId))),
    cell('type', 'type', job.jobType),
    cell('status', 'status', badge(job.status)),
    cell('stage', 'stage', `${job.currentStage}/${job.stageCount}${current?.name ? ` ${current.name}` : ''}`, job.currentStage),
    cell(
      'progress',
      'progress',
      el(
        'div',
        { class: 'bars' },
        job.stages.map((s) =>
          el(
            'div',
            {
              class: 'stagebar',
              dataset: {
                stage: String(s.stage),
                status: s.status,
                completed: String(s.completed),
                failed: String(s.failed),
                processing: String(s.processing),
                expected: String(s.expected),
              },
            },
            stageBar(s),
          ),
        ),
      ),
    ),
    cell('rate', 'tasks/s', count(job.tasksPerSecond), job.tasksPerSecond),
    cell('eta', 'ETA', job.etaMs === null ? '' : duration(job.etaMs), job.etaMs ?? ''),
    cell('failed', 'failed', count(job.failed), job.failed),
    cell('created', 'created', el('time', { datetime: job.createdAt, title: job.createdAt }, ago(job.createdAt))),
  );
}
