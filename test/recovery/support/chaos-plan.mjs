// What each task of a `chaos` job does, decided from the job's seed and tag,
// the stage, the task index and the attempt alone, so the job type module
// (in every geo process) and the test that checks the outcome agree without
// sharing anything but these functions. Plain JavaScript with no imports: it
// is copied next to the job type module and loaded by geo as it is.

/** The faults a job may be submitted with; `none` completes. */
export const FAULTS = ['none', 'permanent', 'bigint', 'stage2', 'result'];

/** The stage's retry policy: short delays, and room for the attempts that workers killed mid-task cost. */
export const RETRY = { maxRetries: 8, baseMs: 100, maxMs: 1000 };

/** A fraction in [0, 1), the same for the same parts (FNV-1a, then murmur3's finaliser to spread it). */
export function chance(...parts) {
  let h = 0x811c9dc5;
  for (const ch of parts.join(':')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4_294_967_296;
}

/** An index in [0, n) chosen by `what`. */
function pick(job, what) {
  return Math.floor(chance(job.seed, job.tag, what) * job.n);
}

/** The stage-1 tasks that throw PermanentTaskError (fault `permanent`): one chosen index and about 1% more. */
export function permanentTasks(job) {
  const set = new Set();
  if (job.fault !== 'permanent') return set;
  set.add(pick(job, 'permanent'));
  for (let i = 0; i < job.n; i++) if (chance(job.seed, job.tag, 'permanent', i) < 0.01) set.add(i);
  return set;
}

/** The stage-1 task that returns a BigInt (fault `bigint`), or -1. */
export function bigintTask(job) {
  return job.fault === 'bigint' ? pick(job, 'bigint') : -1;
}

/**
 * The stage-1 outcome whose stage-2 task() throws (fault `stage2`), or -1:
 * one of the last 40, so in a stage of more than a batch the batches before
 * it may already be written and sent when the builder fails.
 */
export function stage2BreaksAt(job) {
  if (job.fault !== 'stage2') return -1;
  return job.n - 1 - Math.floor(chance(job.seed, job.tag, 'stage2') * Math.min(job.n, 40));
}

/** Stage 1's result value of task i; stage 2 returns it plus one. */
export function taskValue(job, i) {
  return Math.floor(chance(job.seed, job.tag, 'value', i) * 1000);
}

/**
 * How task `i` of `stage` behaves: how long its handler takes (2 ms to the
 * job's `slowestMs`, 40 unless given) and
 * how many first attempts throw a retryable error (15% of tasks once, 5% twice).
 */
export function taskPlan(job, stage, i) {
  const failing = chance(job.seed, job.tag, stage, i, 'fail');
  return {
    delayMs: 2 + Math.floor(chance(job.seed, job.tag, stage, i, 'delay') * ((job.slowestMs ?? 40) - 1)),
    failFirst: failing < 0.05 ? 2 : failing < 0.2 ? 1 : 0,
  };
}

/** Messages the handlers and builders throw, so the test can tell each kind apart. */
export const MESSAGES = {
  retry: (stage, i, attempt) => `stage ${stage} task ${i} attempt ${attempt} fails by design (retryable)`,
  permanent: (i) => `task ${i} fails for good by design`,
  stage2: (i) => `stage 2 task() fails by design at input task ${i}`,
  result: 'the job result fails by design',
};
