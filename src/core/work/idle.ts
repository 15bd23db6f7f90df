import { jobsNotServed, type TaskHolder, tasksHolders, tasksRemaining, type UnservedJob } from '../../store/holders.js';
import type { Queryable } from '../../store/pool.js';
import { stageCompletionsCountOpen } from '../../store/stage-completions.js';
import { jobTypeNames } from '../job-types/registry.js';

/** Whether a quiet worker may stop (--until-idle), and whose tasks it leaves behind. */
export interface IdleVerdict {
  idle: boolean;
  /** Tasks held under leases no live geo session vouches for: the job waits for them; the worker exits 1. */
  heldByOthers: TaskHolder[];
  /** Running jobs of job types this worker has no module for: they wait for a worker that has; the worker exits 1. */
  notServed: UnservedJob[];
}

/**
 * Decides, once nothing arrived for a while and nothing is in flight here,
 * whether the work this worker serves is done. It is not while a finished
 * stage waits to be advanced (its next stage's tasks are coming), while
 * retries wait out their delay, while tasks are ready in the local queue, or
 * while another live geo worker runs tasks (they may fail and run again, or
 * finish a stage). Tasks held by workers that are not geo cannot be waited
 * for with certainty: they are reported, and the worker stops.
 */
export async function judgeIdle(params: {
  db: Queryable;
  /** The transport served; its tasks are what is counted. */
  transport: string;
  /** Whether its task rows are its messages: then a ready row will be claimed by the next receive. */
  tasksAreMessages: boolean;
  jobTypes: readonly string[];
  /** This worker's own name: its claims are not others'. */
  worker: string;
}): Promise<IdleVerdict> {
  const { db, transport } = params;
  const [openStages, remaining, holders, notServed] = await Promise.all([
    stageCompletionsCountOpen({ db }),
    tasksRemaining(db, { transport, jobTypes: params.jobTypes }),
    tasksHolders(db, { transport }),
    jobsNotServed(db, { transport, jobTypes: params.jobTypes }),
  ]);
  const others = holders.filter((h) => h.worker !== params.worker);
  const busyGeoWorkers = others.some((h) => h.session !== null);
  const waiting = openStages > 0 || remaining.waiting > 0 || remaining.unsent > 0 || (params.tasksAreMessages && remaining.ready > 0);
  if (waiting || busyGeoWorkers) return { idle: false, heldByOthers: [], notServed: [] };
  return { idle: true, heldByOthers: others.filter((h) => h.session === null), notServed };
}

/**
 * The --until-idle check a worker's pipeline asks when it is quiet: true once
 * nothing arrived for `idleMs` (nor was a stage advanced) and judgeIdle finds
 * the work done. Keeps the last verdict for the run's summary.
 */
export class IdleWatch {
  verdict: IdleVerdict = { idle: false, heldByOthers: [], notServed: [] };

  constructor(
    private readonly params: {
      db: Queryable;
      untilIdle: boolean;
      idleMs: number;
      transport: string;
      tasksAreMessages: boolean;
      worker: string;
      /** Whether a stage advancement is under way, and when the last one ended. */
      advancer: { readonly busy: boolean; readonly lastAdvancedAt: number };
    },
  ) {}

  /** Whether the work is done, after nothing arrived since `quietSince`. */
  async check(quietSince: number): Promise<boolean> {
    const { params } = this;
    const { advancer } = params;
    if (!params.untilIdle || advancer.busy) return false;
    if (Date.now() - Math.max(quietSince, advancer.lastAdvancedAt) < params.idleMs) return false;
    this.verdict = await judgeIdle({
      db: params.db,
      transport: params.transport,
      tasksAreMessages: params.tasksAreMessages,
      jobTypes: jobTypeNames(),
      worker: params.worker,
    });
    return this.verdict.idle;
  }
}
