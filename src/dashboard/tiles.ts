import type { ServerResponse } from 'node:http';
import { type BoundingBox, MAX_LATITUDE, MAX_ZOOM, tileBounds, tileRange } from '../core/job-types/tiles-math.js';
import { InputError } from '../errors.js';
import type { TaskStatusCounts } from '../statuses.js';
import {
  dashboardSpatialCells,
  dashboardSpatialExtent,
  dashboardSpatialTasks,
  dashboardStageFirstTasks,
  type SpatialKind,
  type SpatialTaskRow,
  type TileWindow,
} from '../store/dashboard-tiles.js';
import type { JobRow } from '../store/jobs.js';
import type { Queryable } from '../store/pool.js';
import { commonHeaders } from './http.js';
import { wholeNumber } from './job-details.js';

/** Batches read per page while streaming every task of a stage. */
const STREAM_BATCHES = 100;

export interface MapStage {
  stage: number;
  /** How its tasks say where they are: `tile` or `bbox`. */
  kind: SpatialKind;
  /** Tasks with a tile or a box. */
  tasks: number;
  /** The zooms of their tiles (for boxes: the zoom whose tiles are about as wide). */
  minZoom: number;
  maxZoom: number;
  /** [west, south, east, north] around all of them. */
  bbox: BoundingBox;
}

/**
 * How a task's parameters place it on the map: a tile (`z`, `x`, `y`
 * numbers, at the top level or under `tile`) or a box (`bbox`: four
 * numbers); undefined for anything else.
 */
export function spatialKind(parameters: unknown): SpatialKind | undefined {
  if (typeof parameters !== 'object' || parameters === null) return undefined;
  const p = parameters as Record<string, unknown>;
  const tile = (typeof p.tile === 'object' && p.tile !== null ? p.tile : p) as Record<string, unknown>;
  if (['z', 'x', 'y'].every((k) => typeof tile[k] === 'number')) return 'tile';
  if (Array.isArray(p.bbox) && p.bbox.length === 4 && p.bbox.every((v) => typeof v === 'number')) return 'bbox';
  return undefined;
}

/** The spatial stages of a job and the kind of each, from each stage's first task. */
async function spatialStages(db: Queryable, jobId: string): Promise<Map<number, SpatialKind>> {
  const firsts = await dashboardStageFirstTasks(db, jobId);
  return new Map(
    firsts.flatMap((f) => {
      const kind = spatialKind(f.parameters);
      return kind ? [[f.stage, kind] as const] : [];
    }),
  );
}

/** Which stages of a job have tiles or boxes, and where. */
export async function mapDocument(db: Queryable, job: JobRow): Promise<{ jobId: string; stages: MapStage[] }> {
  const stages: MapStage[] = [];
  for (const [stage, kind] of await spatialStages(db, job.jobId)) {
    const rows = await dashboardSpatialExtent(db, { jobId: job.jobId, stage, kind });
    let found: MapStage | undefined;
    for (const row of rows) {
      const box: BoundingBox =
        kind === 'tile'
          ? [
              tileBounds({ z: row.kz, x: row.minX, y: row.minY }).west,
              tileBounds({ z: row.kz, x: row.maxX, y: row.maxY }).south,
              tileBounds({ z: row.kz, x: row.maxX, y: row.maxY }).east,
              tileBounds({ z: row.kz, x: row.minX, y: row.minY }).north,
            ]
          : [row.west!, row.south!, row.east!, row.north!];
      if (!found) {
        found = { stage, kind, tasks: row.tasks, minZoom: row.kz, maxZoom: row.kz, bbox: box };
        continue;
      }
      found.tasks += row.tasks;
      found.minZoom = Math.min(found.minZoom, row.kz);
      found.maxZoom = Math.max(found.maxZoom, row.kz);
      found.bbox = [Math.min(found.bbox[0], box[0]), Math.min(found.bbox[1], box[1]), Math.max(found.bbox[2], box[2]), Math.max(found.bbox[3], box[3])];
    }
    if (found) stages.push(found);
  }
  return { jobId: job.jobId, stages };
}

interface TilesQuery {
  stage: number;
  /** Aggregate to this zoom; unset: every task on its own. */
  zoom?: number;
  window: TileWindow;
}

export function parseTilesQuery(params: URLSearchParams): TilesQuery {
  const stage = wholeNumber('stage', params.get('stage') ?? '1', 1, 10_000);
  const rawZoom = params.get('zoom');
  const zoom = rawZoom === null || rawZoom === '' ? undefined : wholeNumber('zoom', rawZoom, 0, MAX_ZOOM);
  const z = zoom ?? MAX_ZOOM;
  const rawBox = params.get('bbox');
  const box = rawBox ? parseViewport(rawBox) : undefined;
  const full = 2 ** z - 1;
  const range = box ? tileRange(box, z) : { minX: 0, maxX: full, minY: 0, maxY: full };
  return { stage, zoom, window: { zoom: z, ...range } };
}

/** A viewport `west,south,east,north`, clamped to the Web Mercator world (a map may show more). */
function parseViewport(text: string): BoundingBox {
  const parts = text.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 4 || parts.some((p) => !Number.isFinite(p))) {
    throw new InputError('INVALID_QUERY', `bbox must be west,south,east,north in degrees (got "${text}")`);
  }
  const [west, south, east, north] = parts as BoundingBox;
  const box: BoundingBox = [
    clamp(west, -180, 180),
    clamp(south, -MAX_LATITUDE, MAX_LATITUDE),
    clamp(east, -180, 180),
    clamp(north, -MAX_LATITUDE, MAX_LATITUDE),
  ];
  if (box[0] >= box[2] || box[1] >= box[3]) {
    throw new InputError('INVALID_QUERY', `bbox must have west < east and south < north within the map's world (got "${text}")`);
  }
  return box;
}

/**
 * Writes the GeoJSON FeatureCollection of a stage's spatial tasks: with
 * `zoom`, aggregated (one query, at most one feature per cell of that zoom in
 * the window); without, every task on its own, streamed a page of batches at
 * a time so a stage of any size never sits in memory whole.
 */
export async function writeTiles(db: Queryable, job: JobRow, query: TilesQuery, res: ServerResponse): Promise<void> {
  const kind = (await spatialStages(db, job.jobId)).get(query.stage);
  if (kind === undefined) {
    sendEmptyCollection(res);
    return;
  }
  if (query.zoom !== undefined) {
    const cells = await dashboardSpatialCells(db, { jobId: job.jobId, stage: query.stage, kind, window: query.window });
    const features = cells.map((cell) =>
      cell.taskId !== null ? taskFeature({ ...cell, taskId: cell.taskId }) : cellFeature(cell.kz, cell.kx, cell.ky, cell.tasks, cell.counts),
    );
    const body = JSON.stringify({ type: 'FeatureCollection', features });
    res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/geo+json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  // The first page is read before anything is sent, so a bad job or stage is still a clean error.
  let page = await dashboardSpatialTasks(db, { jobId: job.jobId, stage: query.stage, kind, window: query.window, afterBatch: -1, batches: STREAM_BATCHES });
  res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/geo+json; charset=utf-8' });
  res.write('{"type":"FeatureCollection","features":[');
  let first = true;
  while (page.lastBatch !== undefined) {
    if (page.rows.length > 0) {
      const text = page.rows.map((row) => JSON.stringify(taskFeature(row))).join(',');
      // A reader that went away never drains: wait for either.
      if (!res.write(first ? text : `,${text}`)) {
        await new Promise((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
      first = false;
    }
    if (res.destroyed) return;
    page = await dashboardSpatialTasks(db, {
      jobId: job.jobId,
      stage: query.stage,
      kind,
      window: query.window,
      afterBatch: page.lastBatch,
      batches: STREAM_BATCHES,
    });
  }
  res.end(']}');
}

function sendEmptyCollection(res: ServerResponse): void {
  const body = '{"type":"FeatureCollection","features":[]}';
  res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/geo+json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function taskFeature(row: SpatialTaskRow) {
  const box: BoundingBox = row.kind === 'tile' ? boundsOf(row.kz, row.kx, row.ky) : [row.west!, row.south!, row.east!, row.north!];
  return {
    type: 'Feature',
    geometry: polygon(box),
    properties: {
      taskId: row.taskId,
      status: row.status,
      ...(row.kind === 'tile' ? { tile: { z: row.kz, x: row.kx, y: row.ky } } : { bbox: box }),
    },
  };
}

function cellFeature(z: number, x: number, y: number, tasks: number, counts: TaskStatusCounts) {
  return {
    type: 'Feature',
    geometry: polygon(boundsOf(z, x, y)),
    properties: { taskId: null, status: cellStatus(counts), cell: { z, x, y }, tasks, counts },
  };
}

/**
 * One status for a cell of many tasks: any failure shows; a cell is
 * completed when all its tasks finished and some completed (cancelled when
 * none did); otherwise its most advanced open state (processing, then
 * queued, then pending).
 */
export function cellStatus(counts: TaskStatusCounts): string {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (counts.failed > 0) return 'failed';
  if (counts.cancelled === total) return 'cancelled';
  if (counts.completed + counts.cancelled === total) return 'completed';
  if (counts.processing > 0) return 'processing';
  if (counts.queued > 0 || counts.completed > 0) return 'queued';
  return 'pending_queue';
}

function boundsOf(z: number, x: number, y: number): BoundingBox {
  const b = tileBounds({ z, x, y });
  return [b.west, b.south, b.east, b.north];
}

/** A closed ring, counter-clockwise (RFC 7946), to 7 decimals (about a centimetre). */
function polygon([west, south, east, north]: BoundingBox) {
  const [w, s, e, n] = [west, south, east, north].map((v) => Math.round(v * 1e7) / 1e7) as BoundingBox;
  return {
    type: 'Polygon',
    coordinates: [
      [
        [w, s],
        [e, s],
        [e, n],
        [w, n],
        [w, s],
      ],
    ],
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}
