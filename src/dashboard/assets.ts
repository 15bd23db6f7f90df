import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
/** The page's own files: web/dashboard/ of the package (the same two levels up from src/ and dist/). */
const WEB = fileURLToPath(new URL('../../web/dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Every file the dashboard serves, by URL path: the page's own and the
 * libraries' from the installed packages (resolved at run time: nothing
 * from a CDN, so an offline machine gets the whole page). Only these paths
 * are served, so no request can name another file.
 */
function assetTable(): Map<string, string> {
  const own = ['index.html', 'style.css', 'app.js', 'api.js', 'format.js', 'jobs.js', 'job.js', 'map.js', 'chart.js', 'actions.js', 'favicon.svg'];
  const table = new Map<string, string>(own.map((name) => [`/assets/${name}`, WEB + name]));
  table.set('/assets/leaflet.js', require.resolve('leaflet/dist/leaflet.js'));
  table.set('/assets/leaflet.css', require.resolve('leaflet/dist/leaflet.css'));
  table.set('/assets/uPlot.js', require.resolve('uplot/dist/uPlot.iife.min.js'));
  table.set('/assets/uPlot.css', require.resolve('uplot/dist/uPlot.min.css'));
  table.set('/assets/topojson-client.js', require.resolve('topojson-client/dist/topojson-client.min.js'));
  table.set('/assets/land-110m.json', require.resolve('world-atlas/land-110m.json'));
  return table;
}

export interface Asset {
  body: Buffer;
  contentType: string;
}

/** Serves the asset table, each file read once and kept. */
export class Assets {
  private readonly files = assetTable();
  private readonly cache = new Map<string, Promise<Asset>>();

  /** The page (the same document for every page path: it routes itself). */
  page(): Promise<Asset> {
    return this.get('/assets/index.html')!;
  }

  get(path: string): Promise<Asset> | undefined {
    const file = this.files.get(path);
    if (!file) return undefined;
    let asset = this.cache.get(path);
    if (!asset) {
      asset = fs.readFile(file).then((body) => ({ body, contentType: TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' }));
      asset.catch(() => this.cache.delete(path));
      this.cache.set(path, asset);
    }
    return asset;
  }
}
