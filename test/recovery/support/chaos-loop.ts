import { sleep, waitFor } from '../../support/wait.js';
import type { ChaosWorkers } from './chaos-workers.js';

/** How often a kill that found no worker holding tasks looks again. */
const KILL_LOOK_MS = 100;
/** How long the first workers may take to start before the chaos fails. */
const START_DEADLINE_MS = 180_000;

/**
 * The chaos: starts `count` workers and, once they all registered their
 * sessions, keeps them running for `seconds`, SIGKILLing one
 * every `killEveryMs` (a share `anyState` of the kills aimed at any started
 * worker, the rest at one holding tasks) and starting a fresh one, while `topUp`
 * keeps jobs coming (called every second until `topUpUntilLeftMs` before the
 * end). When the time is up before `enough` holds (on a loaded machine
 * workers spend much of their short lives starting), it goes on until it
 * does, for at most twice `seconds` more. Every worker still running at the end is
 * SIGKILLed too, also when the chaos fails. The cadences are the workload,
 * not a synchronisation. Returns how long it lasted, in seconds.
 */
export async function runChaos(params: {
  workers: ChaosWorkers;
  count: number;
  seconds: number;
  random: () => number;
  killEveryMs: { min: number; max: number };
  anyState: number;
  topUp: () => Promise<void>;
  topUpUntilLeftMs: number;
  enough: () => boolean;
}): Promise<number> {
  const { workers, random } = params;
  let startedAt = Date.now();
  let endAt = startedAt + params.seconds * 1000;
  const going = () => Date.now() < endAt || (!params.enough() && Date.now() < endAt + 2 * params.seconds * 1000);
  let killing = true;
  try {
    for (let i = 0; i < params.count; i++) workers.start();
    // The clock starts once the workers run: on a loaded machine starting
    // takes them longer than a short chaos lasts.
    await waitFor(
      'the chaos workers to start',
      async () => {
        // One that gave up on a broker too busy to answer (exit 3) is replaced.
        while (workers.count < params.count) workers.start();
        return (await workers.registered()) >= params.count ? true : undefined;
      },
      { timeoutMs: START_DEADLINE_MS, intervalMs: 200 },
    );
    startedAt = Date.now();
    endAt = startedAt + params.seconds * 1000;
    const submitting = (async () => {
      while (killing) {
        if (Date.now() + params.topUpUntilLeftMs < endAt || !params.enough()) await params.topUp();
        await sleep(1_000);
      }
    })().then(
      () => undefined,
      (err: unknown) => err,
    );
    while (going()) {
      // The chaos runs on a clock: time between kills is the point.
      await sleep(params.killEveryMs.min + random() * (params.killEveryMs.max - params.killEveryMs.min));
      const anyState = random() < params.anyState;
      // A broker worker holds tasks only moments at a time (it mostly waits
      // on the broker): when none holds any, look again shortly, within the slot.
      const lookUntil = Date.now() + params.killEveryMs.min;
      while (!(await workers.killOne((n) => Math.floor(random() * n), anyState)) && Date.now() < lookUntil) await sleep(KILL_LOOK_MS);
      // A worker that ended on its own (recorded) is replaced too, so the chaos goes on.
      while (workers.count < params.count) workers.start();
    }
    killing = false;
    const submitError = await submitting;
    if (submitError) throw submitError;
  } finally {
    killing = false;
    await workers.killAll();
  }
  return (Date.now() - startedAt) / 1000;
}
