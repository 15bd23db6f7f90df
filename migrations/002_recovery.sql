-- retry-pending finds tasks whose worker died mid-task; rows enter this index
-- only while they are processing, so it costs inserts nothing.
CREATE INDEX tasks_processing ON tasks (started_at) WHERE status = 'processing';
-- Failed batches waiting for a human (retry-pending --include-failed).
CREATE INDEX batches_failed ON batches (job_id) WHERE status = 'failed';
