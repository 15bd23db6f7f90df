// A job type whose tasks carry a bounding box instead of a tile: the dashboard maps those too.
// Loaded by `geo submit` in test/dashboard/api.test.ts through --job-types.
import { defineJobType, z } from 'geo/job-types';

export const boxesTest = defineJobType({
  name: 'boxes_test',
  description: 'test: one task per 1-degree box of a row starting at lon 10, lat 45',
  params: z.object({ n: z.coerce.number().int().min(1).max(1000) }).strict(),
  stages: [
    {
      from: 'params',
      name: 'box',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `box-${i}`, parameters: { bbox: [10 + i, 45, 11 + i, 46], label: `box ${i}` } };
      },
      handler: (p) => ({ area: 1, label: p.label }),
    },
  ],
});
