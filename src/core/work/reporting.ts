import { type TaskCompletion, tasksCompleteMany, tasksFail } from '../../store/completion.js';
import { acknowledge, type ClaimedTask, type WorkScope } from './scope.js';

/** Completion statements in flight at once: results keep being recorded while one statement commits. */
const FLUSHES_IN_FLIGHT = 2;
/** Most results one statement records. */
const MAX_GROUP = 1_000;

/** A failed attempt: the error text, and whether another attempt may help. */
export interface FailedAttempt {
  error: string;
  retryable: boolean;
}

/**
 * Records successful results in grouped statements (geo_complete_tasks): the
 * results of one turn of the event loop together (fast handlers finish
 * hundreds in one turn), and as many as accumulated while the previous
 * statements ran: one statement per result while handlers are slow, one per
 * many while they are fast. Then
 * acknowledges each task's message. A group the database refuses as a whole
 * (a value it cannot store that slipped past encodeResult) is recorded task
 * by task, so only the bad result fails.
 */
export class Completions {
  private buffer: Array<{ task: ClaimedTask; json: string | null }> = [];
  private flushing = 0;
  private scheduled = false;
  private readonly done = new Set<Promise<void>>();
  private failure: unknown;

  constructor(
    private readonly scope: WorkScope,
    /** Called once a task's outcome is recorded and acknowledged. */
    private readonly onSettled: () => void,
  ) {}

  add(task: ClaimedTask, json: string | null): void {
    this.buffer.push({ task, json });
    if (this.buffer.length >= MAX_GROUP) this.pump();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  /** True while nothing waits to be recorded. */
  get idle(): boolean {
    return this.buffer.length === 0 && this.flushing === 0 && !this.scheduled;
  }

  /** Resolves when every result added so far is recorded; rethrows a failure of the database. */
  async drain(): Promise<void> {
    this.pump();
    while (this.done.size > 0) await Promise.all(this.done);
    if (this.failure) throw this.failure;
  }

  private pump(): void {
    while (this.flushing < FLUSHES_IN_FLIGHT && this.buffer.length > 0) {
      const group = this.buffer.splice(0, MAX_GROUP);
      this.flushing++;
      const p = this.record(group)
        .catch((err: unknown) => {
          this.failure ??= err;
          this.scope.stopping.request('error');
        })
        .finally(() => {
          this.flushing--;
          this.done.delete(p);
          this.pump();
        });
      this.done.add(p);
    }
  }

  private async record(group: Array<{ task: ClaimedTask; json: string | null }>): Promise<void> {
    const { scope } = this;
    let answers: Map<string, TaskCompletion>;
    try {
      answers = await tasksCompleteMany({
        db: scope.db,
        completions: group.map((g) => ({ taskId: g.task.message.taskId, claim: g.task.held.claim, resultJson: g.json })),
      });
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (group.length === 1) return this.refused(group[0]!.task, err);
      // Which result it was: each alone.
      for (const g of group) await this.record([g]);
      return;
    }
    const acknowledged: Promise<void>[] = [];
    for (const { task } of group) {
      scope.renewer.release(task.held);
      const answer = answers.get(task.message.taskId);
      scope.tally.add(answer?.outcome === 'completed' ? 'completed' : answer?.outcome === 'duplicate' ? 'duplicates' : 'stale');
      if (answer?.outcome === 'completed') scope.events.taskCompleted?.(task.message.jobType, task.handlerMs);
      task.span?.end(undefined, { 'geo.outcome': answer?.outcome ?? 'stale' });
      if (answer?.stageCompleted) scope.stageFinished();
      acknowledged.push(acknowledge(scope, task.delivery, task.held));
    }
    await Promise.all(acknowledged);
    this.onSettled();
  }

  /** The database refused one result: the task fails for good with why (another attempt would return the same). */
  private async refused(task: ClaimedTask, err: unknown): Promise<void> {
    const reason = `RESULT_NOT_JSON: PostgreSQL refused the result: ${err instanceof Error ? err.message : String(err)}`;
    await reportFailure(this.scope, task, { error: reason, retryable: false });
    this.onSettled();
  }
}

/**
 * Records a failed attempt (geo_fail_task applies the stage's retry policy:
 * `retry`, and geo delivers the task again at its retry time; `failed`, for
 * good; `cancelled`, its job ended meanwhile and it will not run again;
 * `stale`, the claim had been taken over) and acknowledges the message in
 * every case.
 */
export async function reportFailure(scope: WorkScope, task: ClaimedTask, failure: FailedAttempt): Promise<void> {
  scope.renewer.release(task.held);
  const answer = await tasksFail({
    db: scope.db,
    taskId: task.message.taskId,
    claim: task.held.claim,
    error: failure.error,
    retryable: failure.retryable,
  });
  if (answer.outcome === 'retry') scope.tally.add('retried');
  else if (answer.outcome === 'failed') scope.tally.add('failed');
  else if (answer.outcome === 'cancelled') scope.tally.add('cancelled');
  else scope.tally.add('stale');
  if (answer.outcome === 'retry' || answer.outcome === 'failed') {
    const { message } = task;
    scope.events.taskFailed?.(message.jobType, answer.outcome === 'retry', task.handlerMs, {
      taskId: message.taskId,
      jobId: message.jobId,
      attempt: task.attempt,
      error: failure.error,
      retryAt: answer.retryAt,
    });
  }
  task.span?.end(failure.error, { 'geo.outcome': answer.outcome });
  if (answer.stageCompleted) scope.stageFinished();
  await acknowledge(scope, task.delivery, task.held);
}

/** SQLSTATE class 22: the data (a value jsonb refuses), not the connection or the statement. */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}
