// A job-type module: satellite scene footprints and the map tiles they touch.
//   geo --job-types examples/scenes.mjs submit scene_footprints --input examples/scenes.csv
// See docs/job-types.md.
import { defineJobType, integer, number, tilesCovering, z } from 'geo/job-types';

const KM_PER_DEGREE = 111.32;

export const sceneFootprints = defineJobType({
  name: 'scene_footprints',
  description: 'the footprint of each scene (stage 1), then the tiles each footprint covers at a zoom level (stage 2)',
  params: z
    .object({
      zoom: integer({ min: 0, max: 16, description: 'zoom level of the tiles of stage 2' }).default(10),
    })
    .strict(),
  items: {
    schema: z
      .object({
        scene_id: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/, { error: 'must be letters, digits, _ . or - (at most 80)' }),
        lon: number({ min: -180, max: 180, description: 'centre longitude, degrees' }),
        lat: number({ min: -80, max: 80, description: 'centre latitude, degrees' }),
        size_km: number({ min: 0.1, max: 500, description: 'side of the square footprint' }),
        sensor: z.string().optional(),
      })
      .strict(),
    key: (scene) => `scene-${scene.scene_id}`,
  },
  stages: [
    {
      from: 'items',
      name: 'footprint',
      // Without `task`, the item itself would be the task's parameters.
      task: (scene) => ({ sceneId: scene.scene_id, lon: scene.lon, lat: scene.lat, sizeKm: scene.size_km }),
      handler(p) {
        const halfLat = p.sizeKm / 2 / KM_PER_DEGREE;
        const halfLon = halfLat / Math.cos((p.lat * Math.PI) / 180);
        return {
          sceneId: p.sceneId,
          west: p.lon - halfLon,
          south: p.lat - halfLat,
          east: p.lon + halfLon,
          north: p.lat + halfLat,
          areaKm2: p.sizeKm * p.sizeKm,
        };
      },
      retry: { maxRetries: 2, baseMs: 1_000 },
    },
    {
      from: 'results',
      name: 'covering_tiles',
      // One task per footprint; a failed footprint gives a task that reports nothing to cover.
      task: (footprint, params) => ({ footprint: footprint.result, zoom: params.zoom }),
      handler(p) {
        if (!p.footprint) return { sceneId: null, tiles: [] };
        const { west, south, east, north, sceneId } = p.footprint;
        const tiles = [...tilesCovering([west, south, east, north], p.zoom)].map((t) => `${t.z}/${t.x}/${t.y}`);
        return { sceneId, tiles };
      },
      acceptPartial: true,
    },
  ],
  async result(_params, inputs) {
    let scenes = 0;
    let areaKm2 = 0;
    for await (const task of inputs.results(1)) {
      if (task.status !== 'completed') continue;
      scenes++;
      areaKm2 += task.result.areaKm2;
    }
    return { scenes, areaKm2 };
  },
});
