-- The fenced completion contract (docs/workers.md is its reference):
--  * The database owns redelivery. A worker claims, runs, reports and then
--    acknowledges its message in every case; whatever must run again (a
--    retry, a task whose worker died, a message a host poisoned) is owed a
--    new message, recorded in `redeliveries` and sent by geo's sweep.
--  * Every claim is fenced. A claim returns a token from a sequence; complete,
--    fail, renew and release act only on the claim they name, and a second
--    claim of a live lease answers `busy` whoever asks.
--  * geo's own processes hold a session: an advisory lock on a connection
--    kept for their life. A claim whose session is gone is free at once;
--    other claims (workers that are not geo) are free when their lease lapses.
-- The functions of 005 are dropped, not overloaded: an unfenced form left
-- behind would let a worker complete a task it no longer holds.

DROP FUNCTION geo_claim_task(text, text, interval);
DROP FUNCTION geo_complete_task(text, jsonb);
DROP FUNCTION geo_fail_task(text, text, integer, boolean);
DROP FUNCTION geo_claim_next(text, integer, interval);
DROP FUNCTION geo_complete_tasks(text[], jsonb[]);
DROP FUNCTION geo_renew_tasks(text, text[], interval);
DROP FUNCTION geo_release_tasks(text, text[]);

-- A job (or stage) that ended before all its tasks ran leaves them
-- `cancelled`: they never run, and do not count toward their stage.
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
  CHECK (status IN ('pending_queue', 'queued', 'processing', 'completed', 'failed', 'cancelled'));
ALTER TABLE stages DROP CONSTRAINT stages_status_check;
ALTER TABLE stages ADD CONSTRAINT stages_status_check
  CHECK (status IN ('queuing', 'processing', 'completed', 'failed', 'cancelled'));
ALTER TABLE batches DROP CONSTRAINT batches_status_check;
ALTER TABLE batches ADD CONSTRAINT batches_status_check CHECK (status IN ('pending_queue', 'queued', 'failed', 'cancelled'));
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
  CHECK (status IN ('processing', 'completed', 'failed', 'cancelled'));

-- Whether the job's task rows are its messages (a transport whose queue is
-- this database): redelivery is then the row's own ready time, not a message.
-- Recorded per job from the transport's capability, so SQL never names one.
ALTER TABLE jobs ADD COLUMN tasks_are_messages boolean;
UPDATE jobs SET tasks_are_messages = (processing_path = 'local');
ALTER TABLE jobs ALTER COLUMN tasks_are_messages SET NOT NULL;

-- Claim tokens come from a sequence: a value is never handed out twice, not
-- even after a database crash (a sequence logs ahead of what it hands out).
CREATE SEQUENCE geo_claims AS bigint;
ALTER TABLE tasks ADD COLUMN claim bigint;

-- Why a stage ended the way it did when it was not its tasks (its builder or
-- the job's result threw), and the throttle of its progress notifications.
ALTER TABLE stages ADD COLUMN error text;
ALTER TABLE stages ADD COLUMN notified_at timestamptz;

-- geo's processes. Each holds the advisory lock (4250002, session_id) on a
-- connection it keeps for its life: the lock is the process's liveness,
-- dropped by PostgreSQL the moment that connection ends (a crash, kill -9, a
-- lost network after TCP keepalive). `worker` is the name a geo worker puts
-- on its task claims.
CREATE SEQUENCE geo_session_ids AS integer;
CREATE TABLE sessions (
  session_id integer PRIMARY KEY,
  worker     text UNIQUE,
  host       text NOT NULL,
  pid        integer NOT NULL,
  command    text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now()
);

-- Starts a session on the calling connection: the lock is taken before the
-- row exists, so a sweep never sees the row of a live session without its lock.
CREATE FUNCTION geo_session_start(worker text, host text, pid integer, command text)
RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_id integer := nextval('geo_session_ids');
BEGIN
  PERFORM pg_advisory_lock(4250002, v_id);
  INSERT INTO sessions (session_id, worker, host, pid, command) VALUES (v_id, worker, host, pid, command);
  RETURN v_id;
END
$$;

-- The sessions whose process is alive: their lock is held. pg_locks is read
-- once per call, so callers use it as a set, not per row.
CREATE FUNCTION geo_live_sessions()
RETURNS SETOF integer
LANGUAGE sql STABLE AS $$
  SELECT l.objid::bigint::integer FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.classid = 4250002::oid AND l.objsubid = 2 AND l.granted
    AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
$$;

ALTER TABLE batches ADD COLUMN claim_session integer;
ALTER TABLE stages ADD COLUMN claim_session integer;
ALTER TABLE stage_completions ADD COLUMN claim_session integer;
-- Attempts to advance the stage that found its job type unknown to the
-- advancing process; past a bounded number the job fails (docs/workers.md).
ALTER TABLE stage_completions ADD COLUMN unknown_type_attempts integer NOT NULL DEFAULT 0;

-- The redelivery outbox: one row per task owed a message by geo. Written in
-- the transaction that decides the task must run again; the sweep sends the
-- message (due at deliver_at: Service Bus schedules it, Storage Queue hides
-- it until then) and records sent_at. A row whose task has moved on is moot
-- and removed. `delivery` makes the message id unique to this delivery, so
-- Service Bus duplicate detection drops only a crash re-send of the same one.
CREATE SEQUENCE geo_deliveries AS bigint;
CREATE TABLE redeliveries (
  task_id         text PRIMARY KEY,
  job_id          text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
  delivery        bigint NOT NULL DEFAULT nextval('geo_deliveries'),
  deliver_at      timestamptz NOT NULL,
  reason          text NOT NULL CHECK (reason IN ('retry', 'lease_lapsed', 'released', 'poisoned')),
  sent_at         timestamptz,
  -- The broker's handle on a scheduled message (Service Bus sequence number).
  scheduled_ref   text,
  claimed_until   timestamptz,
  claim_token     uuid,
  claim_session   integer,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX redeliveries_unsent ON redeliveries (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX redeliveries_job ON redeliveries (job_id);

-- Owes `task_id` a message at `deliver_at` unless its job's rows are its
-- messages. A new delivery number each time: the previous one may be on the
-- queue already.
CREATE FUNCTION geo_owe_delivery(task_id text, job_id text, deliver_at timestamptz, reason text)
RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
  INSERT INTO redeliveries AS r (task_id, job_id, deliver_at, reason)
  SELECT task_id, job_id, deliver_at, reason
  FROM jobs j WHERE j.job_id = geo_owe_delivery.job_id AND NOT j.tasks_are_messages
  ON CONFLICT ON CONSTRAINT redeliveries_pkey DO UPDATE
    SET delivery = nextval('geo_deliveries'), deliver_at = excluded.deliver_at, reason = excluded.reason,
        sent_at = NULL, scheduled_ref = NULL, claimed_until = NULL, claim_token = NULL, claim_session = NULL,
        attempts = 0, next_attempt_at = now(), last_error = NULL, created_at = now();
  IF FOUND THEN
    PERFORM pg_notify('geo_redeliveries', job_id);
  END IF;
END
$$;

-- Adds finished tasks to a stage's counters and, exactly once, records that
-- it is done; true only for the call that finished it. Also sends
-- `geo_progress` ('<job>:<stage>') at most about once a second per stage, for
-- live views, at the cost of one comparison in a row it already updates.
CREATE OR REPLACE FUNCTION geo_stage_finish(job_id text, stage integer, completed integer, failed integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_due boolean;
  v_notify boolean;
  v_outcome text;
BEGIN
  -- Takes the stage row's lock: each caller that could finish the stage
  -- waits for the one before it to commit and reads the counters it left.
  UPDATE stages s
  SET completed_count = s.completed_count + coalesce(geo_stage_finish.completed, 0),
      failed_count = s.failed_count + coalesce(geo_stage_finish.failed, 0),
      notified_at = CASE WHEN s.notified_at IS NULL OR s.notified_at < now() - interval '1 second' THEN clock_timestamp()
                         ELSE s.notified_at END
  WHERE s.job_id = geo_stage_finish.job_id AND s.stage = geo_stage_finish.stage
  RETURNING s.completed_count + s.failed_count >= s.task_count AND s.status NOT IN ('completed', 'failed', 'cancelled'),
            s.notified_at >= now()
  INTO v_due, v_notify;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'geo_stage_finish: job % has no stage %', job_id, stage USING ERRCODE = 'no_data_found';
  END IF;
  IF v_notify THEN
    PERFORM pg_notify('geo_progress', job_id || ':' || stage);
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
    AND s.status NOT IN ('completed', 'failed', 'cancelled')
  RETURNING s.status INTO v_outcome;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO stage_completions AS sc (job_id, stage, outcome)
  VALUES (geo_stage_finish.job_id, geo_stage_finish.stage, v_outcome)
  ON CONFLICT ON CONSTRAINT stage_completions_pkey DO UPDATE
    SET outcome = excluded.outcome, created_at = now(), claimed_until = NULL, claim_token = NULL,
        claim_session = NULL, attempts = 0, unknown_type_attempts = 0, last_error = NULL, handled_at = NULL;
  PERFORM pg_notify('geo_stage_completed', job_id || ':' || stage);
  RETURN true;
END
$$;

-- Whether the job of a task has ended (or its stage was cancelled): a task
-- that would be queued again is cancelled instead. The job row is read FOR
-- SHARE, so a job failing at the same time either waits for the caller's
-- commit (and then cancels the task it queued, in its own next statement) or
-- has committed first (and the caller sees it ended).
CREATE FUNCTION geo_task_job_ended(job_id text, stage integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_ended boolean;
BEGIN
  SELECT j.status <> 'processing' OR s.status = 'cancelled' INTO v_ended
  FROM jobs j JOIN stages s ON s.job_id = j.job_id AND s.stage = geo_task_job_ended.stage
  WHERE j.job_id = geo_task_job_ended.job_id
  FOR SHARE OF j;
  RETURN coalesce(v_ended, false);
END
$$;

-- Whether a report naming claim `claim` may act on a task in `status` whose
-- current claim is `current`: 'held' when the claim is the task's
-- (`processing` under it, whether or not its lease lapsed: the work was done
-- and nobody took it over); 'restored' when the task is unclaimed and the
-- claim is newer than any it recorded, which only a claim lost in a database
-- crash can be (claims commit asynchronously; tokens are never reused);
-- otherwise NULL.
CREATE FUNCTION geo_claim_standing(status text, current bigint, claim bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
  WHEN status = 'processing' AND current = claim THEN 'held'
  WHEN status IN ('pending_queue', 'queued') AND claim > coalesce(current, 0) THEN 'restored'
END;

-- Claimable: `pending_queue` (the message beat step 3 of the batch
-- protocol), `queued`, and `processing` under a lapsed lease. A live lease is
-- `busy` whoever asks, the holder included: two invocations of one host must
-- not both run the task. available_at is not checked: a broker decides when a
-- message arrives; only the local queue waits for it.
CREATE FUNCTION geo_claim_task(task_id text, worker text, lease interval)
RETURNS TABLE (outcome text, claim bigint, attempt integer, task_type text, parameters jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_task record;
  v_job_status text;
  v_stage_status text;
  v_max_retries integer;
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
  SELECT j.status, s.status, s.max_retries INTO v_job_status, v_stage_status, v_max_retries
  FROM jobs j JOIN stages s ON s.job_id = j.job_id AND s.stage = v_task.stage
  WHERE j.job_id = v_task.job_id;
  IF v_job_status IS DISTINCT FROM 'processing' OR v_stage_status = 'cancelled' THEN
    -- Its job has ended: the task will never run.
    UPDATE tasks t SET status = 'cancelled', lease_until = NULL, available_at = NULL, updated_at = now()
    WHERE t.task_id = geo_claim_task.task_id;
    RETURN QUERY SELECT 'cancelled'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  IF v_task.status = 'processing' AND v_task.lease_until >= now() THEN
    RETURN QUERY SELECT 'busy'::text, NULL::bigint, NULL::integer, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  IF v_task.status = 'processing' AND v_task.attempt > v_max_retries THEN
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

-- Records a result for the claim that ran the task. `duplicate`: that claim
-- already completed it (a retried call); `stale`: another claim holds or
-- finished the task, or it was given back; nothing changes. An unknown id is
-- `missing` rather than an error, which would make a Function retry a
-- message that can never succeed.
CREATE FUNCTION geo_complete_task(task_id text, claim bigint, result jsonb)
RETURNS TABLE (outcome text, stage_completed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_task record;
BEGIN
  -- Every completion of a stage takes the stage row's lock; a synchronous
  -- commit would hold it until its WAL flush (one completion per flush). A
  -- database crash can then lose the last fraction of a second of
  -- completions, never a task: each such task is `processing` again under a
  -- lapsed lease, and the sweep delivers it again.
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT t.status, t.claim, t.job_id, t.stage INTO v_task
  FROM tasks t WHERE t.task_id = geo_complete_task.task_id
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, false;
  ELSIF geo_claim_standing(v_task.status, v_task.claim, geo_complete_task.claim) IS NOT NULL THEN
    UPDATE tasks t
    SET status = 'completed', result = geo_complete_task.result, completed_at = now(), lease_until = NULL,
        available_at = NULL, claim = geo_complete_task.claim, updated_at = now()
    WHERE t.task_id = geo_complete_task.task_id;
    RETURN QUERY SELECT 'completed'::text, geo_stage_finish(v_task.job_id, v_task.stage, 1, 0);
  ELSIF v_task.status = 'completed' AND v_task.claim = geo_complete_task.claim THEN
    RETURN QUERY SELECT 'duplicate'::text, false;
  ELSE
    RETURN QUERY SELECT 'stale'::text, false;
  END IF;
END
$$;

-- Records a failed attempt of the claim that ran it. Retry delay: base x
-- 2^(attempt-1), capped, half of it random so a burst of failures spreads
-- out. A retry is owed a new message at retry_at (geo sends it); the worker
-- acknowledges its own message in every case.
CREATE FUNCTION geo_fail_task(task_id text, claim bigint, error text, retryable boolean)
RETURNS TABLE (outcome text, retry_at timestamptz, stage_completed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_task record;
  v_standing text;
  v_attempt integer;
  v_delay_ms double precision;
  v_retry_at timestamptz;
BEGIN
  SELECT t.status, t.claim, t.attempt, t.job_id, t.stage, s.max_retries, s.retry_base_ms, s.retry_max_ms INTO v_task
  FROM tasks t LEFT JOIN stages s ON s.job_id = t.job_id AND s.stage = t.stage
  WHERE t.task_id = geo_fail_task.task_id
  FOR UPDATE OF t;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::timestamptz, false;
    RETURN;
  END IF;
  v_standing := geo_claim_standing(v_task.status, v_task.claim, geo_fail_task.claim);
  IF v_standing IS NULL THEN
    RETURN QUERY SELECT 'stale'::text, NULL::timestamptz, false;
    RETURN;
  END IF;
  IF v_task.max_retries IS NULL THEN
    RAISE EXCEPTION 'geo_fail_task: job % has no stage %', v_task.job_id, v_task.stage USING ERRCODE = 'no_data_found';
  END IF;
  -- A restored claim's own increment of the attempt was lost with it.
  v_attempt := v_task.attempt + CASE WHEN v_standing = 'restored' THEN 1 ELSE 0 END;
  IF coalesce(retryable, false) AND v_attempt <= v_task.max_retries AND geo_task_job_ended(v_task.job_id, v_task.stage) THEN
    -- Its job ended while it ran: queued, it would wait for a claim that never comes.
    UPDATE tasks t
    SET status = 'cancelled', available_at = NULL, worker = NULL, lease_until = NULL, attempt = v_attempt,
        claim = geo_fail_task.claim, error = geo_fail_task.error, updated_at = now()
    WHERE t.task_id = geo_fail_task.task_id;
    RETURN QUERY SELECT 'cancelled'::text, NULL::timestamptz, false;
  ELSIF coalesce(retryable, false) AND v_attempt <= v_task.max_retries THEN
    -- The exponent is bounded so a large attempt number cannot overflow.
    v_delay_ms := least(v_task.retry_max_ms::double precision,
                        v_task.retry_base_ms * power(2::double precision, least(v_attempt - 1, 60)));
    v_delay_ms := v_delay_ms / 2 + random() * v_delay_ms / 2;
    v_retry_at := now() + v_delay_ms * interval '1 millisecond';
    UPDATE tasks t
    SET status = 'queued', available_at = v_retry_at, worker = NULL, lease_until = NULL, attempt = v_attempt,
        claim = geo_fail_task.claim, error = geo_fail_task.error, updated_at = now()
    WHERE t.task_id = geo_fail_task.task_id;
    PERFORM geo_owe_delivery(geo_fail_task.task_id, v_task.job_id, v_retry_at, 'retry');
    RETURN QUERY SELECT 'retry'::text, v_retry_at, false;
  ELSE
    UPDATE tasks t
    SET status = 'failed', error = geo_fail_task.error, completed_at = now(), lease_until = NULL,
        available_at = NULL, attempt = v_attempt, claim = geo_fail_task.claim, updated_at = now()
    WHERE t.task_id = geo_fail_task.task_id;
    RETURN QUERY SELECT 'failed'::text, NULL::timestamptz, geo_stage_finish(v_task.job_id, v_task.stage, 0, 1);
  END IF;
END
$$;

-- Extends the lease of the claim that holds the task (call it every third of
-- the lease while a handler runs). `lost`: the claim no longer holds the
-- task (its lease lapsed and it was taken over, or it finished); stop, and
-- acknowledge the message.
CREATE FUNCTION geo_renew_task(task_id text, claim bigint, lease interval)
RETURNS TABLE (outcome text, lease_until timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_task record;
  v_standing text;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT t.status, t.claim INTO v_task FROM tasks t WHERE t.task_id = geo_renew_task.task_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::timestamptz;
    RETURN;
  END IF;
  v_standing := geo_claim_standing(v_task.status, v_task.claim, geo_renew_task.claim);
  IF v_standing IS NULL THEN
    RETURN QUERY SELECT 'lost'::text, NULL::timestamptz;
    RETURN;
  END IF;
  RETURN QUERY
  UPDATE tasks t
  SET lease_until = now() + lease, status = 'processing', claim = geo_renew_task.claim,
      attempt = t.attempt + CASE WHEN v_standing = 'restored' THEN 1 ELSE 0 END,
      started_at = CASE WHEN v_standing = 'restored' THEN now() ELSE t.started_at END,
      available_at = NULL, updated_at = now()
  WHERE t.task_id = geo_renew_task.task_id
  RETURNING 'renewed'::text, t.lease_until;
END
$$;

-- Gives a claim back without running the task (no handler for its type on
-- this worker, or the worker is stopping): the task is queued again, the
-- attempt does not count, and geo sends it again after `delay`.
CREATE FUNCTION geo_release_task(task_id text, claim bigint, delay interval)
RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_task record;
BEGIN
  SELECT t.status, t.claim, t.job_id, t.stage INTO v_task FROM tasks t WHERE t.task_id = geo_release_task.task_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'missing';
  END IF;
  IF geo_claim_standing(v_task.status, v_task.claim, geo_release_task.claim) IS DISTINCT FROM 'held' THEN
    RETURN 'stale';
  END IF;
  IF geo_task_job_ended(v_task.job_id, v_task.stage) THEN
    UPDATE tasks t SET status = 'cancelled', worker = NULL, lease_until = NULL, available_at = NULL, updated_at = now()
    WHERE t.task_id = geo_release_task.task_id;
    RETURN 'cancelled';
  END IF;
  UPDATE tasks t
  SET status = 'queued', worker = NULL, lease_until = NULL, attempt = greatest(t.attempt - 1, 0),
      available_at = now() + coalesce(delay, interval '0'), updated_at = now()
  WHERE t.task_id = geo_release_task.task_id;
  PERFORM geo_owe_delivery(geo_release_task.task_id, v_task.job_id, now() + coalesce(delay, interval '0'), 'released');
  RETURN 'released';
END
$$;

-- Internal (geo's own worker; may change): geo_claim_task for the tasks of
-- one receive, in task id order so two overlapping groups cannot deadlock.
CREATE FUNCTION geo_claim_tasks(task_ids text[], worker text, lease interval)
RETURNS TABLE (task_id text, outcome text, claim bigint, attempt integer, task_type text, parameters jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_id text;
BEGIN
  FOR v_id IN SELECT DISTINCT i.id FROM unnest(task_ids) AS i (id) ORDER BY i.id LOOP
    RETURN QUERY SELECT v_id, c.outcome, c.claim, c.attempt, c.task_type, c.parameters
                 FROM geo_claim_task(v_id, worker, lease) c;
  END LOOP;
END
$$;

-- Internal: the local queue (jobs whose task rows are their messages): due
-- retries and released tasks, then new tasks, each in the order of its
-- partial index and only as far as needed. A task whose lease lapsed is put
-- back by the sweep first (it counts that attempt). Only jobs that are
-- running and, when `job_types` is given, of those types: a worker leaves
-- alone what it cannot run. The job is a per-row lookup, not a join, so the
-- planner keeps the index order and stops at the limit. SKIP LOCKED gives
-- concurrent workers disjoint tasks without waiting.
CREATE FUNCTION geo_claim_next(worker text, max_tasks integer, lease interval, job_types text[])
RETURNS TABLE (task_id text, job_id text, job_type text, stage integer, batch_id text, task_type text,
               parameters jsonb, claim bigint, attempt integer)
LANGUAGE sql AS $$
  WITH due AS (
    SELECT t.task_id FROM tasks t
    WHERE t.status = 'queued' AND t.available_at <= now()
      AND (SELECT j.tasks_are_messages AND j.status = 'processing' AND (job_types IS NULL OR j.job_type = ANY (job_types))
           FROM jobs j WHERE j.job_id = t.job_id)
    ORDER BY t.available_at NULLS FIRST -- the order of tasks_ready, so no sort
    LIMIT max_tasks
    FOR UPDATE SKIP LOCKED
  ), fresh AS (
    SELECT t.task_id FROM tasks t
    WHERE t.status = 'queued' AND t.available_at IS NULL
      AND (SELECT j.tasks_are_messages AND j.status = 'processing' AND (job_types IS NULL OR j.job_type = ANY (job_types))
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

-- Internal: geo_complete_task for a group, one row per element (a repeated
-- id is a `duplicate` or `stale`); stage_completed is true on one row per
-- stage this call finished.
CREATE FUNCTION geo_complete_tasks(task_ids text[], claims bigint[], results jsonb[])
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
  IF cardinality(task_ids) IS DISTINCT FROM cardinality(results) OR cardinality(task_ids) IS DISTINCT FROM cardinality(claims) THEN
    RAISE EXCEPTION 'geo_complete_tasks: % task ids, % claims, % results', cardinality(task_ids), cardinality(claims), cardinality(results)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  -- In id order, so two overlapping groups cannot deadlock.
  PERFORM 1 FROM tasks t WHERE t.task_id = ANY (task_ids) ORDER BY t.task_id FOR UPDATE;
  WITH input AS (
    SELECT DISTINCT ON (i.id) i.id, i.claim, i.result
    FROM unnest(task_ids, claims, results) WITH ORDINALITY AS i (id, claim, result, n)
    ORDER BY i.id, i.n
  ), done AS (
    UPDATE tasks t
    SET status = 'completed', result = i.result, completed_at = now(), lease_until = NULL,
        available_at = NULL, claim = i.claim, updated_at = now()
    FROM input i
    WHERE t.task_id = i.id AND geo_claim_standing(t.status, t.claim, i.claim) IS NOT NULL
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
    SELECT i.id, i.claim, i.n, i.n = min(i.n) OVER (PARTITION BY i.id) AS first
    FROM unnest(task_ids, claims) WITH ORDINALITY AS i (id, claim, n)
  )
  SELECT i.id,
         CASE WHEN i.first AND d.id IS NOT NULL THEN 'completed'
              -- Read only for what this call did not complete (rare): no second lookup per task.
              ELSE coalesce((SELECT CASE WHEN t.status = 'completed' AND t.claim = i.claim THEN 'duplicate' ELSE 'stale' END
                             FROM tasks t WHERE t.task_id = i.id), 'missing') END,
         coalesce(i.first AND i.id = ANY (v_finishers), false)
  FROM input i
  LEFT JOIN unnest(v_done) AS d (id) ON d.id = i.id
  ORDER BY i.n;
END
$$;

-- Internal: extends the leases of the claims that still hold their tasks;
-- returns those task ids (a task missing from the result was taken over or
-- finished).
CREATE FUNCTION geo_renew_tasks(task_ids text[], claims bigint[], lease interval)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  UPDATE tasks t SET lease_until = now() + lease
  FROM (SELECT h.task_id FROM tasks h
        JOIN unnest(task_ids, claims) AS i (id, claim) ON i.id = h.task_id
        WHERE h.status = 'processing' AND h.claim = i.claim
        ORDER BY h.task_id FOR UPDATE OF h) held
  WHERE t.task_id = held.task_id
  RETURNING t.task_id;
END
$$;

-- Internal: a stopping worker gives its unstarted tasks back, as
-- geo_release_task does for each; returns how many it held.
CREATE FUNCTION geo_release_tasks(task_ids text[], claims bigint[], delay interval)
RETURNS integer
LANGUAGE sql AS $$
  SELECT count(*)::integer FROM (
    SELECT geo_release_task(i.id, i.claim, delay) AS outcome
    FROM unnest(task_ids, claims) AS i (id, claim) ORDER BY i.id
  ) r WHERE r.outcome = 'released'
$$;

-- Running jobs: what the sweep serves (their destinations, their dead-letter
-- queues) without reading every job ever run.
CREATE INDEX jobs_running ON jobs (created_at) WHERE status = 'processing';
