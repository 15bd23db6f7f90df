-- A task's true status. A batch acknowledged as a whole by the broker changes
-- only its own row (its tasks stay `pending_queue` and are `queued` through it,
-- see geo_task_status): every reader of task states reads this view, so none
-- has to remember that rule. Filters on job_id, stage and batch_index apply to
-- the batch row, so a job's or a stage's tasks are found through
-- batches_job_stage_index and tasks_batch.
CREATE VIEW task_states AS
SELECT t.task_id, b.job_id, b.stage, b.batch_index, t.batch_id, t.task_index, t.task_type,
       geo_task_status(t.status, b.status) AS status,
       t.parameters, t.result, t.error, t.attempt, t.retry_count, t.history, t.worker,
       t.lease_until, t.available_at, t.created_at, t.updated_at, t.started_at, t.completed_at
FROM tasks t
JOIN batches b ON b.batch_id = t.batch_id;
