import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { taskStatusCounts } from '../support/submit.js';
import { waitFor } from '../support/wait.js';

const fixture = useServiceBusFixture();
const N = 5_000;

interface RetryDoc {
  claimedBatches: number;
  stillPending: number;
  reapedSessions: Array<{ command: string; pid: number }>;
  stages: Array<{ jobId: string; stage: number; finished: boolean; heldByLiveWriter: boolean }>;
}

/**
 * A submit that stops for good in the middle of a stage, its writer's lease
 * still live: retry-pending must see at once that the writer is gone (its
 * database session ended with it) and finish the stage, not leave it to a
 * "live writer" and exit 0.
 */
describe('a stage writer that died is seen dead at once (real binary, Service Bus peer)', () => {
  for (const how of ['SIGKILL', 'two Ctrl-C'] as const) {
    it(`after ${how} mid-stage, the next retry-pending finishes the stage and leaves nothing pending`, async () => {
      const { db, peer } = fixture;
      const queue = `dead-writer-${how === 'SIGKILL' ? 'kill' : 'int'}`;
      peer.createQueue(queue, { duplicateDetection: true });
      const env = serviceBusEnv(db, peer, queue);
      const name = `dead-writer-${how}`;
      const jobId = jobIdFor('hello_world', { n: N, name });
      // Stops for good once the fifth group of batches is written (step 1), before it is sent.
      const submit = startGeo(['submit', 'hello_world', '--n', String(N), '--param', `name=${name}`, '--concurrency', '1'], {
        ...env,
        GEO_TEST_PAUSE_AT: 'written:5',
      });
      let stderr = '';
      submit.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await waitFor('the submit to pause after writing', () => (/paused at written/.test(stderr) ? true : undefined), { timeoutMs: 30_000 });
      const { rows: before } = await db.pool.query(`SELECT status, claimed_until > now() AS live FROM stages WHERE job_id = $1 AND stage = 1`, [jobId]);
      // The phase the kill lands in: the stage half written under its writer's live lease.
      expect(before).toEqual([{ status: 'queuing', live: true }]);
      if (how === 'SIGKILL') {
        submit.child.kill('SIGKILL');
      } else {
        // Two signals sent back to back may reach the process as one (a pending
        // signal is not queued twice): the second goes once the first is seen.
        submit.child.kill('SIGINT');
        await waitFor('the submit to see the first Ctrl-C', () => (/stopping after the work in flight/.test(stderr) ? true : undefined), {
          timeoutMs: 30_000,
        });
        submit.child.kill('SIGINT');
      }
      const ended = await submit.done;
      expect(ended.signal ?? String(ended.code)).toBe(how === 'SIGKILL' ? 'SIGKILL' : 'SIGINT');

      const swept = await runGeo(['retry-pending', '--json'], env);
      expect(swept.code, swept.stderr).toBe(0);
      const doc = parseJsonOutput<RetryDoc>(swept);
      expect(doc.reapedSessions).toEqual([expect.objectContaining({ command: 'geo submit', pid: submit.child.pid })]);
      expect(doc.stages).toEqual([expect.objectContaining({ jobId, stage: 1, finished: true, heldByLiveWriter: false })]);
      expect(doc.stillPending).toBe(0);
      expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: N });
      const ids = peer.queue(queue).messageIds();
      expect(new Set(ids).size).toBe(N);
    }, 120_000);
  }
});
