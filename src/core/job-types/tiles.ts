import { z } from 'zod';
import { defineJobType } from './define.js';
import { integer } from './fields.js';
import { MAX_TASKS } from './hello-world.js';
import { type BoundingBox, BoundsUnion, MAX_ZOOM, type Tile, tileBounds, tileCount, tilesCovering } from './tiles-math.js';

const BBOX_FORM = 'minLon,minLat,maxLon,maxLat in degrees, e.g. 5.9,45.8,10.5,47.8';
const DECIMAL = /^-?(\d+(\.\d+)?|\.\d+)$/;
const CORNERS = [
  ['minLon', 180],
  ['minLat', 90],
  ['maxLon', 180],
  ['maxLat', 90],
] as const;

/**
 * `--param bbox=...` as text, or the [minLon, minLat, maxLon, maxLat] array
 * it is stored as (the stored form is parsed again when the job resumes).
 */
const bbox = z
  .union([z.string(), z.array(z.unknown())])
  .transform((value, ctx): BoundingBox => {
    const parts = typeof value === 'string' ? value.split(',').map((p) => p.trim()) : value;
    const numbers = parts.map((p) => (typeof p === 'number' ? p : typeof p === 'string' && DECIMAL.test(p) ? Number(p) : NaN));
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (numbers.length !== 4 || numbers.some((n) => !Number.isFinite(n))) return fail(`must be ${BBOX_FORM} (got ${JSON.stringify(value)})`);
    for (const [i, [name, limit]] of CORNERS.entries()) {
      if (Math.abs(numbers[i]!) > limit) return fail(`${name} must be between -${limit} and ${limit} (got ${numbers[i]})`);
    }
    const [west, south, east, north] = numbers as BoundingBox;
    if (west >= east) return fail('minLon must be less than maxLon (for a box across the antimeridian, submit one job per side)');
    if (south >= north) return fail('minLat must be less than maxLat');
    return [west, south, east, north];
  })
  .meta({ type: 'string', description: BBOX_FORM });

const params = z
  .object({
    bbox: bbox.optional(),
    zoom: integer({ min: 0, max: MAX_ZOOM, description: 'zoom level of the tiles covering bbox' }).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if ((p.bbox === undefined) !== (p.zoom === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [p.bbox === undefined ? 'bbox' : 'zoom'],
        message: 'bbox and zoom go together: --param bbox=minLon,minLat,maxLon,maxLat --param zoom=Z',
      });
    } else if (p.bbox && p.zoom !== undefined && tileCount(p.bbox, p.zoom) > MAX_TASKS) {
      const count = tileCount(p.bbox, p.zoom).toLocaleString('en-US');
      ctx.addIssue({
        code: 'custom',
        path: ['zoom'],
        message: `the box has ${count} tiles at zoom ${p.zoom}; at most ${MAX_TASKS.toLocaleString('en-US')} per job`,
      });
    }
  });

/** An XYZ tile: 0 <= z <= 24, 0 <= x, y < 2^z. */
export const tileSchema = z
  .object({
    z: integer({ min: 0, max: MAX_ZOOM, description: 'zoom level' }),
    x: integer({ min: 0, description: 'column, 0 <= x < 2^z' }),
    y: integer({ min: 0, description: 'row from the north, 0 <= y < 2^z' }),
  })
  .strict()
  .superRefine((tile, ctx) => {
    const size = 2 ** tile.z;
    for (const axis of ['x', 'y'] as const) {
      if (tile[axis] >= size) {
        ctx.addIssue({
          code: 'custom',
          path: [axis],
          message: `must be less than 2^z = ${size.toLocaleString('en-US')} at zoom ${tile.z} (got ${tile[axis]})`,
        });
      }
    }
  });

/** The built-in geospatial job type: the WGS84 bounds of XYZ tiles, from a file or a bounding box. */
export const tiles = defineJobType({
  name: 'tiles',
  description: 'the WGS84 bounds of XYZ tiles, from --input (z,x,y) or every tile covering --param bbox at --param zoom',
  params,
  items: {
    schema: tileSchema,
    key: (t: Tile) => `tile-${t.z}-${t.x}-${t.y}`,
    paramsHint: '--param bbox=minLon,minLat,maxLon,maxLat --param zoom=Z',
    fromParams: (p) => (p.bbox && p.zoom !== undefined ? { count: tileCount(p.bbox, p.zoom), items: () => tilesCovering(p.bbox!, p.zoom!) } : undefined),
  },
  stages: [
    {
      from: 'items',
      name: 'tile',
      handler: (p) => tileBounds({ z: Number(p.z), x: Number(p.x), y: Number(p.y) }),
    },
  ],
  async result(_params, inputs) {
    const union = new BoundsUnion();
    for await (const task of inputs.results()) {
      if (task.status === 'completed' && task.result) union.add(task.result as { west: number; south: number; east: number; north: number });
    }
    return union.toJSON();
  },
});
