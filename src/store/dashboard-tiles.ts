import type { TaskStatusCounts } from '../statuses.js';
import type { Queryable } from './pool.js';

/**
 * Where a task is on the map, read from its parameters: a tile (`z`, `x`,
 * `y` at the top level, as `tiles` writes them, or under `tile`) or a box
 * (`bbox`: [minLon, minLat, maxLon, maxLat]). Every spatial task gets a key
 * tile (kz, kx, ky): the tile itself, or for a box the tile at the zoom whose
 * tiles are about as wide as the box that holds its centre. Aggregating to
 * a coarser zoom d is then integer shifts: (kx >> (kz - d), ky >> (kz - d)).
 *
 * Expects a CTE `src (task_id, status, stage, p)`; yields `keyed (task_id,
 * status, stage, kind, kz, kx, ky, w, s, e, n)`, w..n set for boxes only.
 */
const KEYED = `
  shaped AS (
    SELECT task_id, status, stage,
           CASE WHEN jsonb_typeof(p->'tile') = 'object' THEN p->'tile' ELSE p END AS tp,
           CASE WHEN jsonb_typeof(p->'bbox') = 'array' AND jsonb_array_length(p->'bbox') = 4
                 AND jsonb_typeof(p->'bbox'->0) = 'number' AND jsonb_typeof(p->'bbox'->1) = 'number'
                 AND jsonb_typeof(p->'bbox'->2) = 'number' AND jsonb_typeof(p->'bbox'->3) = 'number'
                THEN p->'bbox' END AS bb
    FROM src
  ),
  tiled AS (
    SELECT task_id, status, stage, 'tile'::text AS kind, (tp->>'z')::int AS kz, (tp->>'x')::bigint AS kx, (tp->>'y')::bigint AS ky,
           NULL::float8 AS w, NULL::float8 AS s, NULL::float8 AS e, NULL::float8 AS n
    FROM shaped
    WHERE (tp->>'z') ~ '^[0-9]{1,2}$' AND (tp->>'x') ~ '^[0-9]{1,8}$' AND (tp->>'y') ~ '^[0-9]{1,8}$'
  ),
  boxed AS (
    SELECT task_id, status, stage, (bb->>0)::float8 AS w, (bb->>1)::float8 AS s, (bb->>2)::float8 AS e, (bb->>3)::float8 AS n
    FROM shaped
    WHERE bb IS NOT NULL AND NOT ((tp->>'z') ~ '^[0-9]{1,2}$' AND (tp->>'x') ~ '^[0-9]{1,8}$' AND (tp->>'y') ~ '^[0-9]{1,8}$')
  ),
  boxed_key AS (
    SELECT b.*, least(24, greatest(0, floor(log(2.0, (360.0 / greatest(b.e - b.w, 1e-9))::numeric))))::int AS kz,
           radians(least(85.0511287798, greatest(-85.0511287798, (b.s + b.n) / 2))) AS lat_rad,
           least(180, greatest(-180, (b.w + b.e) / 2)) AS lon
    FROM boxed b WHERE b.e > b.w AND b.n > b.s
  ),
  keyed AS (
    SELECT task_id, status, stage, kind, kz, kx, ky, w, s, e, n FROM tiled
    WHERE kz <= 24 AND kx < (1::bigint << kz) AND ky < (1::bigint << kz)
    UNION ALL
    SELECT task_id, status, stage, 'bbox', kz,
           least((1::bigint << kz) - 1, greatest(0, floor((lon + 180) / 360 * (1::bigint << kz))))::bigint,
           least((1::bigint << kz) - 1, greatest(0, floor((1 - asinh(tan(lat_rad)) / pi()) / 2 * (1::bigint << kz))))::bigint,
           w, s, e, n
    FROM boxed_key
  )`;

export interface SpatialExtentRow {
  stage: number;
  kind: 'tile' | 'bbox';
  kz: number;
  tasks: number;
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
  /** Boxes only: their union. */
  west: number | null;
  south: number | null;
  east: number | null;
  north: number | null;
}

/**
 * The spatial tasks of a job per stage, key zoom and kind, with the range
 * they cover. A stage counts as spatial when its first task is (job types
 * write one shape of task per stage), so a job without any costs one task
 * read per stage.
 */
export async function dashboardSpatialExtent(db: Queryable, jobId: string): Promise<SpatialExtentRow[]> {
  const { rows } = await db.query<SpatialExtentRow>(
    `WITH firsts AS (
       SELECT s.stage,
              (SELECT t.parameters FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
               WHERE b.job_id = s.job_id AND b.stage = s.stage ORDER BY b.batch_index, t.task_index LIMIT 1) AS p
       FROM stages s WHERE s.job_id = $1
     ),
     spatial AS (
       SELECT f.stage FROM firsts f
       WHERE f.p IS NOT NULL
         AND (jsonb_typeof(f.p->'bbox') = 'array' OR jsonb_typeof(f.p->'tile') = 'object'
              OR (f.p ? 'z' AND f.p ? 'x' AND f.p ? 'y'))
     ),
     src AS (
       SELECT t.task_id, geo_task_status(t.status, b.status) AS status, b.stage, t.parameters AS p
       FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
       WHERE b.job_id = $1 AND b.stage IN (SELECT stage FROM spatial)
     ),
     ${KEYED}
     SELECT stage, kind, kz, count(*)::int AS tasks, min(kx)::float8 AS "minX", max(kx)::float8 AS "maxX",
            min(ky)::float8 AS "minY", max(ky)::float8 AS "maxY",
            min(w) AS west, min(s) AS south, max(e) AS east, max(n) AS north
     FROM keyed GROUP BY stage, kind, kz ORDER BY stage, kind, kz`,
    [jobId],
  );
  return rows;
}

/** A range of tiles at one zoom: the viewport, in tile coordinates. */
export interface TileWindow {
  zoom: number;
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
}

export interface SpatialTaskRow {
  taskId: string;
  status: string;
  kind: 'tile' | 'bbox';
  kz: number;
  kx: number;
  ky: number;
  west: number | null;
  south: number | null;
  east: number | null;
  north: number | null;
}

/**
 * Each spatial task of a stage whose key tile is in the window, a page of
 * batches at a time (keyset on batch_index), so a job of any size streams.
 */
export async function dashboardSpatialTasks(
  db: Queryable,
  params: { jobId: string; stage: number; window: TileWindow; afterBatch: number; batches: number },
): Promise<{ rows: SpatialTaskRow[]; lastBatch: number | undefined }> {
  const { zoom, minX, maxX, minY, maxY } = params.window;
  const pages = await db.query<{ last: number | null }>(
    `SELECT max(batch_index) AS last FROM (
       SELECT batch_index FROM batches WHERE job_id = $1 AND stage = $2 AND batch_index > $3 ORDER BY batch_index LIMIT $4
     ) page`,
    [params.jobId, params.stage, params.afterBatch, params.batches],
  );
  const last = pages.rows[0]?.last ?? null;
  if (last === null) return { rows: [], lastBatch: undefined };
  const { rows } = await db.query<SpatialTaskRow>(
    `WITH src AS (
       SELECT t.task_id, geo_task_status(t.status, b.status) AS status, b.stage, t.parameters AS p
       FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
       WHERE b.job_id = $1 AND b.stage = $2 AND b.batch_index > $3 AND b.batch_index <= $4
     ),
     ${KEYED}
     SELECT task_id AS "taskId", status, kind, kz, kx::float8 AS kx, ky::float8 AS ky, w AS west, s AS south, e AS east, n AS north
     FROM keyed
     WHERE kx BETWEEN ($6::bigint >> ($5 - kz)) AND ($7::bigint >> ($5 - kz))
       AND ky BETWEEN ($8::bigint >> ($5 - kz)) AND ($9::bigint >> ($5 - kz))
     ORDER BY task_id`,
    [params.jobId, params.stage, params.afterBatch, last, zoom, minX, maxX, minY, maxY],
  );
  return { rows, lastBatch: last };
}

export interface SpatialCellRow extends Omit<SpatialTaskRow, 'taskId'> {
  /** Set for tasks drawn one by one (key zoom at or below the window's); null for a cell of several. */
  taskId: string | null;
  /** How many tasks the cell holds (1 for a task drawn on its own). */
  tasks: number;
  counts: TaskStatusCounts;
}

/**
 * The spatial tasks of a stage in the window, aggregated to the window's
 * zoom: a task whose key tile is as coarse as the window or coarser stays
 * itself; finer ones are counted per cell of the window's zoom. One pass over
 * the stage's tasks, one row per cell.
 */
export async function dashboardSpatialCells(
  db: Queryable,
  params: { jobId: string; stage: number; window: TileWindow },
): Promise<SpatialCellRow[]> {
  const { zoom, minX, maxX, minY, maxY } = params.window;
  const { rows } = await db.query<Omit<SpatialCellRow, 'counts'> & TaskStatusCounts>(
    `WITH src AS (
       SELECT t.task_id, geo_task_status(t.status, b.status) AS status, b.stage, t.parameters AS p
       FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
       WHERE b.job_id = $1 AND b.stage = $2
     ),
     ${KEYED}
     SELECT task_id AS "taskId", status, kind, kz, kx::float8 AS kx, ky::float8 AS ky, w AS west, s AS south, e AS east, n AS north,
            1 AS tasks,
            (status = 'pending_queue')::int AS pending_queue, (status = 'queued')::int AS queued,
            (status = 'processing')::int AS processing, (status = 'completed')::int AS completed, (status = 'failed')::int AS failed
     FROM keyed
     WHERE kz <= $3
       AND kx BETWEEN ($4::bigint >> ($3 - kz)) AND ($5::bigint >> ($3 - kz))
       AND ky BETWEEN ($6::bigint >> ($3 - kz)) AND ($7::bigint >> ($3 - kz))
     UNION ALL
     SELECT NULL, NULL, 'tile', $3, (kx >> (kz - $3))::float8, (ky >> (kz - $3))::float8, NULL, NULL, NULL, NULL,
            count(*)::int,
            count(*) FILTER (WHERE status = 'pending_queue')::int, count(*) FILTER (WHERE status = 'queued')::int,
            count(*) FILTER (WHERE status = 'processing')::int, count(*) FILTER (WHERE status = 'completed')::int,
            count(*) FILTER (WHERE status = 'failed')::int
     FROM keyed
     WHERE kz > $3
       AND (kx >> (kz - $3)) BETWEEN $4 AND $5
       AND (ky >> (kz - $3)) BETWEEN $6 AND $7
     GROUP BY kx >> (kz - $3), ky >> (kz - $3)`,
    [params.jobId, params.stage, zoom, minX, maxX, minY, maxY],
  );
  return rows.map(({ pending_queue, queued, processing, completed, failed, ...cell }) => ({
    ...cell,
    counts: { pending_queue, queued, processing, completed, failed },
  }));
}
