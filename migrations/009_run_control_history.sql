-- What operating a run needs beyond 007 (docs/operations.md): how many tasks
-- of a stage `retry-failed` ran again, and a mark on a job whose rows `geo
-- prune` has started deleting, so nothing reopens a job that is partly gone.

-- Tasks of the stage that retry-failed ran again, each counted once however
-- often it was retried (its history holds every run). Counted when they are
-- reset, so geo status can say so without reading tasks.
ALTER TABLE stages ADD COLUMN retried_count integer NOT NULL DEFAULT 0;

-- Set by geo prune in the statement that begins deleting the job's rows
-- (after its archive is written); never cleared: the job only goes away.
ALTER TABLE jobs ADD COLUMN prune_started_at timestamptz;

-- geo_retry_failed as in 007, plus: retried tasks are counted on their stage
-- (retried_count, first retry of a task only), and a job geo prune has begun
-- deleting answers `pruning` and is left alone. The job row is locked first,
-- as geo prune's mark takes it, so the two are ordered: a prune that marked
-- the job first wins; a job reopened first is no longer finished, and the
-- prune leaves it. The lock is FOR NO KEY UPDATE, not 007's FOR UPDATE: a
-- completion finishing a stage holds its task row and then takes KEY SHARE on
-- the job row (the foreign key of the stage_completions row it writes), which
-- FOR UPDATE blocks while this waits for that task row: a deadlock
-- (test/control/race.test.ts found it).
CREATE OR REPLACE FUNCTION geo_retry_failed(job_id text, stage integer, task_ids text[])
RETURNS TABLE (outcome text, tasks integer, stages integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_job record;
  v_tasks integer := 0;
  v_stages integer := 0;
  r record;
BEGIN
  SELECT j.status, j.tasks_are_messages, j.prune_started_at INTO v_job
  FROM jobs j WHERE j.job_id = geo_retry_failed.job_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, 0, 0;
    RETURN;
  END IF;
  IF v_job.prune_started_at IS NOT NULL THEN
    RETURN QUERY SELECT 'pruning'::text, 0, 0;
    RETURN;
  END IF;
  IF v_job.status = 'cancelled' THEN
    RETURN QUERY SELECT 'cancelled'::text, 0, 0;
    RETURN;
  END IF;

  -- Failed tasks, in task id order (the completion API's lock order).
  FOR r IN
    WITH picked AS (
      SELECT t.task_id, t.history IS NULL AS first_retry FROM tasks t
      WHERE t.job_id = geo_retry_failed.job_id AND t.status = 'failed'
        AND (geo_retry_failed.stage IS NULL OR t.stage = geo_retry_failed.stage)
        AND (geo_retry_failed.task_ids IS NULL OR t.task_id = ANY (geo_retry_failed.task_ids))
      ORDER BY t.task_id FOR UPDATE
    ), reset AS (
      UPDATE tasks t
      SET status = 'queued', attempt = 0, error = NULL, result = NULL, completed_at = NULL, started_at = NULL,
          worker = NULL, lease_until = NULL, available_at = NULL, updated_at = now(),
          history = coalesce(t.history, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
            'attempts', t.attempt, 'error', t.error, 'failedAt', t.completed_at, 'retriedAt', now()))
      FROM picked p WHERE t.task_id = p.task_id
      RETURNING t.task_id, t.stage, t.batch_id, p.first_retry
    ), owed AS (
      SELECT geo_owe_delivery(x.task_id, geo_retry_failed.job_id, now(), 'retried_failed') FROM reset x
    ), batches_reopened AS (
      UPDATE batches b SET status = 'queued', claimed_until = NULL, claim_token = NULL, claim_session = NULL
      WHERE b.batch_id IN (SELECT x.batch_id FROM reset x) AND b.status = 'failed'
    )
    SELECT x.stage, count(*)::integer AS n, count(*) FILTER (WHERE x.first_retry)::integer AS first_n,
           (SELECT count(*) FROM owed) AS owed
    FROM reset x GROUP BY x.stage ORDER BY x.stage
  LOOP
    v_tasks := v_tasks + r.n;
    v_stages := v_stages + 1;
    UPDATE stages s
    SET failed_count = greatest(s.failed_count - r.n, 0), completed_at = NULL, retried_count = s.retried_count + r.first_n,
        status = CASE WHEN s.status IN ('completed', 'failed') THEN 'processing' ELSE s.status END
    WHERE s.job_id = geo_retry_failed.job_id AND s.stage = r.stage;
  END LOOP;

  -- Stages whose building failed: removed, to be built again from the stage before.
  FOR r IN
    SELECT s.stage FROM stages s
    WHERE s.job_id = geo_retry_failed.job_id AND s.error IS NOT NULL AND s.status = 'failed'
      AND (geo_retry_failed.stage IS NULL OR s.stage = geo_retry_failed.stage)
    ORDER BY s.stage
  LOOP
    DELETE FROM redeliveries x USING batches b, tasks t
    WHERE b.job_id = geo_retry_failed.job_id AND b.stage = r.stage AND t.batch_id = b.batch_id AND x.task_id = t.task_id;
    DELETE FROM tasks t USING batches b WHERE b.job_id = geo_retry_failed.job_id AND b.stage = r.stage AND t.batch_id = b.batch_id;
    DELETE FROM batches b WHERE b.job_id = geo_retry_failed.job_id AND b.stage = r.stage;
    DELETE FROM stage_completions sc WHERE sc.job_id = geo_retry_failed.job_id AND sc.stage = r.stage;
    DELETE FROM stages s WHERE s.job_id = geo_retry_failed.job_id AND s.stage = r.stage;
    UPDATE stage_completions sc SET handled_at = NULL, claimed_until = NULL, claim_token = NULL, claim_session = NULL,
           attempts = 0, unknown_type_attempts = 0, last_error = NULL
    WHERE sc.job_id = geo_retry_failed.job_id AND sc.stage = r.stage - 1;
    v_stages := v_stages + 1;
  END LOOP;

  -- Stages that completed but whose advancement failed for good: advanced again.
  FOR r IN
    SELECT s.stage FROM stages s
    WHERE s.job_id = geo_retry_failed.job_id AND s.error IS NOT NULL AND s.status = 'completed'
      AND (geo_retry_failed.stage IS NULL OR s.stage = geo_retry_failed.stage)
  LOOP
    UPDATE stages s SET error = NULL WHERE s.job_id = geo_retry_failed.job_id AND s.stage = r.stage;
    UPDATE stage_completions sc SET handled_at = NULL, claimed_until = NULL, claim_token = NULL, claim_session = NULL,
           attempts = 0, unknown_type_attempts = 0, last_error = NULL
    WHERE sc.job_id = geo_retry_failed.job_id AND sc.stage = r.stage;
    v_stages := v_stages + 1;
  END LOOP;

  IF v_tasks + v_stages = 0 THEN
    RETURN QUERY SELECT 'nothing-failed'::text, 0, 0;
    RETURN;
  END IF;
  UPDATE jobs j SET status = 'processing', errors = NULL, result = NULL, completed_at = NULL, updated_at = now()
  WHERE j.job_id = geo_retry_failed.job_id AND j.status <> 'processing';
  PERFORM pg_notify('geo_redeliveries', job_id);
  PERFORM pg_notify('geo_stage_completed', job_id || ':0');
  RETURN QUERY SELECT 'reopened'::text, v_tasks, v_stages;
END
$$;
