// A job's page: its stages, throughput, map (for tiles and boxes), problems, errors and result, live.
import { actionBar } from './actions.js';
import { follow, getJson } from './api.js';
import { throughputChart } from './chart.js';
import { badge, count, duration, el, refresher, shortId, stageBar } from './format.js';
import { tileMap } from './map.js';

const STAGE_COLUMNS = [
  ['expected', 'expected'],
  ['written', 'written'],
  ['pendingQueue', 'pending'],
  ['queued', 'queued'],
  ['processing', 'processing'],
  ['completed', 'completed'],
  ['failed', 'failed'],
  ['tasksPerSecond', 'tasks/s'],
];

export function showJob(view, jobId, config) {
  document.getElementById('crumbs').replaceChildren(el('a', { href: '/', 'data-route': true }, 'jobs'), ' / ', el('span', { class: 'mono' }, shortId(jobId)));
  const header = el('section', { class: 'job-head', id: 'job-head' });
  const stagesBody = el('tbody');
  const result = el('section', { id: 'result', hidden: true });
  const chartBox = el('div', { class: 'chart', id: 'throughput' });
  const mapSection = el('section', { id: 'map-section', hidden: true });
  const problems = el('section', { id: 'problems' });
  view.append(
    header,
    el(
      'section',
      {},
      el('h2', {}, 'stages'),
      el(
        'div',
        { class: 'scroll' },
        el(
          'table',
          { class: 'stages', id: 'stages' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              el('th', { scope: 'col' }, 'stage'),
              el('th', { scope: 'col' }, 'status'),
              STAGE_COLUMNS.map(([, h]) => el('th', { scope: 'col', class: 'n' }, h)),
              el('th', { scope: 'col' }, 'progress'),
            ),
          ),
          stagesBody,
        ),
      ),
    ),
    result,
    el('section', {}, el('h2', {}, 'throughput'), el('p', { class: 'muted' }, 'tasks finished per second, from the tasks’ completion times'), chartBox),
    mapSection,
    problems,
  );

  let status;
  let map;
  const chart = throughputChart(chartBox);

  async function loadStatus() {
    status = await getJson(`/api/jobs/${jobId}`);
    jobId = status.jobId;
    renderHeader(header, status, config, () => refreshAll());
    stagesBody.replaceChildren(...status.stages.map(stageRow));
    renderResult(result, status);
    view.dataset.statusLoadedAt = String(performance.now());
  }

  async function loadProblems() {
    const doc = await getJson(`/api/jobs/${jobId}/problems`);
    renderProblems(problems, doc);
  }

  async function loadThroughput() {
    const open = status ? status.stages.filter((s) => s.status !== 'completed' && s.status !== 'failed').map((s) => s.stage) : [];
    await chart.load(jobId, open);
  }

  async function loadMap() {
    if (map) return map.refresh();
    const doc = await getJson(`/api/jobs/${jobId}/map`);
    const stage = pickStage(doc.stages, status);
    if (!stage) return;
    mapSection.hidden = false;
    map = tileMap(mapSection, jobId, stage, config);
  }

  const refreshStatus = refresher(async () => {
    await loadStatus().catch((err) => showError(header, err));
  }, 250);
  const refreshProblems = refresher(loadProblems, 1000);
  // The chart and the map read every task of a stage: on a big one they refresh less often, not more load.
  const refreshChart = refresher(loadThroughput, (took) => Math.max(2000, 5 * took));
  const refreshMap = refresher(loadMap, (took) => Math.max(1000, 3 * took));
  const refreshAll = () => {
    refreshStatus();
    refreshProblems();
    refreshChart();
    refreshMap();
  };

  void (async () => {
    await refreshStatus.now();
    if (!status) return;
    refreshProblems();
    refreshChart();
    refreshMap();
  })();
  // The dashboard sends one more progress event after the last of a burst: each event is one read.
  const stop = follow(jobId, (event) => {
    if (event === 'reset') map?.reset();
    refreshAll();
  });
  return () => {
    stop();
    for (const r of [refreshStatus, refreshProblems, refreshChart, refreshMap]) r.cancel();
    map?.remove();
    chart.remove();
  };
}

/** The stage the map shows: the current stage when it has tiles, else the last one that has. */
function pickStage(stages, status) {
  if (stages.length === 0) return undefined;
  return stages.find((s) => s.stage === status?.currentStage) ?? stages[stages.length - 1];
}

function showError(target, err) {
  target.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
}

function renderHeader(header, status, config, onAction) {
  const rows = [
    ['type', status.jobType],
    ['status', badge(status.status)],
    ['transport', status.transport],
    ['stage', `${status.currentStage} of ${status.stages.length}`],
    ['elapsed', duration(status.elapsedMs)],
    ['tasks/s', count(status.tasksPerSecond)],
  ];
  const actions = actionBar(config, status, onAction);
  header.replaceChildren(
    el('h1', { class: 'mono job-id', title: status.jobId }, status.jobId),
    el(
      'dl',
      { class: 'facts' },
      rows.map(([k, v]) => el('div', { dataset: { fact: k } }, el('dt', {}, k), el('dd', {}, v))),
    ),
    ...(actions ? [actions] : []),
  );
}

function stageRow(stage) {
  return el(
    'tr',
    { dataset: { stage: String(stage.stage), status: stage.status } },
    el('th', { scope: 'row' }, `${stage.stage} ${stage.name}`),
    el('td', {}, badge(stage.status)),
    STAGE_COLUMNS.map(([field, label]) => el('td', { class: 'n', dataset: { field, label, value: String(stage[field]) } }, count(stage[field]))),
    el('td', { class: 'progress' }, stageBar(stage)),
  );
}

function renderResult(section, status) {
  const done = status.status !== 'processing';
  section.hidden = !done || (status.result === null && status.errors.length === 0);
  if (section.hidden) return;
  section.replaceChildren(
    el('h2', {}, status.status === 'completed' ? 'result' : 'outcome'),
    status.result !== null ? el('pre', { class: 'result', id: 'result-json' }, JSON.stringify(status.result, null, 2)) : null,
  );
}

function renderProblems(section, doc) {
  const { problemBatches, stragglers, errors } = doc;
  section.replaceChildren(
    el('h2', {}, 'problems'),
    el('h3', {}, `problem batches (${count(problemBatches.total)})`),
    problemBatches.total === 0
      ? el('p', { class: 'muted' }, 'none: every batch is on the queue and none holds a failed task')
      : table(
          'problem-batches',
          ['batch', 'stage', 'status', 'tasks', 'pending', 'failed', 'attempts', 'last error'],
          problemBatches.batches.map((b) => [
            el('span', { class: 'mono' }, `#${b.batchIndex}`),
            b.stage,
            badge(b.status),
            count(b.tasks),
            count(b.counts.pending_queue),
            count(b.counts.failed),
            b.attempts,
            b.lastError ?? '',
          ]),
        ),
    el('h3', {}, 'stragglers'),
    stragglers.length === 0
      ? el('p', { class: 'muted' }, 'no task is running')
      : table(
          'stragglers',
          ['task', 'stage', 'worker', 'attempt', 'running for'],
          stragglers.map((t) => [
            el('span', { class: 'mono', title: t.taskId }, t.taskId.slice(-24)),
            t.stage,
            t.worker ?? '',
            t.attempt,
            duration(t.runningMs),
          ]),
        ),
    el('h3', {}, `errors (${count(errors.failed)} failed tasks)`),
    errors.groups.length === 0
      ? el('p', { class: 'muted' }, 'no failed task')
      : table(
          'error-groups',
          ['tasks', 'stage', 'message', 'example task'],
          errors.groups.map((g) => [
            count(g.count),
            g.stage,
            el('span', { class: 'message' }, g.message ?? '(no message)'),
            el('span', { class: 'mono', title: g.exampleTaskId }, g.exampleTaskId.slice(-24)),
          ]),
        ),
  );
}

function table(id, headers, rows) {
  return el(
    'div',
    { class: 'scroll' },
    el(
      'table',
      { id, class: 'plain' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          headers.map((h) => el('th', { scope: 'col' }, h)),
        ),
      ),
      el(
        'tbody',
        {},
        rows.map((cells) =>
          el(
            'tr',
            {},
            cells.map((c, i) => el('td', { dataset: { label: headers[i] } }, c)),
          ),
        ),
      ),
    ),
  );
}
