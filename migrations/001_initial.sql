-- Jobs, their stages, their batches and their tasks. A batch is the unit of the
-- outbox protocol (see docs/architecture.md); every task belongs to exactly one.

CREATE TABLE jobs (
  job_id          text PRIMARY KEY,
  job_type        text NOT NULL,
  parameters      jsonb NOT NULL,
  -- The transport the job's messages go to (the seeds' processing_path).
  processing_path text NOT NULL,
  status          text NOT NULL DEFAULT 'processing'
                  CHECK (status IN ('processing', 'completed', 'failed')),
  stage_count     integer NOT NULL,
  result          jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Counters let a worker decide "was that the stage's last task?" in O(1)
-- instead of counting the tasks table.
CREATE TABLE stages (
  job_id          text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
  stage           integer NOT NULL,
  name            text NOT NULL,
  task_count      integer NOT NULL,
  -- Fixed by the first dispatch so batch ids stay the same on every resume.
  batch_size      integer NOT NULL,
  completed_count integer NOT NULL DEFAULT 0,
  failed_count    integer NOT NULL DEFAULT 0,
  status          text NOT NULL DEFAULT 'queuing'
                  CHECK (status IN ('queuing', 'processing', 'completed', 'failed')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  completed_at    timestamptz,
  PRIMARY KEY (job_id, stage)
);

CREATE TABLE batches (
  batch_id        text PRIMARY KEY,
  job_id          text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
  stage           integer NOT NULL,
  batch_index     integer NOT NULL,
  task_count      integer NOT NULL,
  transport       text NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending_queue', 'queued', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  -- The sender's lease: until then no other process may send this batch.
  claimed_until   timestamptz,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  queued_at       timestamptz
);
CREATE UNIQUE INDEX batches_job_stage_index ON batches (job_id, stage, batch_index);
-- Recovery scans only the batches that need it, however large the table grows.
CREATE INDEX batches_pending ON batches (next_attempt_at) WHERE status = 'pending_queue';

CREATE TABLE tasks (
  task_id      text PRIMARY KEY,
  job_id       text NOT NULL,
  stage        integer NOT NULL,
  task_index   integer NOT NULL,
  -- No foreign key: a batch and its tasks are written by one statement, and a
  -- per-row key check would cost a lock on the batch row for every task.
  batch_id     text NOT NULL,
  task_type    text NOT NULL,
  status       text NOT NULL
               CHECK (status IN ('pending_queue', 'queued', 'processing', 'completed', 'failed')),
  parameters   jsonb NOT NULL,
  result       jsonb,
  error        text,
  retry_count  integer NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  completed_at timestamptz
);
-- Per-batch reports, per-batch status updates and reading a stage's results
-- (batch by batch, in batch order) touch only the rows they need. This is the
-- only secondary index written on every insert: each one costs about 15% of
-- insert throughput.
CREATE INDEX tasks_batch ON tasks (batch_id);
-- Failed tasks are few; this keeps counting them proportional to failures.
CREATE INDEX tasks_failed ON tasks (job_id, stage, batch_id) WHERE status = 'failed';
