-- The consumer side: task leases, retry policy, the stage-completion outbox.
-- The completion API (geo_claim_task, geo_complete_task, geo_fail_task,
-- geo_claim_next) is defined in 005_completion_api.sql.

-- A worker's claim on a task: who holds it and until when. `attempt` counts
-- claims (1 on the first); geo_fail_task names the attempt it reports, so a
-- report from an attempt that lost its lease changes nothing.
ALTER TABLE tasks ADD COLUMN worker text;
ALTER TABLE tasks ADD COLUMN lease_until timestamptz;
ALTER TABLE tasks ADD COLUMN attempt integer NOT NULL DEFAULT 0;
-- When a task waiting for a retry may be delivered again (the local queue
-- reads it; brokers get a scheduled message).
ALTER TABLE tasks ADD COLUMN available_at timestamptz;

-- The local queue: ready tasks, found without scanning finished ones.
CREATE INDEX tasks_ready ON tasks (available_at NULLS FIRST) WHERE status = 'queued';
-- Expired worker leases (dead workers), for takeover and for retry-pending.
DROP INDEX tasks_processing;
CREATE INDEX tasks_processing ON tasks (lease_until) WHERE status = 'processing';

-- The retry policy of the stage's task type (from its job type), so any
-- worker calling geo_fail_task gets the same decision.
ALTER TABLE stages ADD COLUMN max_retries integer NOT NULL DEFAULT 3;
ALTER TABLE stages ADD COLUMN retry_base_ms integer NOT NULL DEFAULT 5000;
ALTER TABLE stages ADD COLUMN retry_max_ms integer NOT NULL DEFAULT 300000;
-- A stage with permanently failed tasks fails its job unless this is set.
ALTER TABLE stages ADD COLUMN accept_partial boolean NOT NULL DEFAULT false;

ALTER TABLE jobs ADD COLUMN completed_at timestamptz;
-- The first errors of the failed tasks that failed the job.
ALTER TABLE jobs ADD COLUMN errors jsonb;

-- The outbox of stage completions: written in the transaction of the
-- completion (or final failure) that finished the stage, exactly once per
-- stage, and handled (next stage queued, or the job completed) by geo work or
-- by retry-pending under a lease, idempotently.
CREATE TABLE stage_completions (
  job_id        text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
  stage         integer NOT NULL,
  -- 'completed', or 'failed' when some of its tasks failed permanently.
  outcome       text NOT NULL CHECK (outcome IN ('completed', 'failed')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  claimed_until timestamptz,
  claim_token   uuid,
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  handled_at    timestamptz,
  PRIMARY KEY (job_id, stage)
);
CREATE INDEX stage_completions_open ON stage_completions (created_at) WHERE handled_at IS NULL;

-- A task's status as everyone reads it. A sending transport records a batch
-- acknowledged as a whole on the batch row alone (one row instead of 100):
-- its tasks stay `pending_queue` until a worker touches them, and read as
-- `queued` through their batch. Every report and every foreign reader uses
-- this, never tasks.status alone.
CREATE FUNCTION geo_task_status(task_status text, batch_status text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN task_status = 'pending_queue' AND batch_status = 'queued' THEN 'queued' ELSE task_status END;
