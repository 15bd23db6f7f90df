import type { JobRow } from '../store/jobs.js';

/**
 * A job's stage names in stage order, as recorded with the job. A job
 * written before they were recorded (migration 012) is named by its job
 * type when this process has it, loaded only then: readers of records stay
 * free of the job-type machinery.
 */
export async function stageNamesOf(job: Pick<JobRow, 'jobType' | 'stageNames'>): Promise<readonly string[]> {
  if (job.stageNames) return job.stageNames;
  const { findJobType } = await import('./job-types/registry.js');
  return findJobType(job.jobType)?.jobType.stages.map((s) => s.name) ?? [];
}

/** A job's stages as messages list them: "1 (greeting), 2 (reply)". */
export async function describeStages(job: Pick<JobRow, 'jobType' | 'stageNames' | 'stageCount'>): Promise<string> {
  const names = await stageNamesOf(job);
  return Array.from({ length: job.stageCount }, (_, i) => (names[i] ? `${i + 1} (${names[i]})` : String(i + 1))).join(', ');
}
