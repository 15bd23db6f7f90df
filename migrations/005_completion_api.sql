-- The completion API: how any worker claims, completes and fails tasks, and
-- how a stage is recorded as done exactly once. Names, arguments, result
-- columns and outcome words are interface contract (README, "Completion API").
--
-- Correct under READ COMMITTED with any number of concurrent callers: every
-- decision is taken on a row this transaction has locked, so it sees the last
-- committed state. Locks go task rows first (in task id order when several),
-- then stage rows (in job, stage order), as the producer's and recovery's
-- statements do, so no two callers can deadlock.

-- Internal: adds to a stage's counters and, exactly once, records that it is
-- done; true only for the call that finished it. For every statement that
-- finishes tasks; (0, 0) finishes a stage of zero tasks.
CREATE FUNCTION geo_stage_finish(job_id text, stage integer, completed integer, failed integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_due boolean;
  v_outcome text;
BEGIN
  -- Takes the stage row's lock: each caller that could finish the stage
  -- waits for the one before it to commit and reads the counters it left.
  UPDATE stages s
  SET completed_count = s.completed_count + coalesce(geo_stage_finish.completed, 0),
      failed_count = s.failed_count + coalesce(geo_stage_finish.failed, 0)
  WHERE s.job_id = geo_stage_finish.job_id AND s.stage = geo_stage_finish.stage
  RETURNING s.completed_count + s.failed_count >= s.task_count AND s.status NOT IN ('completed', 'failed')
  INTO v_due;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'geo_stage_finish: job % has no stage %', job_id, stage USING ERRCODE = 'no_data_found';
  END IF;
  IF NOT v_due THEN
    RETURN false;
  END IF;
  -- Exactly once: the transition from an open status, under the lock taken
  -- above. Counting finished task rows instead would let a late duplicate
  -- decide again that it was last, and two last completions each miss the
  -- other's uncommitted row.
  UPDATE stages s
  SET status = CASE WHEN s.failed_count > 0 AND NOT s.accept_partial THEN 'failed' ELSE 'completed' END,
      completed_at = now()
  WHERE s.job_id = geo_stage_finish.job_id AND s.stage = geo_stage_finish.stage
    AND s.status NOT IN ('completed', 'failed')
  RETURNING s.status INTO v_outcome;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  -- A row exists only if something reopened the stage after it was handled;
  -- the new finish must be handled again.
  INSERT INTO stage_completions AS sc (job_id, stage, outcome)
  VALUES (geo_stage_finish.job_id, geo_stage_finish.stage, v_outcome)
  ON CONFLICT ON CONSTRAINT stage_completions_pkey DO UPDATE
    SET outcome = excluded.outcome, created_at = now(), claimed_until = NULL, claim_token = NULL,
        attempts = 0, last_error = NULL, handled_at = NULL;
  PERFORM pg_notify('geo_stage_completed', job_id || ':' || stage);
  RETURN true;
END
$$;

-- Claimable: `pending_queue` (the message beat step 3, or only the batch row
-- records the send), `queued`, and `processing` with a lapsed lease or this
-- worker's own. available_at is not checked: a broker decides when a message
-- arrives; only the local queue waits for it.
CREATE FUNCTION geo_claim_task(task_id text, worker text, lease interval)
RETURNS TABLE (outcome text, attempt integer, task_type text, parameters jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_status text;
  v_worker text;
  v_lease_until timestamptz;
BEGIN
  -- A claim lost in a database crash costs nothing: the worker still runs
  -- the task and completes it (completion works from any unfinished status),
  -- so it need not wait for its WAL flush (see geo_complete_task).
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT t.status, t.worker, t.lease_until INTO v_status, v_worker, v_lease_until
  FROM tasks t WHERE t.task_id = geo_claim_task.task_id
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::integer, NULL::text, NULL::jsonb;
  ELSIF v_status IN ('completed', 'failed') THEN
    RETURN QUERY SELECT 'finished'::text, NULL::integer, NULL::text, NULL::jsonb;
  ELSIF v_status = 'processing' AND v_lease_until >= now() AND v_worker IS DISTINCT FROM geo_claim_task.worker THEN
    RETURN QUERY SELECT 'busy'::text, NULL::integer, NULL::text, NULL::jsonb;
  ELSE
    RETURN QUERY
    UPDATE tasks t
    SET status = 'processing', worker = geo_claim_task.worker, lease_until = now() + lease,
        attempt = t.attempt + 1, started_at = now(), available_at = NULL, updated_at = now()
    WHERE t.task_id = geo_claim_task.task_id
    RETURNING 'claimed'::text, t.attempt, t.task_type, t.parameters;
  END IF;
END
$$;

-- Any unfinished task can be completed: a worker whose lease lapsed still did
-- the work. An unknown id is `missing` rather than an error, which would make a
-- Function retry a message that can never succeed.
CREATE FUNCTION geo_complete_task(task_id text, result jsonb)
RETURNS TABLE (outcome text, stage_completed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_job_id text;
  v_stage integer;
BEGIN
  -- Every completion of a stage takes the stage row's lock, and a synchronous
  -- commit holds it until its WAL flush: one completion per flush, 300-880/s
  -- from 8 connections. An asynchronous commit releases it at once. A
  -- database crash can then lose the last fraction of a second of
  -- completions, never a task: each such task is `processing` again under a
  -- lapsed lease, and is run again (the local queue takes lapsed leases over;
  -- retry-pending re-sends a broker task past --stale-after).
  PERFORM set_config('synchronous_commit', 'off', true);
  -- A concurrent completion of the same task waits for this row's lock and
  -- then finds it finished: exactly one of them counts.
  UPDATE tasks t
  SET status = 'completed', result = geo_complete_task.result, completed_at = now(), lease_until = NULL,
      available_at = NULL, updated_at = now()
  WHERE t.task_id = geo_complete_task.task_id AND t.status NOT IN ('completed', 'failed')
  RETURNING t.job_id, t.stage INTO v_job_id, v_stage;
  IF FOUND THEN
    RETURN QUERY SELECT 'completed'::text, geo_stage_finish(v_job_id, v_stage, 1, 0);
  ELSIF EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = geo_complete_task.task_id) THEN
    RETURN QUERY SELECT 'duplicate'::text, false;
  ELSE
    RETURN QUERY SELECT 'missing'::text, false;
  END IF;
END
$$;

-- Only the attempt holding the task (`processing`, same attempt) may report;
-- anything else is `stale`. Retry delay: base x 2^(attempt-1), capped, half
-- of it random so a burst of failures spreads out.
CREATE FUNCTION geo_fail_task(task_id text, error text, attempt integer, retryable boolean)
RETURNS TABLE (outcome text, retry_at timestamptz, stage_completed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_status text;
  v_attempt integer;
  v_job_id text;
  v_stage integer;
  v_max_retries integer;
  v_base_ms integer;
  v_max_ms integer;
  v_delay_ms double precision;
  v_retry_at timestamptz;
BEGIN
  SELECT t.status, t.attempt, t.job_id, t.stage, s.max_retries, s.retry_base_ms, s.retry_max_ms
  INTO v_status, v_attempt, v_job_id, v_stage, v_max_retries, v_base_ms, v_max_ms
  FROM tasks t LEFT JOIN stages s ON s.job_id = t.job_id AND s.stage = t.stage
  WHERE t.task_id = geo_fail_task.task_id
  FOR UPDATE OF t;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::timestamptz, false;
    RETURN;
  END IF;
  IF v_status <> 'processing' OR v_attempt IS DISTINCT FROM geo_fail_task.attempt THEN
    RETURN QUERY SELECT 'stale'::text, NULL::timestamptz, false;
    RETURN;
  END IF;
  IF v_max_retries IS NULL THEN
    RAISE EXCEPTION 'geo_fail_task: job % has no stage %', v_job_id, v_stage USING ERRCODE = 'no_data_found';
  END IF;
  IF coalesce(retryable, false) AND geo_fail_task.attempt <= v_max_retries THEN
    -- The exponent is bounded so a large attempt number cannot overflow.
    v_delay_ms := least(v_max_ms::double precision, v_base_ms * power(2::double precision, least(geo_fail_task.attempt - 1, 60)));
    v_delay_ms := v_delay_ms / 2 + random() * v_delay_ms / 2;
    v_retry_at := now() + v_delay_ms * interval '1 millisecond';
    UPDATE tasks t
    SET status = 'queued', available_at = v_retry_at, worker = NULL, lease_until = NULL,
        error = geo_fail_task.error, updated_at = now()
    WHERE t.task_id = geo_fail_task.task_id;
    RETURN QUERY SELECT 'retry'::text, v_retry_at, false;
  ELSE
    UPDATE tasks t
    SET status = 'failed', error = geo_fail_task.error, completed_at = now(), lease_until = NULL,
        available_at = NULL, updated_at = now()
    WHERE t.task_id = geo_fail_task.task_id;
    RETURN QUERY SELECT 'failed'::text, NULL::timestamptz, geo_stage_finish(v_job_id, v_stage, 0, 1);
  END IF;
END
$$;

-- The local transport's queue (other transports' tasks come from their
-- broker): lapsed leases, then due retries, then new tasks, each in the order
-- of its partial index and only as far as needed. The job's transport is a
-- per-row lookup, not a join, so the planner keeps that order and stops at the
-- limit. SKIP LOCKED gives concurrent workers disjoint tasks without waiting.
CREATE FUNCTION geo_claim_next(worker text, max_tasks integer, lease interval)
RETURNS TABLE (task_id text, job_id text, job_type text, stage integer, batch_id text, task_type text,
               parameters jsonb, attempt integer)
LANGUAGE sql AS $$
  WITH expired AS (
    SELECT t.task_id FROM tasks t
    WHERE t.status = 'processing' AND t.lease_until < now()
      AND (SELECT j.processing_path FROM jobs j WHERE j.job_id = t.job_id) = 'local'
    ORDER BY t.lease_until
    LIMIT max_tasks
    FOR UPDATE SKIP LOCKED
  ), due AS (
    SELECT t.task_id FROM tasks t
    WHERE t.status = 'queued' AND t.available_at <= now()
      AND (SELECT j.processing_path FROM jobs j WHERE j.job_id = t.job_id) = 'local'
    ORDER BY t.available_at NULLS FIRST -- the order of tasks_ready, so no sort
    LIMIT max_tasks
    FOR UPDATE SKIP LOCKED
  ), fresh AS (
    SELECT t.task_id FROM tasks t
    WHERE t.status = 'queued' AND t.available_at IS NULL
      AND (SELECT j.processing_path FROM jobs j WHERE j.job_id = t.job_id) = 'local'
    LIMIT max_tasks
    FOR UPDATE SKIP LOCKED
  ), picked AS (
    -- CTEs are read on demand: a later source is only scanned (and its rows
    -- only locked) when the earlier ones did not fill the request.
    (SELECT e.task_id FROM expired e UNION ALL SELECT d.task_id FROM due d UNION ALL SELECT f.task_id FROM fresh f)
    LIMIT max_tasks
  )
  UPDATE tasks t
  SET status = 'processing', worker = geo_claim_next.worker, lease_until = now() + lease,
      attempt = t.attempt + 1, started_at = now(), available_at = NULL, updated_at = now()
  FROM picked p, jobs j
  WHERE t.task_id = p.task_id AND j.job_id = t.job_id
  RETURNING t.task_id, t.job_id, j.job_type, t.stage, t.batch_id, t.task_type, t.parameters, t.attempt
$$;

-- Internal (may change): geo_complete_task for a group, one row per element
-- (a repeated id is a `duplicate`); stage_completed is true on one row per
-- stage this call finished.
CREATE FUNCTION geo_complete_tasks(task_ids text[], results jsonb[])
RETURNS TABLE (task_id text, outcome text, stage_completed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_done text[];
  v_jobs text[];
  v_stages integer[];
  v_finishers text[] := '{}';
  r record;
BEGIN
  IF cardinality(task_ids) IS DISTINCT FROM cardinality(results) THEN
    RAISE EXCEPTION 'geo_complete_tasks: % task ids but % results', cardinality(task_ids), cardinality(results)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- In id order, so two overlapping groups cannot deadlock.
  PERFORM 1 FROM tasks t WHERE t.task_id = ANY (task_ids) ORDER BY t.task_id FOR UPDATE;
  WITH input AS (
    SELECT DISTINCT ON (i.id) i.id, i.result
    FROM unnest(task_ids, results) WITH ORDINALITY AS i (id, result, n)
    ORDER BY i.id, i.n
  ), done AS (
    UPDATE tasks t
    SET status = 'completed', result = i.result, completed_at = now(), lease_until = NULL,
        available_at = NULL, updated_at = now()
    FROM input i
    WHERE t.task_id = i.id AND t.status NOT IN ('completed', 'failed')
    RETURNING t.task_id, t.job_id, t.stage
  )
  SELECT array_agg(d.task_id), array_agg(d.job_id), array_agg(d.stage) INTO v_done, v_jobs, v_stages FROM done d;
  FOR r IN
    SELECT u.job_id, u.stage, count(*)::integer AS n, max(u.task_id) AS last_id
    FROM unnest(v_done, v_jobs, v_stages) AS u (task_id, job_id, stage)
    GROUP BY u.job_id, u.stage ORDER BY u.job_id, u.stage
  LOOP
    IF geo_stage_finish(r.job_id, r.stage, r.n, 0) THEN
      v_finishers := v_finishers || r.last_id;
    END IF;
  END LOOP;
  RETURN QUERY
  WITH input AS (
    SELECT i.id, i.n, i.n = min(i.n) OVER (PARTITION BY i.id) AS first
    FROM unnest(task_ids) WITH ORDINALITY AS i (id, n)
  )
  SELECT i.id,
         CASE WHEN i.first AND d.id IS NOT NULL THEN 'completed'
              WHEN EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = i.id) THEN 'duplicate'
              ELSE 'missing' END,
         coalesce(i.first AND i.id = ANY (v_finishers), false)
  FROM input i LEFT JOIN unnest(v_done) AS d (id) ON d.id = i.id
  ORDER BY i.n;
END
$$;

-- Internal: extends this worker's leases; a task missing from the result was
-- taken over or finished.
CREATE FUNCTION geo_renew_tasks(worker text, task_ids text[], lease interval)
RETURNS SETOF text
LANGUAGE sql AS $$
  UPDATE tasks t SET lease_until = now() + lease
  FROM (SELECT h.task_id FROM tasks h
        WHERE h.task_id = ANY (task_ids) AND h.status = 'processing' AND h.worker = geo_renew_tasks.worker
        ORDER BY h.task_id FOR UPDATE) held
  WHERE t.task_id = held.task_id
  RETURNING t.task_id
$$;

-- Internal: a stopping worker gives its unstarted tasks back. The attempt is
-- kept, so a released claim counts as one.
CREATE FUNCTION geo_release_tasks(worker text, task_ids text[])
RETURNS integer
LANGUAGE sql AS $$
  WITH released AS (
    UPDATE tasks t SET status = 'queued', worker = NULL, lease_until = NULL, available_at = NULL, updated_at = now()
    FROM (SELECT h.task_id FROM tasks h
          WHERE h.task_id = ANY (task_ids) AND h.status = 'processing' AND h.worker = geo_release_tasks.worker
          ORDER BY h.task_id FOR UPDATE) held
    WHERE t.task_id = held.task_id
    RETURNING 1
  )
  SELECT count(*)::integer FROM released
$$;
