import { describe, expect, it } from 'vitest';
import type { TransportName } from '../../src/config/index.js';
import { type CliResult, parseJsonOutput, runGeo } from '../support/cli.js';
import { seededRandom } from '../support/random.js';
import { type ChaosJob, type Fault, findProblems } from './support/chaos-checks.js';
import { writeEvidence } from './support/chaos-evidence.js';
import { finishAsDeployed, unendedJobs } from './support/chaos-finish.js';
import { useChaosFixture } from './support/chaos-fixture.js';
import { runChaos } from './support/chaos-loop.js';
import { FAULTS } from './support/chaos-plan.mjs';
import { ChaosWorkers } from './support/chaos-workers.js';

// Chaos per transport: 15 s in `npm test`, longer with `npm run chaos` (GEO_CHAOS_SECONDS).
const SECONDS = Number(process.env.GEO_CHAOS_SECONDS ?? 15);
const SEED = Number(process.env.GEO_CHAOS_SEED ?? 20261215);
const WORKERS = 4;
/** A kill every 1.5-3 s: the workload's cadence, not a synchronisation. */
const KILL_EVERY_MS = { min: 1_500, max: 3_000 };
/** Of the kills, the share aimed at any started worker (idle or busy) rather than one holding tasks. */
const ANY_STATE_KILLS = 0.2;
/**
 * New jobs keep arriving while workers die, so there is always work to be
 * killed in: whenever fewer than this many are open (looked at every second),
 * until the last few seconds of the chaos.
 */
const OPEN_JOBS = 3;
/**
 * Stage-1 tasks per job: the local queue runs them several times faster than
 * the brokers, and a worker with nothing to hold cannot be killed mid-task.
 */
const TASKS: Record<TransportName, { min: number; max: number; slowestMs?: number }> = {
  local: { min: 150, max: 300 },
  // Slower handlers: a broker worker otherwise holds a task only for the moment between two
  // reads of the database, and a kill aimed at one holding tasks finds it has none.
  servicebus: { min: 40, max: 120, slowestMs: 400 },
  'storage-queue': { min: 40, max: 120, slowestMs: 400 },
};
/** Kills that must land while the worker holds claims it never reports; the chaos goes on (up to three times as long) until they have. */
const MID_TASK_KILLS = Math.max(3, Math.floor(SECONDS / 10));
const SUBMIT_UNTIL_LEFT_MS = 5_000;
const WORK_ARGS = ['--concurrency', '4', '--lease', '5s'];
/** Generous: what the chaos left is finished by a worker and cron alone. */
const FINISH_DEADLINE_MS = 180_000;
const TRANSPORTS: TransportName[] = ['local', 'servicebus', 'storage-queue'];
const FAULT_WEIGHTS: Array<[Fault, number]> = [
  ['none', 0.4],
  ['permanent', 0.15],
  ['bigint', 0.15],
  ['stage2', 0.15],
  ['result', 0.15],
];

/** Runs of commands around the chaos that met a broker too busy to answer (exit 3) and were run again. */
let rerunsOnExit3 = 0;

/**
 * Runs a `geo` command the chaos needs (a submit, the last retry-pending)
 * again when it exits 3: on a loaded machine Azurite can miss the start-up
 * check's 10 s, as an operator would see and rerun. What is under test is
 * what the workers leave, not that.
 */
async function runPatiently(args: string[], env: Record<string, string>): Promise<CliResult> {
  for (let attempt = 1; ; attempt++) {
    const run = await runGeo(args, env, { timeoutMs: 120_000 });
    if (run.code !== 3 || attempt === 3) return run;
    rerunsOnExit3++;
  }
}

/** Dead letters a `retry-pending --json` run took back. */
function deadLettersRemoved(run: CliResult): number {
  try {
    return parseJsonOutput<{ deadLetters?: { removed?: number } }>(run).deadLetters?.removed ?? 0;
  } catch {
    return 0;
  }
}

TRANSPORTS.forEach((transport, t) => {
  describe(`geo work processes SIGKILLed at random over ${transport} (seed ${SEED}, ${SECONDS} s of chaos)`, () => {
    const fixture = useChaosFixture(transport);

    it(
      'every job ends completed or failed as its faults decide, no task is left unfinished, nothing is owed, pending or dead-lettered',
      async () => {
        const db = fixture.db.pool;
        const env = fixture.env();
        rerunsOnExit3 = 0;
        const jobRandom = seededRandom(SEED * 7 + t);
        const killRandom = seededRandom(SEED * 13 + t);
        const jobs: ChaosJob[] = [];
        let submitted = 0;
        const submit = async (fault?: Fault) => {
          let roll = jobRandom();
          fault ??=
            FAULT_WEIGHTS.find(([, w]) => {
              roll -= w;
              return roll < 0;
            })?.[0] ?? 'none';
          const { min, max, slowestMs } = TASKS[transport];
          const job = {
            seed: SEED,
            tag: `${transport}-${submitted++}`,
            fault,
            n: min + Math.floor(jobRandom() * (max - min)),
            ...(slowestMs ? { slowestMs } : {}),
          };
          const params = Object.entries(job).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
          const run = await runPatiently(['submit', 'chaos', ...params, '--json'], env);
          expect(run.code, run.stderr).toBe(0);
          jobs.push({ ...job, jobId: parseJsonOutput<{ jobId: string }>(run).jobId });
        };
        // One job of each fault first (submitted at once); more arrive during the chaos.
        await Promise.all(FAULTS.map((fault) => submit(fault)));

        const workers = new ChaosWorkers(db, env, WORK_ARGS);
        const chaosSeconds = await runChaos({
          workers,
          count: WORKERS,
          seconds: SECONDS,
          random: killRandom,
          killEveryMs: KILL_EVERY_MS,
          anyState: ANY_STATE_KILLS,
          topUp: async () => {
            const open = (
              await unendedJobs(
                db,
                jobs.map((j) => j.jobId),
              )
            ).length;
            await Promise.all(Array.from({ length: OPEN_JOBS - open }, () => submit()));
          },
          topUpUntilLeftMs: SUBMIT_UNTIL_LEFT_MS,
          enough: () => workers.kills.filter((k) => k.killedHolding > 0).length >= MID_TASK_KILLS,
        });

        const finish = await finishAsDeployed({
          db,
          env,
          jobIds: jobs.map((j) => j.jobId),
          workArgs: ['--concurrency', '8', '--lease', '5s', '--idle', '2s', '--json'],
          cron: transport !== 'local',
          cronMs: 3_000,
          deadlineMs: FINISH_DEADLINE_MS,
          maxWorkRuns: 5,
        });
        const afterwards = await runPatiently(['retry-pending', '--json'], env);
        const { problems, outcome } = await findProblems(db, jobs);
        const deadLettered = await fixture.deadLettered();

        const kills = workers.kills;
        const midTask = kills.filter((k) => k.killedHolding > 0);
        const summary = {
          transport,
          seed: SEED,
          chaosSeconds,
          workersStarted: workers.started,
          kills: kills.length,
          killsMidTask: midTask.length,
          claimsKilled: midTask.reduce((n, k) => n + k.killedHolding, 0),
          // Per kill: claims held just before it / still unreported after it.
          killed: kills.map((k) => `${k.held}/${k.killedHolding}`).join(' '),
          crashes: workers.crashes.length,
          brokerGaveUp: workers.dependencyExits.length,
          rerunsOnExit3,
          submitted: jobs.length,
          faults: jobs.reduce<Record<string, number>>((acc, j) => {
            acc[j.fault] = (acc[j.fault] ?? 0) + 1;
            return acc;
          }, {}),
          ...outcome,
          finishSeconds: finish.seconds,
          finishWorkRuns: finish.workRuns.map((r) => r.code ?? r.signal),
          finishRetryPendingRuns: finish.retryRuns.map((r) => r.code),
          // geo's messages the broker dead-lettered, taken back by retry-pending (the workers' sweeps take some too, unseen here).
          deadLettersTakenBack: [...finish.retryRuns, afterwards].reduce((n, r) => n + deadLettersRemoved(r), 0),
          retryPendingAfterwards: afterwards.code,
          deadLettered: deadLettered.length,
          problems: problems.length,
        };
        console.info(`worker chaos ${JSON.stringify(summary)}`);

        try {
          expect(workers.crashes.map((c) => `pid ${c.pid} exited ${c.code ?? c.signal}: ${c.stderr.slice(-2000)}`)).toEqual([]);
          expect(finish.ended, `jobs still open after ${FINISH_DEADLINE_MS / 1000} s`).toBe(true);
          expect(problems.slice(0, 30)).toEqual([]);
          expect(deadLettered).toEqual([]);
          expect(afterwards.code, afterwards.stdout + afterwards.stderr).toBe(0);
          for (const run of finish.workRuns) expect(run.code, run.stderr.slice(-2000)).toBe(0);
          // The kills landed while workers held tasks, not only between them.
          expect(midTask.length).toBeGreaterThanOrEqual(MID_TASK_KILLS);
          expect(outcome.retriedTasks).toBeGreaterThan(0);
        } catch (err) {
          const file = await writeEvidence({
            db,
            name: `${transport}-${SEED}`,
            summary,
            jobs,
            problems,
            deadLettered,
            commands: [
              { title: 'retry-pending afterwards', run: afterwards },
              ...finish.workRuns.map((run, i) => ({ title: `finishing geo work ${i + 1}`, run })),
              ...finish.retryRuns.map((run, i) => ({ title: `cron retry-pending ${i + 1}`, run })),
            ],
            workerLogs: workers.logs,
          });
          console.info(`worker chaos over ${transport} failed (seed ${SEED}); evidence: ${file}`);
          throw err;
        }
      },
      // Past the workers' start (up to 180 s), the chaos (at most three times its time) and the
      // finish's deadline, so a run that fails them writes its evidence.
      (180 + 3 * SECONDS + FINISH_DEADLINE_MS / 1000 + 240) * 1000,
    );
  });
});
