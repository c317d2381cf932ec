-- The lease-queue floor (../shared/peers/sqlq/lease_schema.sql) carrying the two
-- per-job index entries ff_engine keeps and the floor does not: a held lease's
-- expiry (how lost leases are found: ff.execution's execution_lease_expiry_idx)
-- and a finished job's purge time (how retention finds what to delete:
-- execution_retention_idx).  Nothing else is added.  drain.sh runs it beside the
-- floor and ff_engine to show what the two entries cost in the same run.
DROP TABLE IF EXISTS lqt, lqt_history;
CREATE TABLE lqt (LIKE lq INCLUDING DEFAULTS);
ALTER TABLE lqt ADD PRIMARY KEY (id), ADD COLUMN purge_at timestamptz;
CREATE SEQUENCE lqt_id_seq OWNED BY lqt.id;
ALTER TABLE lqt ALTER COLUMN id SET DEFAULT nextval('lqt_id_seq');
CREATE INDEX lqt_ready ON lqt (lane, priority DESC, id) WHERE state = 0;
CREATE INDEX lqt_lease_expiry ON lqt (lease_until) WHERE state = 1;
CREATE INDEX lqt_purge ON lqt (purge_at) WHERE state = 2;
CREATE TABLE lqt_history (LIKE lq_history INCLUDING DEFAULTS);
