import { CHANNELS, type Listener, listen } from './notify.js';
import type { Pool } from './pool.js';

/**
 * The channels the dashboard follows, each with payload `<jobId>:<stage>`
 * except `geo_job_changed` (`<jobId>`):
 * - `geo_progress`: tasks of a stage finished (geo_stage_finish, at most
 *   about once a second per stage, migrations/006);
 * - `geo_stage_completed`: a stage finished (geo_stage_finish);
 * - `geo_stage_changed`: a stage was created or changed status (migrations/008);
 * - `geo_job_changed`: a job was created, changed status, or was paused or resumed (migrations/008, 011).
 */
export const DASHBOARD_CHANNELS = [CHANNELS.progress, CHANNELS.stageCompleted, 'geo_stage_changed', CHANNELS.jobChanged] as const;
export type DashboardChannel = (typeof DASHBOARD_CHANNELS)[number];
export type { Listener as ChangeListener };

export interface ChangeNotification {
  channel: DashboardChannel;
  jobId: string;
  /** Absent for job-level changes. */
  stage?: number;
}

/**
 * LISTENs on the dashboard's channels (on a connection of its own, see
 * store/notify.ts). A lost connection is reported once through `onError`;
 * the caller opens a new listener.
 */
export function changesListen(pool: Pool, onChange: (change: ChangeNotification) => void, onError: (err: Error) => void): Promise<Listener> {
  const handlers = Object.fromEntries(
    DASHBOARD_CHANNELS.map((channel) => [
      channel,
      (payload: string) => {
        const change = parseNotification(channel, payload);
        if (change) onChange(change);
      },
    ]),
  );
  // listen() is typed for the worker's channels; it LISTENs on whichever keys it is given.
  return listen(pool, handlers as Parameters<typeof listen>[1], onError);
}

/** A notification as a change, or undefined for a channel or payload this module does not know. */
export function parseNotification(channel: string, payload: string | undefined): ChangeNotification | undefined {
  if (!(DASHBOARD_CHANNELS as readonly string[]).includes(channel) || !payload) return undefined;
  if (channel === 'geo_job_changed') return { channel, jobId: payload };
  const at = payload.lastIndexOf(':');
  const stage = Number(payload.slice(at + 1));
  if (at <= 0 || !Number.isInteger(stage)) return undefined;
  return { channel: channel as DashboardChannel, jobId: payload.slice(0, at), stage };
}
