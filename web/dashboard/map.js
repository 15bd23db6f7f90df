// The map of a stage's tiles and boxes (Leaflet on a canvas, over a bundled world outline), live.
import { getJson } from './api.js';
import { count, el, STATUS_COLOURS } from './format.js';

/**
 * Cells are drawn at the map's zoom plus this: 2^4 = 16 px a cell, so a
 * 1280 x 800 view holds at most 80 x 50 = 4,000 of them however many tasks
 * the stage has. Finer tasks are counted per cell by the server.
 */
const CELL_ZOOM_OFFSET = 4;
const MAX_LAT = 85.0511287798;

let land;

export function tileMap(section, jobId, stage, config) {
  const container = el('div', { class: 'map', id: 'map', dataset: { stage: String(stage.stage) } });
  const detail = el('aside', { class: 'tile-detail', id: 'tile-detail' }, el('p', { class: 'muted' }, 'click a tile to see its task'));
  section.replaceChildren(
    el('h2', {}, `map: stage ${stage.stage}, ${count(stage.tasks)} tasks`),
    legend(config.taskStatuses),
    el('div', { class: 'map-wrap' }, container, detail),
  );
  const map = L.map(container, { preferCanvas: true, zoomSnap: 1, minZoom: 0, maxZoom: 22, attributionControl: false, worldCopyJump: true });
  const renderer = L.canvas({ padding: 0.3 });
  const layers = new Map();
  let selected;
  let loading = 0;

  land ??= getJson('/assets/land-110m.json').then((topo) => topojson.feature(topo, topo.objects.land));
  land
    .then((geo) => {
      L.geoJSON(geo, { renderer, interactive: false, style: { color: '#9aa5b1', weight: 0.6, fillColor: '#eef1f4', fillOpacity: 1 } })
        .addTo(map)
        .bringToBack();
    })
    .catch(() => {});
  const [w, s, e, n] = stage.bbox;
  map.fitBounds(
    [
      [s, w],
      [n, e],
    ],
    { padding: [12, 12], maxZoom: Math.min(18, stage.maxZoom + 2) },
  );
  map.on('moveend', () => void load());

  async function load() {
    const ticket = ++loading;
    const zoom = Math.max(0, Math.min(stage.maxZoom, Math.floor(map.getZoom()) + CELL_ZOOM_OFFSET));
    const b = map.getBounds().pad(0.25);
    const box = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -MAX_LAT, MAX_LAT), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -MAX_LAT, MAX_LAT)];
    if (box[0] >= box[2] || box[1] >= box[3]) return;
    const q = new URLSearchParams({ stage: String(stage.stage), zoom: String(zoom), bbox: box.map((v) => v.toFixed(6)).join(',') });
    const doc = await getJson(`/api/jobs/${jobId}/tiles?${q}`);
    if (ticket !== loading) return;
    apply(doc.features);
    container.dataset.zoom = String(zoom);
    container.dataset.features = String(layers.size);
    container.dataset.renderedAt = String(performance.now());
  }

  function apply(features) {
    const seen = new Set();
    for (const feature of features) {
      const p = feature.properties;
      const key = p.taskId ?? `cell:${p.cell.z}/${p.cell.x}/${p.cell.y}`;
      seen.add(key);
      const existing = layers.get(key);
      if (existing) {
        if (existing.feature.properties.status !== p.status || existing.feature.properties.tasks !== p.tasks) {
          existing.layer.setStyle({ fillColor: STATUS_COLOURS[p.status] ?? '#999' });
        }
        existing.feature = feature;
        existing.layer.feature = feature;
        continue;
      }
      const ring = feature.geometry.coordinates[0].map(([lon, lat]) => [lat, lon]);
      const layer = L.polygon(ring, { renderer, color: '#ffffff', weight: 0.5, opacity: 0.7, fillColor: STATUS_COLOURS[p.status] ?? '#999', fillOpacity: 0.8 });
      layer.feature = feature;
      layer.on('click', () => select(key));
      layer.addTo(map);
      layers.set(key, { layer, feature });
    }
    for (const [key, entry] of layers) {
      if (!seen.has(key)) {
        entry.layer.remove();
        layers.delete(key);
      }
    }
    if (selected && layers.has(selected)) void show(layers.get(selected).feature);
  }

  function select(key) {
    selected = key;
    const entry = layers.get(key);
    if (entry) void show(entry.feature);
  }

  async function show(feature) {
    const p = feature.properties;
    if (p.taskId === null) {
      const [[lon0, lat0], , [lon1, lat1]] = feature.geometry.coordinates[0];
      detail.replaceChildren(
        el('h3', {}, `${count(p.tasks)} tasks in tile ${p.cell.z}/${p.cell.x}/${p.cell.y}`),
        el(
          'dl',
          { class: 'counts' },
          Object.entries(p.counts).map(([status, n]) => el('div', {}, el('dt', {}, status.replace('_', ' ')), el('dd', { dataset: { status } }, count(n)))),
        ),
        el(
          'button',
          {
            type: 'button',
            onclick: () =>
              map.fitBounds([
                [lat0, lon0],
                [lat1, lon1],
              ]),
          },
          'zoom in',
        ),
      );
      return;
    }
    try {
      const task = await getJson(`/api/jobs/${jobId}/tasks/${encodeURIComponent(p.taskId)}`);
      detail.replaceChildren(
        el('h3', { class: 'mono', id: 'tile-task-id' }, task.taskId),
        el(
          'dl',
          { class: 'task' },
          [
            ['status', task.status],
            ['tile', p.tile ? `${p.tile.z}/${p.tile.x}/${p.tile.y}` : p.bbox?.join(', ')],
            ['worker', task.worker ?? ''],
            ['attempt', task.attempt],
            ['retries', task.retryCount],
            ['started', task.startedAt ?? ''],
            ['finished', task.completedAt ?? ''],
          ].map(([k, v]) => el('div', { dataset: { fact: k } }, el('dt', {}, k), el('dd', {}, String(v)))),
        ),
        task.error ? el('p', { class: 'error' }, task.error) : null,
        el('pre', { class: 'result' }, JSON.stringify(task.result ?? task.parameters, null, 2)),
      );
    } catch (err) {
      detail.replaceChildren(el('p', { class: 'error' }, err.message));
    }
  }

  // For tests and debugging (not part of the API): what is drawn, and the map itself.
  window.geoDashboard = {
    map,
    features: () => [...layers.entries()].map(([key, { layer, feature }]) => ({ key, ...feature.properties, fill: layer.options.fillColor })),
    select,
  };

  void load();
  return {
    refresh: load,
    reset() {
      for (const { layer } of layers.values()) layer.remove();
      layers.clear();
    },
    remove() {
      map.remove();
      delete window.geoDashboard;
    },
  };
}

function legend(statuses) {
  return el(
    'ul',
    { class: 'legend', 'aria-label': 'colours' },
    statuses.map((status) => el('li', {}, el('span', { class: `swatch s-${status}` }), status.replace('_', ' '))),
  );
}

function clamp(v, min, max) {
  return Math.max(min, Math.min(max, v));
}
