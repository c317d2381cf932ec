-- ff_engine install script: bounds on caller documents that statements grow
-- in place.  set_execution_tags and set_flow_tags merge into the stored
-- tags (tags = tags || ...); each call's pairs are bounded, and this
-- trigger bounds the document they build, by ff_engine.max_json_bytes
-- (54000, nothing written).  It fires only for statements that set tags.

CREATE FUNCTION ff._json_limit() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ff_json_limit_trigger' LANGUAGE C;
COMMENT ON FUNCTION ff._json_limit() IS
    'Trigger: the jsonb columns named as its arguments stay within ff_engine.max_json_bytes (54000)';

CREATE TRIGGER tags_limit BEFORE UPDATE OF tags ON ff.execution_data
    FOR EACH ROW EXECUTE FUNCTION ff._json_limit('tags');
CREATE TRIGGER tags_limit BEFORE UPDATE OF tags ON ff.flow
    FOR EACH ROW EXECUTE FUNCTION ff._json_limit('tags');

-- The worker-id rule of claims (1..256 bytes, no whitespace or control
-- characters; NULL 22004, else 22023 / 22001), for ff.register_worker: the
-- C check claims apply, so a worker registers under an id it can claim with.
CREATE FUNCTION ff._check_worker_id(id text, name text) RETURNS void
    AS 'MODULE_PATHNAME', 'ff_check_worker_id_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ff._check_worker_id(text, text) IS
    'Internal: raises as a claim does for an invalid worker id (NULL, empty, over 256 bytes, whitespace or control characters)';
