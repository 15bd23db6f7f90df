import type { Pool } from './pool.js';

/**
 * The channels the dashboard follows, each with payload `<jobId>:<stage>`
 * except `geo_job_changed` (`<jobId>`):
 * - `geo_progress`: tasks of a stage finished (sent by the completion side,
 *   at most about once a second per stage);
 * - `geo_stage_completed`: a stage finished (geo_stage_finish, migrations/005);
 * - `geo_stage_changed`: a stage was created or changed status (migrations/008);
 * - `geo_job_changed`: a job was created or changed status (migrations/008).
 */
export const DASHBOARD_CHANNELS = ['geo_progress', 'geo_stage_completed', 'geo_stage_changed', 'geo_job_changed'] as const;
export type DashboardChannel = (typeof DASHBOARD_CHANNELS)[number];

export interface ChangeNotification {
  channel: DashboardChannel;
  jobId: string;
  /** Absent for job-level changes. */
  stage?: number;
}

export interface ChangeListener {
  close(): Promise<void>;
}

/**
 * LISTENs on the dashboard's channels on one connection of its own, held
 * for the listener's life (a pooled connection handed to someone else would
 * drop the LISTEN). A lost connection is reported once through `onError`;
 * the caller opens a new listener.
 */
export async function changesListen(
  pool: Pool,
  onChange: (change: ChangeNotification) => void,
  onError: (err: Error) => void,
): Promise<ChangeListener> {
  const client = await pool.connect();
  let failed: Error | undefined;
  client.on('notification', (n) => {
    const change = parseNotification(n.channel, n.payload);
    if (change) onChange(change);
  });
  client.on('error', (err) => {
    if (failed) return;
    failed = err;
    onError(err);
  });
  try {
    // Channel names are this module's constants, not input: LISTEN takes no parameters.
    for (const channel of DASHBOARD_CHANNELS) await client.query(`LISTEN ${channel}`);
  } catch (err) {
    client.release(true);
    throw err;
  }
  return {
    async close() {
      // Destroyed, not returned: a pooled connection must not keep listening.
      client.release(failed ?? true);
    },
  };
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
