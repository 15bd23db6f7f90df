-- Steering a run once it has started (docs/operations.md): pause and resume,
-- cancel, and running the failed tasks again. Each acts on the job and stage
-- rows only, so it takes effect at once whatever the job's size: the
-- completion API's claims read them, so no handler starts for a cancelled or
-- paused task, on any transport, even for a message already on a broker.

-- While set, no task of the job is claimed (a claim answers `paused`, and
-- the task is owed a message sent when the job resumes), stage advancement
-- waits, and owed messages of the job wait.
ALTER TABLE jobs ADD COLUMN paused_at timestamptz;

-- Earlier lives of a task that `retry-failed` ran again: one entry per
-- failed run, {attempts, error, failedAt, retriedAt}. NULL for almost every
-- task, so it costs nothing on insert.
ALTER TABLE tasks ADD COLUMN history jsonb;

ALTER TABLE redeliveries DROP CONSTRAINT redeliveries_reason_check;
ALTER TABLE redeliveries ADD CONSTRAINT redeliveries_reason_check
  CHECK (reason IN ('retry', 'lease_lapsed', 'released', 'poisoned', 'paused', 'retried_failed'));

-- geo_claim_task as in 006, plus: a task of a paused job answers `paused`
-- (acknowledge the message; geo sends the task again when the job resumes).
CREATE OR REPLACE FUNCTION geo_claim_task(task_id text, worker text, lease interval)
RETURNS TABLE (outcome text, claim bigint, attempt integer, task_type text, parameters jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_task record;
  v_job record;
BEGIN
  -- A claim lost in a database crash costs nothing: the worker still runs
  -- the task and its report restores the claim (geo_claim_standing), so the
  -- claim need not wait for its WAL flush.
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT t.status, t.lease_until, t.attempt, t.job_id, t.stage INTO v_task
  FROM tasks t WHERE t.task_id = geo_claim_task.task_id
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  IF v_task.status IN ('completed', 'failed') THEN
    RETURN QUERY SELECT 'finished'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  IF v_task.status = 'cancelled' THEN
    RETURN QUERY SELECT 'cancelled'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  SELECT j.status, j.paused_at, s.status AS stage_status, s.max_retries INTO v_job
  FROM jobs j JOIN stages s ON s.job_id = j.job_id AND s.stage = v_task.stage
  WHERE j.job_id = v_task.job_id;
  IF v_job.status IS DISTINCT FROM 'processing' OR v_job.stage_status = 'cancelled' THEN
    -- Its job has ended: the task will never run.
    UPDATE tasks t SET status = 'cancelled', lease_until = NULL, available_at = NULL, updated_at = now()
    WHERE t.task_id = geo_claim_task.task_id AND t.status <> 'processing';
    RETURN QUERY SELECT 'cancelled'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  IF v_task.status = 'processing' AND v_task.lease_until >= now() THEN
    RETURN QUERY SELECT 'busy'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  IF v_job.paused_at IS NOT NULL THEN
    -- Not claimed, so no attempt is spent; the message that brought it is
    -- acknowledged, and the owed one waits for the resume.
    IF v_task.status = 'processing' THEN
      UPDATE tasks t SET status = 'queued', worker = NULL, lease_until = NULL, available_at = now(), updated_at = now()
      WHERE t.task_id = geo_claim_task.task_id;
    END IF;
    PERFORM geo_owe_delivery(geo_claim_task.task_id, v_task.job_id, now(), 'paused');
    RETURN QUERY SELECT 'paused'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  IF v_task.status = 'processing' AND v_task.attempt > v_job.max_retries THEN
    -- Its last allowed attempt's worker died: that was the last attempt.
    UPDATE tasks t SET status = 'failed', completed_at = now(), lease_until = NULL, updated_at = now(),
           error = format('attempt %s: the worker''s lease lapsed (it stopped or lost its database connection); no attempts left', t.attempt)
    WHERE t.task_id = geo_claim_task.task_id;
    PERFORM geo_stage_finish(v_task.job_id, v_task.stage, 0, 1);
    RETURN QUERY SELECT 'finished'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  RETURN QUERY
  UPDATE tasks t
  SET status = 'processing', worker = geo_claim_task.worker, lease_until = now() + lease, claim = nextval('geo_claims'),
      attempt = t.attempt + 1, started_at = now(), available_at = NULL, updated_at = now()
  WHERE t.task_id = geo_claim_task.task_id
  RETURNING 'claimed'::text, t.claim, t.attempt, t.task_type, t.parameters;
END
$$;

-- geo_claim_next as in 006, plus: paused jobs are skipped.
CREATE OR REPLACE FUNCTION geo_claim_next(worker text, max_tasks integer, lease interval, job_types text[])
RETURNS TABLE (task_id text, job_id text, job_type text, stage integer, batch_id text, task_type text,
               parameters jsonb, claim bigint, attempt integer)
LANGUAGE sql AS $$
  WITH due AS (
    SELECT t.task_id FROM tasks t
    WHERE t.status = 'queued' AND t.available_at <= now()
      AND (SELECT j.tasks_are_messages AND j.status = 'processing' AND j.paused_at IS NULL
                  AND (job_types IS NULL OR j.job_type = ANY (job_types))
           FROM jobs j WHERE j.job_id = t.job_id)
    ORDER BY t.available_at NULLS FIRST -- the order of tasks_ready, so no sort
    LIMIT max_tasks
    FOR UPDATE SKIP LOCKED
  ), fresh AS (
    SELECT t.task_id FROM tasks t
    WHERE t.status = 'queued' AND t.available_at IS NULL
      AND (SELECT j.tasks_are_messages AND j.status = 'processing' AND j.paused_at IS NULL
                  AND (job_types IS NULL OR j.job_type = ANY (job_types))
           FROM jobs j WHERE j.job_id = t.job_id)
    LIMIT max_tasks
    FOR UPDATE SKIP LOCKED
  ), picked AS (
    -- CTEs are read on demand: the second source is only scanned (and its
    -- rows only locked) when the first did not fill the request.
    (SELECT d.task_id FROM due d UNION ALL SELECT f.task_id FROM fresh f)
    LIMIT max_tasks
  )
  UPDATE tasks t
  SET status = 'processing', worker = geo_claim_next.worker, lease_until = now() + lease, claim = nextval('geo_claims'),
      attempt = t.attempt + 1, started_at = now(), available_at = NULL, updated_at = now()
  FROM picked p, jobs j
  WHERE t.task_id = p.task_id AND j.job_id = t.job_id
  RETURNING t.task_id, t.job_id, j.job_type, t.stage, t.batch_id, t.task_type, t.parameters, t.claim, t.attempt
$$;

-- Ends a running job `cancelled` (with `stage`: that stage is the one
-- cancelled, and the job with it, since it cannot complete without it).
-- Two rows, one statement: nothing of the job runs afterwards, whatever its
-- size. Its unstarted task rows are marked later (geo_cancel_tasks, and each
-- claim of one); tasks running finish and are recorded, and advance nothing.
-- Outcome: `cancelled`, `already-cancelled`, `completed` / `failed` (it had
-- ended so: nothing changes), `missing`.
CREATE FUNCTION geo_cancel_job(job_id text, stage integer, reason text)
RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_status text;
BEGIN
  UPDATE jobs j SET status = 'cancelled', paused_at = NULL, completed_at = now(), updated_at = now(),
         errors = jsonb_build_object('cancelled', true, 'stage', stage, 'reason', reason)
  WHERE j.job_id = geo_cancel_job.job_id AND j.status = 'processing';
  IF NOT FOUND THEN
    SELECT j.status INTO v_status FROM jobs j WHERE j.job_id = geo_cancel_job.job_id;
    RETURN CASE WHEN v_status IS NULL THEN 'missing' WHEN v_status = 'cancelled' THEN 'already-cancelled' ELSE v_status END;
  END IF;
  UPDATE stages s SET status = 'cancelled', completed_at = now(), error = coalesce(reason, 'cancelled'),
         claimed_until = NULL, claim_token = NULL, claim_session = NULL
  WHERE s.job_id = geo_cancel_job.job_id AND s.status IN ('queuing', 'processing')
    AND (geo_cancel_job.stage IS NULL OR s.stage = geo_cancel_job.stage);
  RETURN 'cancelled';
END
$$;

-- Marks up to `max_batches` batches' worth of an ended job's unstarted tasks
-- `cancelled`, and its unsent batches, in one short transaction; returns the
-- tasks marked (0: nothing left). Called in a loop after a cancel, so no lock
-- is held long, and again by any later cancel or sweep.
CREATE FUNCTION geo_cancel_tasks(job_id text, max_batches integer)
RETURNS integer
LANGUAGE sql AS $$
  WITH picked AS (
    SELECT b.batch_id FROM batches b JOIN jobs j ON j.job_id = b.job_id
    WHERE b.job_id = geo_cancel_tasks.job_id AND j.status <> 'processing' AND b.status IN ('pending_queue', 'queued')
      AND EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = b.batch_id AND t.status IN ('pending_queue', 'queued'))
    ORDER BY b.batch_id LIMIT max_batches
    FOR UPDATE OF b SKIP LOCKED
  ), cancelled AS (
    UPDATE tasks t SET status = 'cancelled', available_at = NULL, updated_at = now()
    FROM picked p WHERE t.batch_id = p.batch_id AND t.status IN ('pending_queue', 'queued')
    RETURNING 1
  ), unsent AS (
    UPDATE batches b SET status = 'cancelled', claimed_until = NULL, claim_token = NULL, claim_session = NULL
    FROM picked p WHERE b.batch_id = p.batch_id AND b.status = 'pending_queue'
  )
  SELECT count(*)::integer FROM cancelled
$$;

-- Pauses a running job; `paused`, `already-paused`, or the job's status
-- when it is not running (nothing changes), or `missing`.
CREATE FUNCTION geo_pause_job(job_id text)
RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_status text;
  v_paused timestamptz;
BEGIN
  UPDATE jobs j SET paused_at = now(), updated_at = now()
  WHERE j.job_id = geo_pause_job.job_id AND j.status = 'processing' AND j.paused_at IS NULL;
  IF FOUND THEN
    RETURN 'paused';
  END IF;
  SELECT j.status, j.paused_at INTO v_status, v_paused FROM jobs j WHERE j.job_id = geo_pause_job.job_id;
  RETURN CASE WHEN v_status IS NULL THEN 'missing' WHEN v_paused IS NOT NULL THEN 'already-paused' ELSE v_status END;
END
$$;

-- Resumes a paused job: what waited (owed messages, the local queue, stage
-- advancement) goes on, and the sweep is told. `resumed`, `not-paused`, the
-- job's status when it is not running, or `missing`.
CREATE FUNCTION geo_resume_job(job_id text)
RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_status text;
BEGIN
  UPDATE jobs j SET paused_at = NULL, updated_at = now()
  WHERE j.job_id = geo_resume_job.job_id AND j.status = 'processing' AND j.paused_at IS NOT NULL;
  IF FOUND THEN
    UPDATE redeliveries r SET deliver_at = greatest(r.deliver_at, now()), next_attempt_at = now()
    WHERE r.job_id = geo_resume_job.job_id AND r.sent_at IS NULL;
    PERFORM pg_notify('geo_redeliveries', job_id);
    PERFORM pg_notify('geo_stage_completed', job_id || ':0');
    RETURN 'resumed';
  END IF;
  SELECT j.status INTO v_status FROM jobs j WHERE j.job_id = geo_resume_job.job_id;
  RETURN CASE WHEN v_status IS NULL THEN 'missing' WHEN v_status = 'processing' THEN 'not-paused' ELSE v_status END;
END
$$;

-- Runs a job's failed tasks again (with `stage`, that stage's; with
-- `task_ids`, those only) as fresh tasks: attempts from 0, each failed run
-- kept in `history` with its error. Their stages and the job reopen, so the
-- job ends again, exactly once, by the usual last completion. A stage whose
-- builder failed (its `error` set, `failed`) is removed and built again by
-- the next advancement; a stage whose advancement failed after it completed
-- (the job's result(), a job type nobody had) is advanced again. A broker
-- job's tasks are owed new messages (new message ids). Outcome: `reopened`,
-- `nothing-failed`, `cancelled` (a cancelled job stays so), `missing`.
CREATE FUNCTION geo_retry_failed(job_id text, stage integer, task_ids text[])
RETURNS TABLE (outcome text, tasks integer, stages integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_job record;
  v_tasks integer := 0;
  v_stages integer := 0;
  r record;
BEGIN
  SELECT j.status, j.tasks_are_messages INTO v_job FROM jobs j WHERE j.job_id = geo_retry_failed.job_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, 0, 0;
    RETURN;
  END IF;
  IF v_job.status = 'cancelled' THEN
    RETURN QUERY SELECT 'cancelled'::text, 0, 0;
    RETURN;
  END IF;

  -- Failed tasks, in task id order (the completion API's lock order).
  FOR r IN
    WITH picked AS (
      SELECT t.task_id FROM tasks t
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
      RETURNING t.task_id, t.stage, t.batch_id
    ), owed AS (
      SELECT geo_owe_delivery(x.task_id, geo_retry_failed.job_id, now(), 'retried_failed') FROM reset x
    ), batches_reopened AS (
      UPDATE batches b SET status = 'queued', claimed_until = NULL, claim_token = NULL, claim_session = NULL
      WHERE b.batch_id IN (SELECT x.batch_id FROM reset x) AND b.status = 'failed'
    )
    SELECT x.stage, count(*)::integer AS n, (SELECT count(*) FROM owed) AS owed FROM reset x GROUP BY x.stage ORDER BY x.stage
  LOOP
    v_tasks := v_tasks + r.n;
    v_stages := v_stages + 1;
    UPDATE stages s
    SET failed_count = greatest(s.failed_count - r.n, 0), completed_at = NULL,
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
