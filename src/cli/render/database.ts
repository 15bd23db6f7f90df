import type { GeoConfig } from '../../config/index.js';
import { describeTarget } from '../../store/pool.js';

/**
 * `geo db status` describes the embedded server; with DATABASE_URL (or
 * --database-url) set, geo does not use it, and this says so, naming the
 * server in use without its password. Undefined when the embedded server is
 * the one in use.
 */
export function embeddedNotInUse(config: Pick<GeoConfig, 'databaseUrl'>): string | undefined {
  if (!config.databaseUrl) return undefined;
  return `geo: DATABASE_URL is set, so geo uses PostgreSQL at ${describeTarget(config.databaseUrl)}; the embedded server below is not in use`;
}
