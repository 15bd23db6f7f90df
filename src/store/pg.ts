import { createRequire } from 'node:module';
import type PgModule from 'pg';
import type * as ConnectionStringModule from 'pg-connection-string';

const require = createRequire(import.meta.url);

/**
 * The `pg` module, loaded for geo. On Node.js 20, which has no global
 * `navigator`, pg probes for the Cloudflare Workers runtime by constructing
 * a `Response`, and that first use loads Node's whole fetch implementation
 * (about 30 ms of CPU, a tenth of `geo status`'s start). Node.js 21 and later
 * define `navigator.userAgent` as "Node.js/<major>", which the probe reads
 * instead; geo lends pg the same value while it loads, then takes it back so
 * no other module sees it.
 */
function loadPg(): typeof PgModule {
  if ('navigator' in globalThis) return require('pg') as typeof PgModule;
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }, configurable: true });
  try {
    return require('pg') as typeof PgModule;
  } finally {
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}

const pg = loadPg();
export default pg;

/**
 * pg's own URL parser, the copy pg has loaded: importing the package as an
 * ES module would parse its CommonJS source again to find its exports.
 */
export const connectionString = require('pg-connection-string') as typeof ConnectionStringModule;
