-- geo_job_changed also when a job is paused or resumed: the dashboard shows
-- it, and a geo work process drops the tasks of that job it claimed but has
-- not started (a claim holds nothing back once the job stops running).
DROP TRIGGER jobs_changed_notify ON jobs;
CREATE TRIGGER jobs_changed_notify
  AFTER INSERT OR UPDATE OF status, paused_at ON jobs
  FOR EACH ROW EXECUTE FUNCTION geo_notify_job_changed();
