import { describe, expect, it } from 'vitest';
import { BoundsUnion, MAX_LATITUDE, tileAt, tileBounds, tileCount, tilesCovering } from '../../../src/core/job-types/tiles-math.js';

// Reference values from mercantile's documentation (the Python library most tile tools follow).
describe('Web Mercator tile math', () => {
  it('gives the bounds of a tile as mercantile does', () => {
    const b = tileBounds({ z: 10, x: 486, y: 332 });
    expect(b.west).toBeCloseTo(-9.140625, 12);
    expect(b.south).toBeCloseTo(53.12040528310657, 12);
    expect(b.east).toBeCloseTo(-8.7890625, 12);
    expect(b.north).toBeCloseTo(53.33087298301705, 12);
  });

  it('spans the whole Web Mercator world with tile 0/0/0', () => {
    const b = tileBounds({ z: 0, x: 0, y: 0 });
    expect([b.west, b.east]).toEqual([-180, 180]);
    expect(b.north).toBeCloseTo(MAX_LATITUDE, 12);
    expect(b.south).toBeCloseTo(-MAX_LATITUDE, 12);
  });

  it('splits zoom 1 at the prime meridian and the equator', () => {
    const b = tileBounds({ z: 1, x: 1, y: 1 });
    expect(b.west).toBe(0);
    expect(b.north).toBeCloseTo(0, 12);
    expect(b.east).toBe(180);
  });

  it('finds the tile of a point', () => {
    expect(tileAt(-105, 40, 1)).toEqual({ z: 1, x: 0, y: 0 });
    expect(tileAt(180, -90, 3)).toEqual({ z: 3, x: 7, y: 7 });
  });

  it('lists the tiles covering a box, not those that only touch its edges', () => {
    expect([...tilesCovering([-105, 39.99, -104.99, 40], 14)]).toEqual([
      { z: 14, x: 3413, y: 6202 },
      { z: 14, x: 3413, y: 6203 },
    ]);
    // East edge on a tile boundary: zoom 2 tiles start at -180, -90, 0, 90.
    expect([...tilesCovering([0, 0, 90, 45], 2)].map((t) => t.x)).toEqual([2]);
    expect(tileCount([-180, -MAX_LATITUDE, 180, MAX_LATITUDE], 2)).toBe(16);
  });

  it('maps every tile centre back to its tile at several zooms', () => {
    for (const z of [0, 3, 12, 24]) {
      for (const [x, y] of [
        [0, 0],
        [2 ** z - 1, 2 ** z - 1],
        [Math.floor(2 ** z / 3), Math.floor(2 ** z / 5)],
      ]) {
        const b = tileBounds({ z, x: x!, y: y! });
        expect(tileAt((b.west + b.east) / 2, (b.south + b.north) / 2, z)).toEqual({ z, x, y });
      }
    }
  });

  it('folds bounds into their union and counts them', () => {
    const union = new BoundsUnion();
    expect(union.toJSON()).toEqual({ tiles: 0, west: null, south: null, east: null, north: null });
    union.add(tileBounds({ z: 1, x: 0, y: 0 }));
    union.add(tileBounds({ z: 1, x: 1, y: 1 }));
    const json = union.toJSON();
    expect(json.tiles).toBe(2);
    expect([json.west, json.east]).toEqual([-180, 180]);
    expect(json.north).toBeCloseTo(MAX_LATITUDE, 12);
    expect(json.south).toBeCloseTo(-MAX_LATITUDE, 12);
  });
});
