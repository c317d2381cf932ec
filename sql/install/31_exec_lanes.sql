-- ff_engine install script: lane controls (issue 26).  See src/exec_lane.c.
--
-- Administrators only (ff_admin, or a superuser): a lane is shared by every
-- namespace, so a tenant pausing or limiting it would act on the others.
-- A restricted caller (bound to namespaces) holding ff_admin is still an
-- administrator; ff_worker / ff_submitter / ff_reader get 42501.

CREATE FUNCTION ff.pause_lane(lane_id text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ff_pause_lane' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ff.pause_lane(text) IS
    'Pauses a lane: claims on it (claim_next, grant-consuming claims, reclaims) take nothing until ff.resume_lane; creates, completions and scanners go on. Administrators only';

CREATE FUNCTION ff.resume_lane(lane_id text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ff_resume_lane' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ff.resume_lane(text) IS
    'Resumes a paused lane (idempotent). Administrators only';

CREATE FUNCTION ff.set_lane_limit(lane_id text, max_active integer) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ff_set_lane_limit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_lane_limit(text, integer) IS
    'At most max_active executions of the lane hold a live lease at once (NULL: no limit); a claim takes at most the free slots. Administrators only';

CREATE FUNCTION ff._lane_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ff_lane_changed' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._lane_changed() IS
    'Internal (trigger): a change to ff.lane makes every backend reload its lane controls once it commits';

CREATE TRIGGER lane_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ff.lane
    FOR EACH STATEMENT EXECUTE FUNCTION ff._lane_changed();

-- Every lane with controls, and how many of its executions hold a live
-- lease now.  Rows for administrators only (lanes are global).
CREATE VIEW ff.lanes WITH (security_barrier) AS
SELECT l.lane_id, l.paused, l.max_active,
       (SELECT count(*) FROM ff.execution e
        WHERE e.lane_id = l.lane_id AND e.lifecycle_phase = 'active'
          AND e.ownership_state = 'leased') AS active_leases,
       l.updated_at, l.updated_by
FROM ff.lane l
WHERE ff._is_admin();
COMMENT ON VIEW ff.lanes IS
    'Lanes with controls: paused, max_active (NULL: no limit), leases held now, last change; rows only for administrators';
