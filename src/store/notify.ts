import type { Pool } from './pool.js';

/** The channel geo_stage_finish notifies (migrations/005), payload `<jobId>:<stage>`. */
const STAGE_COMPLETED = 'geo_stage_completed';

export interface Listener {
  close(): Promise<void>;
}

/**
 * LISTENs for finished stages on a connection of its own, taken from the
 * pool for as long as the listener lives (a pooled query connection would
 * drop the LISTEN when it is handed to someone else). A lost connection is
 * reported once through `onError`; notifications then stop, so callers keep
 * a timer as a backstop.
 */
export async function stageCompletionsListen(
  pool: Pool,
  onStageCompleted: (jobId: string, stage: number) => void,
  onError: (err: Error) => void,
): Promise<Listener> {
  const client = await pool.connect();
  let failed: Error | undefined;
  client.on('notification', (n) => {
    if (n.channel !== STAGE_COMPLETED || !n.payload) return;
    const at = n.payload.lastIndexOf(':');
    onStageCompleted(n.payload.slice(0, at), Number(n.payload.slice(at + 1)));
  });
  client.on('error', (err) => {
    if (failed) return;
    failed = err;
    onError(err);
  });
  try {
    await client.query(`LISTEN ${STAGE_COMPLETED}`);
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
