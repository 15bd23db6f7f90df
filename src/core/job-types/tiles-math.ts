/** XYZ ("slippy map") tiles in Web Mercator (EPSG:3857), bounds in WGS84 degrees. */
export interface Tile {
  z: number;
  x: number;
  y: number;
}

export interface TileBounds extends Tile {
  west: number;
  south: number;
  east: number;
  north: number;
}

/** [minLon, minLat, maxLon, maxLat] in degrees. */
export type BoundingBox = [number, number, number, number];

export const MAX_ZOOM = 24;

/** Web Mercator's latitude limit: the square world ends here (atan(sinh(pi))). */
export const MAX_LATITUDE = 85.0511287798066;

/** How far inside the box's east and south edges a point is taken, so a tile that only touches the box is not counted (as mercantile does). */
const EDGE_EPSILON = 1e-11;

export function tileBounds({ z, x, y }: Tile): TileBounds {
  const n = 2 ** z;
  return { z, x, y, west: (x / n) * 360 - 180, south: latitudeOf(y + 1, n), east: ((x + 1) / n) * 360 - 180, north: latitudeOf(y, n) };
}

function latitudeOf(y: number, n: number): number {
  return (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;
}

/** The tile containing a point; points on the world's edges fall in the edge tiles. */
export function tileAt(lon: number, lat: number, z: number): Tile {
  const n = 2 ** z;
  const clampedLat = Math.max(-MAX_LATITUDE, Math.min(MAX_LATITUDE, lat));
  const rad = (clampedLat * Math.PI) / 180;
  const x = Math.floor(((lon + 180) / 360) * n);
  const y = Math.floor(((1 - Math.asinh(Math.tan(rad)) / Math.PI) / 2) * n);
  return { z, x: clamp(x, 0, n - 1), y: clamp(y, 0, n - 1) };
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}

/** The x and y ranges of the tiles at zoom z that cover the box (west < east, south < north). */
export function tileRange(box: BoundingBox, z: number): { minX: number; maxX: number; minY: number; maxY: number } {
  const [west, south, east, north] = box;
  const upperLeft = tileAt(west, north, z);
  const lowerRight = tileAt(east - EDGE_EPSILON, south + EDGE_EPSILON, z);
  return { minX: upperLeft.x, maxX: lowerRight.x, minY: upperLeft.y, maxY: lowerRight.y };
}

export function tileCount(box: BoundingBox, z: number): number {
  const r = tileRange(box, z);
  return (r.maxX - r.minX + 1) * (r.maxY - r.minY + 1);
}

/** Every tile covering the box, column by column (x, then y), computed as it is consumed. */
export function* tilesCovering(box: BoundingBox, z: number): Generator<Tile> {
  const r = tileRange(box, z);
  for (let x = r.minX; x <= r.maxX; x++) {
    for (let y = r.minY; y <= r.maxY; y++) yield { z, x, y };
  }
}

/** The union of tile bounds, folded one tile at a time. */
export class BoundsUnion {
  count = 0;
  west = Infinity;
  south = Infinity;
  east = -Infinity;
  north = -Infinity;

  add(b: Pick<TileBounds, 'west' | 'south' | 'east' | 'north'>): void {
    this.count++;
    this.west = Math.min(this.west, b.west);
    this.south = Math.min(this.south, b.south);
    this.east = Math.max(this.east, b.east);
    this.north = Math.max(this.north, b.north);
  }

  toJSON(): { tiles: number; west: number | null; south: number | null; east: number | null; north: number | null } {
    const empty = this.count === 0;
    return {
      tiles: this.count,
      west: empty ? null : this.west,
      south: empty ? null : this.south,
      east: empty ? null : this.east,
      north: empty ? null : this.north,
    };
  }
}
