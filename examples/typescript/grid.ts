// A job type in TypeScript: compile it (tsc -p examples/typescript) and load the .js:
//   geo --job-types examples/typescript/dist/grid.js submit grid_cells --param step=0.5 --param bbox=5,45,6,46
import { defineJobType, integer, number, PermanentTaskError, type TaskContext, z } from 'geo/job-types';

const params = z
  .object({
    bbox: z
      .string()
      .regex(/^-?[\d.]+,-?[\d.]+,-?[\d.]+,-?[\d.]+$/, { error: 'must be minLon,minLat,maxLon,maxLat' })
      .describe('minLon,minLat,maxLon,maxLat'),
    step: number({ min: 0.01, max: 10, description: 'cell size in degrees' }),
    limit: integer({ min: 1, max: 1_000_000 }).default(10_000),
  })
  .strict();

type GridParams = z.infer<typeof params>;

function cells(p: GridParams): Array<{ col: number; row: number; lon: number; lat: number }> {
  const [west, south, east, north] = p.bbox.split(',').map(Number) as [number, number, number, number];
  const out = [];
  for (let col = 0; west + col * p.step < east; col++) {
    for (let row = 0; south + row * p.step < north; row++) out.push({ col, row, lon: west + col * p.step, lat: south + row * p.step });
  }
  return out.slice(0, p.limit);
}

export const gridCells = defineJobType({
  name: 'grid_cells',
  description: 'a regular grid of cells over a box, one task per cell',
  params,
  stages: [
    {
      from: 'params',
      name: 'cell',
      count: (p) => cells(p).length,
      *tasks(p) {
        for (const c of cells(p)) yield { key: `cell-${c.col}-${c.row}`, parameters: { lon: c.lon, lat: c.lat, step: p.step } };
      },
      handler(parameters: Record<string, unknown>, context: TaskContext) {
        const { lon, lat, step } = parameters as { lon: number; lat: number; step: number };
        if (!Number.isFinite(lon)) throw new PermanentTaskError(`task ${context.taskId} has no longitude`);
        return { west: lon, south: lat, east: lon + step, north: lat + step };
      },
    },
  ],
});
