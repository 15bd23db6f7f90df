-- geo_cancel_tasks with a cursor: each call starts after the last batch the
-- call before it picked. Without it each call read again every batch already
-- handled (a queued batch stays queued; its task rows are read to find none
-- left), so marking a job of 1,000,000 tasks in chunks took quadratic time.
-- Returns the tasks marked and the last batch picked (NULL: none was left).
-- It replaces the two-argument form (a start from the first batch is
-- after_batch NULL), so one body does the marking.
DROP FUNCTION geo_cancel_tasks(text, integer);
CREATE FUNCTION geo_cancel_tasks(job_id text, max_batches integer, after_batch text)
RETURNS TABLE (cancelled integer, last_batch text)
LANGUAGE sql AS $$
  WITH picked AS (
    SELECT b.batch_id FROM batches b JOIN jobs j ON j.job_id = b.job_id
    WHERE b.job_id = geo_cancel_tasks.job_id AND j.status <> 'processing' AND b.status IN ('pending_queue', 'queued')
      AND (after_batch IS NULL OR b.batch_id > after_batch)
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
  SELECT (SELECT count(*)::integer FROM cancelled), (SELECT max(p.batch_id) FROM picked p)
$$;
