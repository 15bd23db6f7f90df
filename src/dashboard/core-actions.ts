import type { Pool } from '../store/pool.js';
import type { DashboardActions } from './actions.js';

/**
 * The job actions the core has, for `geo dashboard --allow-actions`. None
 * yet: cancel, pause, resume and retry-failed come with their commands
 * (issue 18), and each is connected here as `name: (request) => coreFunction(db, request)`
 * returning that command's `--json` document. Until then the page shows no
 * action control, with or without --allow-actions.
 */
export function coreActions(_db: Pool): DashboardActions {
  return {};
}
