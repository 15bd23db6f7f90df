-- A job's stage names, recorded with it as its stage count is: commands that
-- only read what the database records (geo status, jobs, batches, results)
-- name stages not created yet without loading the job type's module.
ALTER TABLE jobs ADD COLUMN stage_names text[];

-- Jobs written before this migration: named where every stage exists already.
UPDATE jobs j SET stage_names = s.names
  FROM (SELECT job_id, array_agg(name ORDER BY stage) AS names, count(*) AS created FROM stages GROUP BY job_id) s
 WHERE s.job_id = j.job_id AND s.created = j.stage_count;
