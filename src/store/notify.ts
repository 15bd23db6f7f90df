import type { Pool } from './pool.js';

/** Channels the database notifies on (migrations/006). */
export const CHANNELS = {
  /** A stage finished; payload `<jobId>:<stage>`. */
  stageCompleted: 'geo_stage_completed',
  /** A task is owed a message (a retry, a release); payload `<jobId>`. */
  redeliveries: 'geo_redeliveries',
  /** Tasks of a stage finished (at most about once a second per stage); payload `<jobId>:<stage>`. */
  progress: 'geo_progress',
  /** A job was created, changed status, or was paused or resumed (migrations/008, 011); payload `<jobId>`. */
  jobChanged: 'geo_job_changed',
} as const;

export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

export interface Listener {
  close(): Promise<void>;
}

/**
 * LISTENs on `channels` on a connection of its own, taken from the pool for
 * as long as the listener lives (a pooled query connection would drop the
 * LISTEN when it is handed to someone else). A lost connection is reported
 * once through `onError`; notifications then stop, so callers keep a timer
 * as a backstop.
 */
export async function listen(pool: Pool, channels: Partial<Record<Channel, (payload: string) => void>>, onError: (err: Error) => void): Promise<Listener> {
  const client = await pool.connect();
  let failed: Error | undefined;
  client.on('notification', (n) => {
    const handler = channels[n.channel as Channel];
    if (handler) handler(n.payload ?? '');
  });
  client.on('error', (err) => {
    if (failed) return;
    failed = err;
    onError(err);
  });
  try {
    // One round trip; the names are the constants above, never input.
    await client.query(
      Object.keys(channels)
        .map((channel) => `LISTEN ${channel};`)
        .join(' '),
    );
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
