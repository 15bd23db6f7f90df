-- Owned claims, wider ids, recorded destinations and stage leases
-- (docs/architecture.md, "Claims" and "Ids").

-- Task and batch ids carry this prefix of the job id: 16 hex digits for new
-- jobs (negligible collisions at a billion jobs), 8 for jobs written before,
-- whose stored ids must keep matching what a resume computes.
ALTER TABLE jobs ADD COLUMN id_prefix text;
UPDATE jobs j SET id_prefix = CASE
  WHEN EXISTS (SELECT 1 FROM batches b WHERE b.job_id = j.job_id) THEN left(j.job_id, 8)
  ELSE left(j.job_id, 16) END;
ALTER TABLE jobs ALTER COLUMN id_prefix SET NOT NULL;
-- Two jobs sharing a prefix would share task ids: the second insert fails here,
-- in the statement that would create it, so a colliding job writes nothing.
CREATE UNIQUE INDEX jobs_id_prefix ON jobs (id_prefix);

-- Where the job's messages go (queue, namespace or account host; never a
-- key), so one retry-pending can serve jobs spread over several queues.
ALTER TABLE jobs ADD COLUMN destination jsonb;

-- Every claim on a batch carries its owner's token; only the owner may renew
-- it or record the batch's sends.
ALTER TABLE batches ADD COLUMN claim_token uuid;

-- A stage is written by one process at a time under a lease, like a batch.
-- `queuing` until every task is written; a stage whose writer died is found
-- by its lapsed lease and finished by retry-pending.
ALTER TABLE stages ADD COLUMN claimed_until timestamptz;
ALTER TABLE stages ADD COLUMN claim_token uuid;
ALTER TABLE stages ADD COLUMN written_at timestamptz;
CREATE INDEX stages_queuing ON stages (claimed_until) WHERE status = 'queuing';
