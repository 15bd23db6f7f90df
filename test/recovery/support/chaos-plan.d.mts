// Types of chaos-plan.mjs, for the test that checks what it decided.
export type Fault = 'none' | 'permanent' | 'bigint' | 'stage2' | 'result';

/** The parameters of a `chaos` job that decide its tasks. */
export interface PlanJob {
  seed: number;
  tag: string;
  fault: Fault;
  n: number;
  /** The slowest a handler may take, in ms (default 40). */
  slowestMs?: number;
}

export const FAULTS: Fault[];
export const RETRY: { maxRetries: number; baseMs: number; maxMs: number };
export function chance(...parts: Array<string | number>): number;
export function permanentTasks(job: PlanJob): Set<number>;
export function bigintTask(job: PlanJob): number;
export function stage2BreaksAt(job: PlanJob): number;
export function taskValue(job: PlanJob, i: number): number;
export function taskPlan(job: PlanJob, stage: number, i: number): { delayMs: number; failFirst: number };
export const MESSAGES: {
  retry(stage: number, i: number, attempt: number): string;
  permanent(i: number): string;
  stage2(i: number): string;
  result: string;
};
