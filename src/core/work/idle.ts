import type { Destination } from '../../config/destinations.js';
import { type AwaitingJob, jobsAwaiting, jobsNotServed, type TaskHolder, tasksHolders, tasksRemaining, type UnservedJob } from '../../store/holders.js';
import type { Queryable } from '../../store/pool.js';
import { sessionsCountDead } from '../../store/sessions.js';
import { stageCompletionsCountOpen } from '../../store/stage-completions.js';
import { jobTypeNames } from '../job-types/registry.js';

/** Whether a quiet worker may stop (--until-idle), and what it leaves behind. */
export interface IdleVerdict {
  idle: boolean;
  /** Tasks held under leases no live geo session vouches for: the job waits for them; the worker exits 1. */
  heldByOthers: TaskHolder[];
  /** Running jobs of job types this worker has no module for: they wait for a worker that has; the worker exits 1. */
  notServed: UnservedJob[];
  /** Tasks whose message did not come within the wait (IdleWatch): they are left; the worker exits 1. */
  unreceived: AwaitingJob[];
}

/** What judgeIdle found: whether anything keeps the worker for certain, and the tasks that may still get a message. */
export interface IdleFindings {
  /**
   * A stage waits to be advanced, retries wait out their delay, something is unsent or ready in the
   * local queue, another live geo worker runs tasks, or a geo process died and the sweep has yet to
   * free what it held.
   */
  busy: boolean;
  /** Tasks not finished, not held under a live lease and not waiting out a retry: their message may still come. */
  awaiting: AwaitingJob[];
  heldByOthers: TaskHolder[];
  notServed: UnservedJob[];
}

/**
 * Looks, once nothing arrived for a while and nothing is in flight here, at
 * what is left of the work this worker serves. It is busy while a finished
 * stage waits to be advanced (its next stage's tasks are coming), while
 * retries wait out their delay, while tasks are ready in the local queue,
 * while another live geo worker runs tasks (they may fail and run again, or
 * finish a stage), and while a geo process that died is not yet reaped: its
 * claims look like those of a worker that is not geo until the sweep (every
 * few seconds in each worker) frees them and owes their tasks a message.
 * Tasks of open stages that none of those explain still wait for a receive
 * (`awaiting`): on a broker their message may be hidden for now (a receive
 * that lost it or gave it up, a lock not yet expired, a redelivery just
 * sent), and a lapsed claim is put back by the sweep.
 * Tasks held by workers that are not geo cannot be waited for with
 * certainty: they are reported.
 */
export async function judgeIdle(params: {
  db: Queryable;
  /** The transport served; its tasks are what is counted. */
  transport: string;
  /** Whether its task rows are its messages: then a ready row will be claimed by the next receive. */
  tasksAreMessages: boolean;
  /**
   * The queue this worker receives from: tasks of the jobs sent there that wait for a receive count.
   * Absent for an --advance-only worker, which leaves them to others.
   */
  awaiting?: Destination;
  jobTypes: readonly string[];
  /** This worker's own name: its claims are not others'. */
  worker: string;
}): Promise<IdleFindings> {
  const { db, transport, jobTypes } = params;
  const [openStages, remaining, holders, notServed, awaiting, deadSessions] = await Promise.all([
    stageCompletionsCountOpen({ db }),
    tasksRemaining(db, { transport, jobTypes }),
    tasksHolders(db, { transport }),
    jobsNotServed(db, { transport, jobTypes }),
    params.awaiting ? jobsAwaiting(db, { destination: params.awaiting, jobTypes }) : [],
    sessionsCountDead(db),
  ]);
  const others = holders.filter((h) => h.worker !== params.worker);
  const busyGeoWorkers = others.some((h) => h.session !== null);
  const waiting = openStages > 0 || remaining.waiting > 0 || remaining.unsent > 0 || (params.tasksAreMessages && remaining.ready > 0);
  return { busy: waiting || busyGeoWorkers || deadSessions > 0, awaiting, heldByOthers: others.filter((h) => h.session === null), notServed };
}

/** The verdict while the worker goes on: nothing is left behind yet. */
const NOT_IDLE: IdleVerdict = { idle: false, heldByOthers: [], notServed: [], unreceived: [] };

/** What the pipeline tells the idle check. */
export interface Quiet {
  /** When the last delivery arrived. */
  since: number;
  /** The longest a message this worker received stayed locked (hidden) from its receive: how long a lost one may stay away. */
  longestLockMs: number;
}

/**
 * The --until-idle check a worker's pipeline asks when it is quiet: true once
 * nothing arrived for `idleMs` (nor was a stage advanced) and judgeIdle finds
 * nothing that keeps the worker. Tasks that wait for a receive keep it until
 * what is left has not changed, with nothing arriving, for the longest a lost
 * message stays hidden (the lease, or the longest lock it received a message
 * with) plus `idleMs` to receive it: then their messages are taken to be gone,
 * and the verdict names them. Keeps the last verdict for the run's summary.
 */
export class IdleWatch {
  verdict: IdleVerdict = NOT_IDLE;
  /** The tasks found waiting for a receive, and since when unchanged with nothing arriving. */
  private awaited: { key: string; since: number } | undefined;

  constructor(
    private readonly params: {
      db: Queryable;
      untilIdle: boolean;
      idleMs: number;
      leaseSeconds: number;
      transport: string;
      tasksAreMessages: boolean;
      awaiting?: Destination;
      worker: string;
      /** Whether a stage advancement is under way, and when the last one ended. */
      advancer: { readonly busy: boolean; readonly lastAdvancedAt: number };
    },
  ) {}

  /** Whether the work is done, after nothing arrived since `quiet.since`. */
  async check(quiet: Quiet): Promise<boolean> {
    const { params } = this;
    const { advancer } = params;
    if (!params.untilIdle || advancer.busy) return false;
    const quietSince = Math.max(quiet.since, advancer.lastAdvancedAt);
    if (Date.now() - quietSince < params.idleMs) return false;
    const found = await judgeIdle({
      db: params.db,
      transport: params.transport,
      tasksAreMessages: params.tasksAreMessages,
      awaiting: params.awaiting,
      jobTypes: jobTypeNames(),
      worker: params.worker,
    });
    const settled = { heldByOthers: found.heldByOthers, notServed: found.notServed };
    if (found.busy || found.awaiting.length === 0) {
      this.awaited = undefined;
      this.verdict = found.busy ? NOT_IDLE : { idle: true, ...settled, unreceived: [] };
      return this.verdict.idle;
    }
    const now = Date.now();
    const key = JSON.stringify(found.awaiting);
    if (this.awaited?.key !== key || this.awaited.since < quietSince) this.awaited = { key, since: now };
    const waitMs = Math.max(params.leaseSeconds * 1000, quiet.longestLockMs) + params.idleMs;
    this.verdict = now - this.awaited.since >= waitMs ? { idle: true, ...settled, unreceived: found.awaiting } : NOT_IDLE;
    return this.verdict.idle;
  }
}
