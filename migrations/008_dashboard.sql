-- What `geo dashboard` reads: the jobs list newest first, and notifications
-- of the rare changes nothing else announces (a job created or ending, a
-- stage created or changing status). Nothing here is on the path of a task:
-- the counter updates of geo_stage_finish do not set stages.status, so the
-- stage trigger is not even considered for them.

-- The jobs list pages by (created_at, job_id) from the newest (keyset), with
-- or without a filter on status or type. Jobs are written rarely, so three
-- small indexes cost nothing that matters.
CREATE INDEX jobs_newest ON jobs (created_at, job_id);
CREATE INDEX jobs_status_newest ON jobs (status, created_at, job_id);
CREATE INDEX jobs_type_newest ON jobs (job_type, created_at, job_id);

-- Payload: the job id. Sent at commit, once per transaction and payload.
CREATE FUNCTION geo_notify_job_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('geo_job_changed', NEW.job_id);
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_changed_notify
  AFTER INSERT OR UPDATE OF status ON jobs
  FOR EACH ROW EXECUTE FUNCTION geo_notify_job_changed();

-- Payload: `<jobId>:<stage>`, as geo_stage_completed.
CREATE FUNCTION geo_notify_stage_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('geo_stage_changed', NEW.job_id || ':' || NEW.stage);
  RETURN NULL;
END
$$;

CREATE TRIGGER stages_created_notify
  AFTER INSERT ON stages
  FOR EACH ROW EXECUTE FUNCTION geo_notify_stage_changed();

CREATE TRIGGER stages_status_notify
  AFTER UPDATE OF status ON stages
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION geo_notify_stage_changed();
