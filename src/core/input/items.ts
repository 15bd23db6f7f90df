import type { StageItems } from '../job-types/stage-inputs.js';
import type { InputScan } from './scan.js';

/**
 * Pass two: the accepted items again, in order, from the first pass's spool
 * (canonical JSON, already validated), streamed into the stage's task
 * builder as dispatch consumes them.
 */
export function inputItems(scan: InputScan): StageItems {
  return { count: scan.items, items: () => scan.spool.items() };
}
