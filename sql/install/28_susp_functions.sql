-- ff_engine install script: suspension, waitpoints, signals and waitpoint
-- tokens (behaviour/suspension).  The state-changing operations are C; the
-- keystore administration and the read models are SQL over the tables.

CREATE FUNCTION ff.suspend_execution(
    execution_id text,
    attempt_index integer,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    suspension_id uuid,
    waitpoint_id uuid,
    waitpoint_key text,
    reason_code text,
    resume_condition jsonb,
    timeout_at bigint DEFAULT NULL,
    timeout_behavior text DEFAULT 'fail',
    requested_by text DEFAULT 'worker',
    resume_policy jsonb DEFAULT NULL,
    continuation_metadata_pointer text DEFAULT NULL,
    use_pending_waitpoint boolean DEFAULT false,
    idempotency_key text DEFAULT NULL,
    dedup_ttl_ms bigint DEFAULT NULL,
    extra_waitpoint_ids uuid[] DEFAULT NULL,
    extra_waitpoint_keys text[] DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_suspend_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.suspend_execution(text, integer, uuid, bigint, uuid, uuid, uuid, text, text, jsonb, bigint, text, text, jsonb, text, boolean, text, bigint, uuid[], text[]) IS
    'The lease holder suspends its attempt on waitpoints until a resume condition, an operator or a timeout (behaviour/suspension §4.1)';

CREATE FUNCTION ff.create_pending_waitpoint(
    execution_id text,
    attempt_index integer,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    waitpoint_id uuid,
    waitpoint_key text,
    expires_at bigint)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_pending_waitpoint' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_pending_waitpoint(text, integer, uuid, bigint, uuid, uuid, text, bigint) IS
    'Creates a waitpoint (and its token) before suspending, so early signals are buffered (behaviour/suspension §4.2)';

CREATE FUNCTION ff.close_waitpoint(
    execution_id text,
    waitpoint_id uuid,
    reason text DEFAULT 'proactive_close',
    lease_id uuid DEFAULT NULL,
    lease_epoch bigint DEFAULT NULL,
    attempt_id uuid DEFAULT NULL,
    source text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_close_waitpoint' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.close_waitpoint(text, uuid, text, uuid, bigint, uuid, text) IS
    'Closes a pending waitpoint; fenced by the lease, or source => operator_override (behaviour/suspension §4.3)';

CREATE FUNCTION ff.deliver_signal(
    execution_id text,
    waitpoint_id uuid,
    signal_id uuid,
    signal_name text,
    waitpoint_token text,
    payload bytea DEFAULT NULL,
    signal_category text DEFAULT '',
    source_type text DEFAULT '',
    source_identity text DEFAULT '',
    idempotency_key text DEFAULT '',
    correlation_id text DEFAULT '',
    payload_encoding text DEFAULT 'json',
    target_scope text DEFAULT 'waitpoint',
    created_at bigint DEFAULT NULL,
    dedup_ttl_ms bigint DEFAULT 86400000,
    resume_delay_ms bigint DEFAULT 0,
    max_signals_per_execution integer DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_deliver_signal' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.deliver_signal(text, uuid, uuid, text, text, bytea, text, text, text, text, text, text, text, bigint, bigint, bigint, integer) IS
    'Delivers a signal to a waitpoint, authorised by its token; resumes the execution when the condition is met (behaviour/suspension §4.4)';

CREATE FUNCTION ff.buffer_signal_for_pending_waitpoint(
    execution_id text,
    waitpoint_id uuid,
    signal_id uuid,
    signal_name text,
    waitpoint_token text,
    payload bytea DEFAULT NULL,
    signal_category text DEFAULT '',
    source_type text DEFAULT '',
    source_identity text DEFAULT '',
    idempotency_key text DEFAULT '',
    correlation_id text DEFAULT '',
    payload_encoding text DEFAULT 'json',
    target_scope text DEFAULT 'waitpoint',
    created_at bigint DEFAULT NULL,
    dedup_ttl_ms bigint DEFAULT 86400000,
    resume_delay_ms bigint DEFAULT 0,
    max_signals_per_execution integer DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_buffer_signal_for_pending_waitpoint' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.buffer_signal_for_pending_waitpoint(text, uuid, uuid, text, text, bytea, text, text, text, text, text, text, text, bigint, bigint, bigint, integer) IS
    'Records a signal for a pending waitpoint, evaluated when a suspend activates it; a full delivery on an active one (behaviour/suspension §4.5)';

CREATE FUNCTION ff.resume_execution(
    execution_id text,
    trigger_type text DEFAULT 'operator',
    resume_delay_ms bigint DEFAULT 0)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_resume_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.resume_execution(text, text, bigint) IS
    'Operator resume of a suspended execution, optionally after a delay (behaviour/suspension §4.6)';

CREATE FUNCTION ff.expire_suspension(execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_expire_suspension' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.expire_suspension(text) IS
    'Applies a due suspension''s timeout behaviour: fail, cancel, expire, auto_resume or escalate (behaviour/suspension §4.7)';

-- ---- waitpoint HMAC keystore (behaviour/suspension §5.4, §5.8) ----

CREATE FUNCTION ff._hmac_sha1_hex(key bytea, message bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_hmac_sha1_hex_sql' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION ff._hmac_sha1_hex(bytea, bytea) IS 'Internal: HMAC-SHA1 as 40 hex digits (token digests)';
REVOKE ALL ON FUNCTION ff._hmac_sha1_hex(bytea, bytea) FROM PUBLIC;

CREATE FUNCTION ff._random_secret() RETURNS bytea
    AS 'MODULE_PATHNAME', 'ff_random_secret_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._random_secret() IS 'Internal: 32 random bytes for a waitpoint key';
REVOKE ALL ON FUNCTION ff._random_secret() FROM PUBLIC;

-- A working keystore from the start: kid k1 with a random secret that never
-- leaves the database.  Rotate to your own secret with
-- ff.rotate_waitpoint_hmac_secret.
INSERT INTO ff.waitpoint_hmac_key (kid, secret, is_current, installed_at)
VALUES ('k1', ff._random_secret(), true, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);

-- The input checks shared by seed and rotate: NULL when fine, else the code.
CREATE FUNCTION ff._hmac_input_error(kid text, secret_hex text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN kid IS NULL OR kid = '' OR position(':' IN kid) > 0 OR octet_length(kid) > 256 THEN 'invalid_kid'
        WHEN secret_hex IS NULL OR secret_hex !~ '^([0-9a-fA-F]{2})+$' OR length(secret_hex) > 1024 THEN 'invalid_secret_hex'
    END
$$;
COMMENT ON FUNCTION ff._hmac_input_error(text, text) IS 'Internal: kid / secret input check';

-- Every MAC input (waitpoint id, key, created_at) is readable by the
-- execution's readers, so one token lets anyone test guesses of the secret
-- offline: only a secret with 256 bits is accepted.  Misuse, not a domain
-- outcome: raised before anything is written.
CREATE FUNCTION ff._hmac_require_strong_secret(secret_hex text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF octet_length(decode(secret_hex, 'hex')) < 32 THEN
        RAISE EXCEPTION 'a waitpoint secret must be at least 32 bytes (64 hex digits), got %',
                        octet_length(decode(secret_hex, 'hex'))
            USING ERRCODE = '22023',
                  HINT = 'Generate one from a strong random source, e.g. openssl rand -hex 32.';
    END IF;
END $$;
COMMENT ON FUNCTION ff._hmac_require_strong_secret(text) IS 'Internal: refuses (22023) a waitpoint secret shorter than 32 bytes';

CREATE FUNCTION ff.rotate_waitpoint_hmac_secret(new_kid text, new_secret_hex text, grace_ms numeric DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    err text := ff._hmac_input_error(new_kid, new_secret_hex);
    secret bytea;
    now_ bigint := ff.now_ms();
    cur ff.waitpoint_hmac_key;
    other ff.waitpoint_hmac_key;
    gc integer;
    grace bigint;
BEGIN
    IF err IS NOT NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', err);
    END IF;
    IF grace_ms IS NULL THEN
        grace := coalesce(ff._setting_ms('ff_engine.waitpoint_hmac_grace'), 86400000);
    ELSIF grace_ms < 0 OR grace_ms <> trunc(grace_ms) OR grace_ms > 9007199254740991 THEN
        RETURN jsonb_build_object('ok', false, 'error', 'invalid_grace_ms');
    ELSE
        grace := grace_ms::bigint;
    END IF;
    PERFORM ff._hmac_require_strong_secret(new_secret_hex);
    secret := decode(new_secret_hex, 'hex');
    -- one rotation at a time; readers (token checks) are not blocked
    LOCK TABLE ff.waitpoint_hmac_key IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO cur FROM ff.waitpoint_hmac_key k WHERE k.is_current;
    IF FOUND AND cur.kid = new_kid THEN
        -- behaviour/suspension §C.25: the decoded bytes are compared, not the hex text
        IF cur.secret = secret THEN
            RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'noop', 'kid', new_kid);
        END IF;
        RETURN jsonb_build_object('ok', false, 'error', 'rotation_conflict', 'kid', new_kid);
    END IF;
    SELECT * INTO other FROM ff.waitpoint_hmac_key k WHERE k.kid = new_kid;
    IF FOUND AND other.secret <> secret THEN
        -- behaviour/suspension §C.24: an older kid is never re-keyed
        RETURN jsonb_build_object('ok', false, 'error', 'rotation_conflict', 'kid', new_kid);
    END IF;
    -- garbage: kids whose grace has passed (a kid expiring now still verifies)
    WITH gone AS (DELETE FROM ff.waitpoint_hmac_key k
                  WHERE NOT k.is_current AND k.kid <> new_kid
                    AND (k.expires_at IS NULL OR k.expires_at <= 0 OR k.expires_at < now_)
                  RETURNING 1)
    SELECT count(*) INTO gc FROM gone;
    IF cur.kid IS NOT NULL THEN
        UPDATE ff.waitpoint_hmac_key k SET is_current = false, expires_at = now_ + grace WHERE k.kid = cur.kid;
    END IF;
    INSERT INTO ff.waitpoint_hmac_key AS k (kid, secret, is_current, expires_at, installed_at)
    VALUES (new_kid, secret, true, NULL, now_)
    ON CONFLICT (kid) DO UPDATE SET is_current = true, expires_at = NULL;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'rotated',
                              'previous_kid', coalesce(cur.kid, ''), 'new_kid', new_kid, 'gc_count', gc);
END $$;
COMMENT ON FUNCTION ff.rotate_waitpoint_hmac_secret(text, text, numeric) IS
    'Makes new_kid the signing key (a secret of at least 32 bytes); tokens of the previous kid verify for grace_ms more (default ff_engine.waitpoint_hmac_grace)';

CREATE FUNCTION ff.seed_waitpoint_hmac_secret(kid text, secret_hex text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    err text := ff._hmac_input_error(kid, secret_hex);
    cur ff.waitpoint_hmac_key;
BEGIN
    IF err IS NOT NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', err);
    END IF;
    PERFORM ff._hmac_require_strong_secret(secret_hex);
    LOCK TABLE ff.waitpoint_hmac_key IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO cur FROM ff.waitpoint_hmac_key k WHERE k.is_current;
    IF NOT FOUND THEN
        INSERT INTO ff.waitpoint_hmac_key (kid, secret, is_current, installed_at)
        VALUES (seed_waitpoint_hmac_secret.kid, decode(secret_hex, 'hex'), true, ff.now_ms())
        ON CONFLICT ON CONSTRAINT waitpoint_hmac_key_pkey DO UPDATE SET secret = EXCLUDED.secret, is_current = true, expires_at = NULL;
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'seeded', 'kid', kid);
    ELSIF cur.kid = seed_waitpoint_hmac_secret.kid THEN
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'already_seeded', 'kid', kid,
                                  'same_secret', cur.secret = decode(secret_hex, 'hex'));
    END IF;
    RETURN jsonb_build_object('ok', false, 'error', 'invalid_input',
                              'detail', format('kid %s is current, not %s', cur.kid, kid));
END $$;
COMMENT ON FUNCTION ff.seed_waitpoint_hmac_secret(text, text) IS
    'Installs the first waitpoint key (a secret of at least 32 bytes) when the keystore has none (idempotent)';

CREATE FUNCTION ff.list_waitpoint_hmac_kids() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('ok', true, 'status', 'OK',
        'current_kid', coalesce((SELECT k.kid FROM ff.waitpoint_hmac_key k WHERE k.is_current), ''),
        'kids', coalesce((SELECT jsonb_agg(jsonb_build_object('kid', k.kid, 'expires_at', k.expires_at) ORDER BY k.kid)
                          FROM ff.waitpoint_hmac_key k
                          WHERE NOT k.is_current AND k.expires_at >= ff.now_ms()), '[]'))
$$;
COMMENT ON FUNCTION ff.list_waitpoint_hmac_kids() IS
    'The current kid and the older kids whose tokens still verify, with their expiry';

REVOKE ALL ON FUNCTION ff.rotate_waitpoint_hmac_secret(text, text, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION ff.seed_waitpoint_hmac_secret(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ff.list_waitpoint_hmac_kids() FROM PUBLIC;

-- ---- read models (behaviour/suspension §4.10) ----

CREATE FUNCTION ff.observe_signals(execution_id text, attempt_index integer)
RETURNS TABLE (signal_id uuid, signal_name text, signal_category text, source_type text,
               source_identity text, correlation_id text, accepted_at bigint, payload bytea)
LANGUAGE sql STABLE AS $$
    SELECT g.signal_id, g.signal_name, g.signal_category, g.source_type, g.source_identity,
           g.correlation_id, g.accepted_at, g.payload
    FROM ff.parse_execution_id($1) p
    JOIN ff.suspension s ON s.partition = p.partition AND s.execution_id = p.execution_uuid
    JOIN ff.visible_execution v ON v.partition = s.partition AND v.execution_id = s.execution_id
    CROSS JOIN LATERAL pg_catalog.unnest(CASE WHEN cardinality(s.all_satisfier_signals) > 0
            THEN s.all_satisfier_signals
            ELSE (SELECT w.cond_signal_ids FROM ff.waitpoint w
                  WHERE w.partition = s.partition AND w.waitpoint_id = s.primary_waitpoint_id) END)
        WITH ORDINALITY AS u(id, ord)
    JOIN ff.signal g ON g.partition = s.partition AND g.signal_id = u.id
    WHERE s.attempt_index = $2 AND s.close_reason = 'resumed'
    ORDER BY u.ord
$$;
COMMENT ON FUNCTION ff.observe_signals(text, integer) IS
    'The signals that resumed this attempt''s last suspension, with payloads (empty after a timeout or for another attempt)';

CREATE FUNCTION ff.list_pending_waitpoints(execution_id text, after uuid DEFAULT NULL, "limit" integer DEFAULT 100)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    k record;
    n integer := least(greatest(coalesce("limit", 100), 1), 1000);
    rows jsonb;
    more boolean;
    admin boolean := ff._is_admin();
BEGIN
    SELECT p.partition, p.execution_uuid INTO k FROM ff.parse_execution_id(execution_id) p;
    IF NOT EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = k.partition AND e.execution_id = k.execution_uuid) THEN
        RETURN '{"ok": false, "error": "execution_not_found"}';
    END IF;
    WITH page AS (
        SELECT w.* FROM ff.waitpoint w
        WHERE w.partition = k.partition AND w.execution_id = k.execution_uuid
          AND w.state IN ('pending', 'active') AND w.token <> ''
          AND (after IS NULL OR w.waitpoint_id > after)
        ORDER BY w.waitpoint_id LIMIT n + 1)
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'waitpoint_id', w.waitpoint_id, 'waitpoint_key', w.waitpoint_key, 'state', w.state,
               'required_signal_names', to_jsonb(ARRAY(SELECT x FROM unnest(w.cond_names) x WHERE x <> '')),
               'created_at', w.created_at, 'activated_at', w.activated_at, 'expires_at', w.expires_at,
               'execution_id', list_pending_waitpoints.execution_id, 'token_kid', split_part(w.token, ':', 1),
               -- 64 bits of the MAC: enough to test guesses of the secret, so admins only
               'token_fingerprint', CASE WHEN admin THEN left(substr(w.token, position(':' IN w.token) + 1), 16) END))
               ORDER BY w.waitpoint_id) FILTER (WHERE w.rn <= n), '[]'),
           count(*) > n
      INTO rows, more
      FROM (SELECT page.*, row_number() OVER (ORDER BY page.waitpoint_id) AS rn FROM page) w;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'waitpoints', rows,
                              'next_cursor', CASE WHEN more THEN rows -> (n - 1) -> 'waitpoint_id' END);
END $$;
COMMENT ON FUNCTION ff.list_pending_waitpoints(text, uuid, integer) IS
    'Open (pending and active) waitpoints of an execution with the token''s kid (and for ff_admin its fingerprint), never the token; pages by waitpoint_id';

CREATE FUNCTION ff.read_waitpoint_token(execution_id text, waitpoint_id uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT nullif(w.token, '') FROM ff.parse_execution_id($1) p
    JOIN ff.waitpoint w ON w.partition = p.partition AND w.waitpoint_id = $2
$$;
COMMENT ON FUNCTION ff.read_waitpoint_token(text, uuid) IS
    'The stored token of a waitpoint (a bearer credential: operators only)';
REVOKE ALL ON FUNCTION ff.read_waitpoint_token(text, uuid) FROM PUBLIC;

CREATE FUNCTION ff.list_suspended("limit" integer DEFAULT 100, after_suspended_at bigint DEFAULT NULL,
                                  after_execution_id text DEFAULT NULL)
RETURNS TABLE (execution_id text, lane_id text, reason_code text, suspended_at bigint,
               timeout_at bigint, timeout_behavior text, waitpoint_id uuid)
LANGUAGE sql STABLE AS $$
    SELECT ff.format_execution_id(s.partition, s.execution_id), e.lane_id, s.reason_code, s.created_at,
           s.timeout_at, s.timeout_behavior, s.primary_waitpoint_id
    FROM ff.suspension s
    JOIN ff.visible_execution e ON e.partition = s.partition AND e.execution_id = s.execution_id
    WHERE s.closed_at IS NULL AND e.lifecycle_phase = 'suspended'
      AND ($2 IS NULL OR (s.created_at, s.partition, s.execution_id) >
           ($2, (ff.parse_execution_id(coalesce($3, '{fp:0}:00000000-0000-0000-0000-000000000000'))).partition,
                (ff.parse_execution_id(coalesce($3, '{fp:0}:00000000-0000-0000-0000-000000000000'))).execution_uuid))
    ORDER BY s.created_at, s.partition, s.execution_id
    LIMIT least(greatest(coalesce($1, 100), 1), 1000)
$$;
COMMENT ON FUNCTION ff.list_suspended(integer, bigint, text) IS
    'Suspended executions by when they suspended (keyset pages: pass the last row''s suspended_at and execution_id)';

-- The views are security_barrier: a caller's own (cheap, leaky) function in
-- a WHERE clause sees only the rows the view's visibility filter let through.
CREATE VIEW ff.suspensions WITH (security_barrier) AS
SELECT ff.format_execution_id(s.partition, s.execution_id) AS id, s.*
FROM ff.suspension s
WHERE EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = s.partition AND e.execution_id = s.execution_id);
COMMENT ON VIEW ff.suspensions IS 'The current or last suspension of each execution';

CREATE VIEW ff.waitpoints WITH (security_barrier) AS
SELECT ff.format_execution_id(w.partition, w.execution_id) AS execution, w.*
FROM ff.waitpoint w
WHERE EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = w.partition AND e.execution_id = w.execution_id);
COMMENT ON VIEW ff.waitpoints IS 'Every waitpoint with its condition record (tokens included: restrict to operators)';

CREATE VIEW ff.signals WITH (security_barrier) AS
SELECT ff.format_execution_id(g.partition, g.execution_id) AS execution, g.*
FROM ff.signal g
WHERE EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = g.partition AND e.execution_id = g.execution_id);
COMMENT ON VIEW ff.signals IS 'Every accepted signal with its observed effect';

CREATE FUNCTION ff.deliver_approval_signal(execution_id text, lane_id text, waitpoint_id uuid,
    signal_name text, idempotency_suffix text, signal_id uuid DEFAULT NULL,
    signal_dedup_ttl_ms bigint DEFAULT 86400000, max_signals_per_execution integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    stored_lane text;
    tok text;
BEGIN
    SELECT e.lane_id INTO stored_lane FROM ff.parse_execution_id(execution_id) p
    JOIN ff.visible_execution e ON e.partition = p.partition AND e.execution_id = p.execution_uuid;
    IF NOT FOUND THEN
        RETURN '{"ok": false, "error": "execution_not_found"}';
    END IF;
    IF stored_lane IS DISTINCT FROM lane_id THEN
        RETURN jsonb_build_object('ok', false, 'error', 'invalid_input',
                                  'detail', format('lane_mismatch: %s is not %s', lane_id, stored_lane));
    END IF;
    tok := ff.read_waitpoint_token(execution_id, waitpoint_id);
    IF tok IS NULL THEN
        RETURN '{"ok": false, "error": "waitpoint_not_found"}';
    END IF;
    RETURN ff.deliver_signal(execution_id, waitpoint_id, coalesce(signal_id, gen_random_uuid()), signal_name, tok,
        signal_category => 'approval', source_type => 'operator', source_identity => '',
        idempotency_key => format('approval:%s:%s', signal_name, idempotency_suffix),
        target_scope => 'execution', dedup_ttl_ms => signal_dedup_ttl_ms,
        max_signals_per_execution => max_signals_per_execution);
END $$;
COMMENT ON FUNCTION ff.deliver_approval_signal(text, text, uuid, text, text, uuid, bigint, integer) IS
    'Operator approval: delivers signal_name with the waitpoint''s stored token (behaviour/suspension §4.10)';
REVOKE ALL ON FUNCTION ff.deliver_approval_signal(text, text, uuid, text, text, uuid, bigint, integer) FROM PUBLIC;
