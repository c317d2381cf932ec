-- ff_engine install script: the execution scanners (spec §6).
--
-- Each ff.scan_<name>() does one bounded batch: it locks due executions
-- with FOR UPDATE SKIP LOCKED (so two scanners never take the same item)
-- and applies the per-item operation (the C functions of the operations).
-- The whole batch runs as one unit; only if it fails is it retried item by
-- item in subtransactions, recording the failures: after 3 consecutive
-- failures an item is skipped for 10 cycles of its scanner.  The engine
-- worker (and pg_cron, through ff.run_scanners) calls these through
-- ff.run_scanner, which records each run in ff.scanner_state.


-- The job registry (src/bgw_jobs.c): every background job, declared once
-- in C; its settings, the engine worker's schedule, ff.run_scanner, the
-- rows below and ff.scanner_status all come from it.
CREATE FUNCTION ff._jobs(OUT name text, OUT setting text, OUT interval_ms bigint, OUT default_interval_ms bigint,
                         OUT batch_size integer, OUT sql_function text, OUT at_commit boolean, OUT description text)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'ff_jobs_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._jobs() IS
    'Internal: the job registry: each background job, its interval setting (NULL: run only as commits wake the engine worker) and current interval, batch size and the SQL function doing one batch';

-- One row per scanner (a job with an interval): its cycle counter, what
-- its last run did and its last failed batch (recorded by the engine
-- worker; a success leaves it, last_error_at tells when).  A scanner
-- added by a later library gets its row on its first run.
CREATE TABLE ff.scanner_state (
    scanner           text PRIMARY KEY,
    cycle             bigint NOT NULL DEFAULT 0,
    runs              bigint NOT NULL DEFAULT 0,
    last_started_at   bigint,
    last_duration_ms  double precision,
    last_processed    integer,
    last_errors       integer,
    total_processed   bigint NOT NULL DEFAULT 0,
    total_errors      bigint NOT NULL DEFAULT 0,
    next_run_at       bigint,
    last_error_sqlstate text,
    last_error        text,
    last_error_at     bigint
);
INSERT INTO ff.scanner_state (scanner) SELECT j.name FROM ff._jobs() j WHERE j.setting IS NOT NULL;

-- Items a scanner failed on; skipped until skip_until_cycle once they fail
-- three times in a row.
CREATE TABLE ff.scanner_item_failure (
    scanner           text NOT NULL,
    partition         smallint NOT NULL,
    execution_id      uuid NOT NULL,
    failures          integer NOT NULL,
    skip_until_cycle  bigint NOT NULL DEFAULT 0,
    last_error        text,
    PRIMARY KEY (scanner, partition, execution_id)
);

-- The worker registry (spec §3.30): live workers and their capabilities,
-- read by the unblock scanner's route rule.  Tenancy (issue 20): a role
-- bound to namespaces registers only in its namespaces (42501), and
-- another tenant's registrations are not there for it (heartbeat and
-- mark_worker_dead answer not_registered, list_workers lists none).  Times
-- are the engine's: only an admin may pass now_ms; ttl_ms is at most
-- ff_engine.max_worker_ttl.  (The argument checks move to C with issue 22.)
CREATE TABLE ff.worker (
    namespace           text NOT NULL,
    worker_instance_id  text NOT NULL,
    worker_id           text NOT NULL,
    lanes               text[] NOT NULL DEFAULT '{}',
    capabilities        text[] NOT NULL DEFAULT '{}',
    ttl_ms              bigint NOT NULL,
    registered_at       bigint NOT NULL,
    last_heartbeat_at   bigint NOT NULL,
    expires_at          bigint NOT NULL,
    PRIMARY KEY (namespace, worker_instance_id)
);

CREATE FUNCTION ff.register_worker(worker_instance_id text, worker_id text,
    lanes text[] DEFAULT '{}', capabilities text[] DEFAULT '{}',
    ttl_ms bigint DEFAULT 30000, namespace text DEFAULT 'default', now_ms bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := ff._caller_now_ms(now_ms);
    max_ttl bigint := coalesce(ff._setting_ms('ff_engine.max_worker_ttl'), 3600000);
    ns text[] := ff._namespaces();
    live ff.worker;
BEGIN
    -- the ids as a claim checks them (bytes, not characters; no blank id)
    PERFORM ff._check_worker_id(worker_instance_id, 'worker_instance_id');
    PERFORM ff._check_worker_id(worker_id, 'worker_id');
    IF namespace IS NULL OR lanes IS NULL OR capabilities IS NULL THEN
        RAISE EXCEPTION 'worker_instance_id, worker_id, namespace, lanes and capabilities are required'
            USING ERRCODE = '22004';
    END IF;
    IF ttl_ms IS NULL OR ttl_ms <= 0 THEN
        RAISE EXCEPTION 'invalid_input: ttl_ms must be positive, got %', ttl_ms USING ERRCODE = '22023';
    END IF;
    -- no registration outlives the admin's bound: a worker must heartbeat
    IF ttl_ms > max_ttl THEN
        RAISE EXCEPTION 'invalid_input: ttl_ms % exceeds ff_engine.max_worker_ttl (% ms)', ttl_ms, max_ttl
            USING ERRCODE = '22023', HINT = 'Register with a shorter ttl_ms and heartbeat within it.';
    END IF;
    IF octet_length(namespace) > 256 THEN
        RAISE EXCEPTION 'the namespace is at most 256 bytes' USING ERRCODE = '22001';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(capabilities) c WHERE c IS NULL OR c = '' OR c ~ '[,[:space:][:cntrl:]]')
       OR cardinality(capabilities) > 256 THEN
        RAISE EXCEPTION 'capabilities must be at most 256 non-empty tokens without commas, whitespace or control characters'
            USING ERRCODE = '22023';
    END IF;
    IF cardinality(lanes) > 1024 OR cardinality(capabilities) > 1024 THEN
        RAISE EXCEPTION 'a worker registers at most 1024 lanes and 1024 capabilities' USING ERRCODE = '54000';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(lanes) l WHERE l IS NULL OR l = '' OR length(l) > 256 OR l ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'lanes must be non-empty lane ids' USING ERRCODE = '22023';
    END IF;
    IF ns IS NOT NULL AND NOT (register_worker.namespace = ANY (ns)) THEN
        RAISE EXCEPTION 'namespace "%" is not granted to the calling role', register_worker.namespace
            USING ERRCODE = '42501', HINT = 'An administrator grants it with ff.grant_namespace.';
    END IF;
    SELECT * INTO live FROM ff.worker w
    WHERE w.namespace = register_worker.namespace AND w.worker_instance_id = register_worker.worker_instance_id
      AND w.expires_at > now_
    FOR UPDATE;
    -- Appendix C #12: an instance id is not reassigned while its registration lives
    IF live.worker_id IS NOT NULL AND live.worker_id <> register_worker.worker_id THEN
        RETURN jsonb_build_object('ok', false, 'error', 'invalid_input', 'detail', 'instance_id reassigned');
    END IF;
    INSERT INTO ff.worker AS w VALUES (namespace, worker_instance_id, worker_id,
        (SELECT coalesce(array_agg(DISTINCT l ORDER BY l), '{}') FROM unnest(lanes) l),
        (SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') FROM unnest(capabilities) c),
        ttl_ms, now_, now_, now_ + ttl_ms)
    ON CONFLICT ON CONSTRAINT worker_pkey DO UPDATE SET worker_id = EXCLUDED.worker_id, lanes = EXCLUDED.lanes,
        capabilities = EXCLUDED.capabilities, ttl_ms = EXCLUDED.ttl_ms, registered_at = now_,
        last_heartbeat_at = now_, expires_at = now_ + EXCLUDED.ttl_ms;
    RETURN jsonb_build_object('ok', true, 'status', 'OK',
        'result', CASE WHEN live.worker_id IS NOT NULL THEN 'refreshed' ELSE 'registered' END);
END $$;
COMMENT ON FUNCTION ff.register_worker(text, text, text[], text[], bigint, text, bigint) IS
    'Registers (or refreshes) a live worker, its lanes and capabilities for ttl_ms (at most ff_engine.max_worker_ttl) in a namespace of the caller (budgets spec §6.1)';

CREATE FUNCTION ff.heartbeat_worker(worker_instance_id text, namespace text DEFAULT 'default',
    now_ms bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := ff._caller_now_ms(now_ms);
    max_ttl bigint := coalesce(ff._setting_ms('ff_engine.max_worker_ttl'), 3600000);
    ns text[] := ff._namespaces();
    ttl bigint;
BEGIN
    -- another tenant's worker is not there for the caller (and is not locked)
    IF ns IS NOT NULL AND NOT coalesce(heartbeat_worker.namespace = ANY (ns), false) THEN
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'not_registered');
    END IF;
    -- a ttl stored before ff_engine.max_worker_ttl was lowered extends by the bound
    UPDATE ff.worker w SET last_heartbeat_at = now_, expires_at = now_ + least(w.ttl_ms, max_ttl)
    WHERE w.namespace = heartbeat_worker.namespace AND w.worker_instance_id = heartbeat_worker.worker_instance_id
      AND w.expires_at > now_
    RETURNING least(w.ttl_ms, max_ttl) INTO ttl;
    IF ttl IS NULL THEN
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'not_registered');
    END IF;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'refreshed', 'ttl_ms', ttl,
                              'next_expiry_ms', now_ + ttl);
END $$;
COMMENT ON FUNCTION ff.heartbeat_worker(text, text, bigint) IS
    'Extends a live worker registration by its stored ttl; not_registered once it expired (budgets spec §6.2)';

CREATE FUNCTION ff.mark_worker_dead(worker_instance_id text, namespace text DEFAULT 'default',
    reason text DEFAULT '', now_ms bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := ff._caller_now_ms(now_ms);
    ns text[] := ff._namespaces();
    was_live boolean;
BEGIN
    IF octet_length(coalesce(reason, '')) > 256 THEN
        RAISE EXCEPTION 'invalid_input: reason: exceeds 256 bytes (got %)', octet_length(reason) USING ERRCODE = '22023';
    END IF;
    IF coalesce(reason, '') ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid_input: reason: must not contain control characters' USING ERRCODE = '22023';
    END IF;
    -- another tenant's worker is not there for the caller
    IF ns IS NOT NULL AND NOT coalesce(mark_worker_dead.namespace = ANY (ns), false) THEN
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'not_registered');
    END IF;
    DELETE FROM ff.worker w
    WHERE w.namespace = mark_worker_dead.namespace AND w.worker_instance_id = mark_worker_dead.worker_instance_id
    RETURNING w.expires_at > now_ INTO was_live;
    RETURN jsonb_build_object('ok', true, 'status', 'OK',
        'result', CASE WHEN coalesce(was_live, false) THEN 'marked' ELSE 'not_registered' END);
END $$;
COMMENT ON FUNCTION ff.mark_worker_dead(text, text, text, bigint) IS
    'Removes a worker''s registration at once (its leases are untouched: they expire as usual) (budgets spec §6.3)';

CREATE FUNCTION ff.list_workers(namespace text DEFAULT 'default', after text DEFAULT NULL, "limit" integer DEFAULT 1000)
RETURNS TABLE (worker_instance_id text, worker_id text, lanes text[], capabilities text[],
               last_heartbeat_ms bigint, liveness_ttl_ms bigint, registered_at_ms bigint, expires_at_ms bigint)
LANGUAGE sql STABLE AS $$
    SELECT w.worker_instance_id, w.worker_id, w.lanes, w.capabilities, w.last_heartbeat_at,
           w.ttl_ms, w.registered_at, w.expires_at
    FROM ff.worker w
    WHERE w.namespace = $1 AND w.expires_at > ff.now_ms() AND ($2 IS NULL OR w.worker_instance_id > $2)
      AND ((SELECT ff._namespaces()) IS NULL OR w.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[])))
    ORDER BY w.worker_instance_id COLLATE "C"
    LIMIT least(greatest(coalesce($3, 1000), 1), 10000)
$$;
COMMENT ON FUNCTION ff.list_workers(text, text, integer) IS
    'Live registrations of a namespace by instance id (exclusive cursor; limit at most 10 000); none of another tenant''s (budgets spec §6.4)';

CREATE FUNCTION ff.list_expired_leases(as_of bigint DEFAULT NULL, after_expires_at bigint DEFAULT NULL,
    after_execution_id text DEFAULT NULL, "limit" integer DEFAULT 1000, namespace text DEFAULT NULL)
RETURNS TABLE (execution_id text, lease_id uuid, lease_epoch bigint, worker_instance_id text,
               expires_at_ms bigint, attempt_index integer)
LANGUAGE sql STABLE AS $$
    -- a tenant sees its namespaces' leases only; a lease id (the fence) only
    -- an admin: a worker learns its fence from its own claim
    SELECT x.id, CASE WHEN (SELECT ff._is_admin()) THEN x.current_lease_id END, x.current_lease_epoch,
           x.current_worker_instance_id, x.lease_expires_at, x.current_attempt_index
    FROM (SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, e.*
          FROM ff.execution e   -- LEASE_EXPIRY: held leases past their expiry
          WHERE e.lifecycle_phase = 'active' AND e.ownership_state = 'leased'
            AND e.lease_expires_at <= coalesce($1, ff.now_ms())
            AND e.current_lease_id IS NOT NULL AND e.current_worker_instance_id IS NOT NULL
            AND ($5 IS NULL OR e.namespace = $5)
            AND ((SELECT ff._namespaces()) IS NULL OR e.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[])))
          UNION ALL
          SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, e.*
          FROM ff.execution e   -- LEASE_LOST: leases marked expired or revoked
          WHERE e.lifecycle_phase = 'active'
            AND e.ownership_state IN ('lease_expired_reclaimable', 'lease_revoked')
            AND e.lease_expires_at <= coalesce($1, ff.now_ms())
            AND e.current_lease_id IS NOT NULL AND e.current_worker_instance_id IS NOT NULL
            AND ($5 IS NULL OR e.namespace = $5)
            AND ((SELECT ff._namespaces()) IS NULL OR e.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[])))) x
    WHERE $2 IS NULL OR (x.lease_expires_at, x.id COLLATE "C") > ($2, coalesce($3, '') COLLATE "C")
    ORDER BY x.lease_expires_at, x.id COLLATE "C"
    LIMIT least(greatest(coalesce($4, 1000), 1), 10000)
$$;
COMMENT ON FUNCTION ff.list_expired_leases(bigint, bigint, text, integer, text) IS
    'Leases past their expiry as of as_of, by (expiry, execution id) with a tuple cursor, for reclaim orchestration (budgets spec §6.5); of the caller''s namespaces only, lease ids to admins only';

-- Deletes every record of an execution (retention), its streams and
-- dependency records included.  Its flow and the flow's edges stay.
CREATE FUNCTION ff.purge_execution(execution_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    p smallint;
    u uuid;
BEGIN
    SELECT k.partition, k.execution_uuid INTO p, u FROM ff.parse_execution_id(execution_id) k;
    DELETE FROM ff.stream_frame f WHERE f.partition = p AND f.execution_id = u;
    DELETE FROM ff.stream_summary s WHERE s.partition = p AND s.execution_id = u;
    DELETE FROM ff.stream_meta s WHERE s.partition = p AND s.execution_id = u;
    DELETE FROM ff.attempt_record a WHERE a.partition = p AND a.execution_id = u;
    DELETE FROM ff.lease_log h WHERE h.partition = p AND h.execution_id = u;
    DELETE FROM ff.claim_grant g WHERE g.partition = p AND g.execution_id = u;
    DELETE FROM ff.completion_event c WHERE c.partition = p AND c.execution_id = u;
    DELETE FROM ff.idempotency_key k WHERE k.partition = p AND k.execution_id = u;
    DELETE FROM ff.scanner_item_failure f WHERE f.partition = p AND f.execution_id = u;
    DELETE FROM ff.signal_dedup d WHERE d.partition = p AND d.waitpoint_id IN
        (SELECT w.waitpoint_id FROM ff.waitpoint w WHERE w.partition = p AND w.execution_id = u);
    DELETE FROM ff.signal g WHERE g.partition = p AND g.execution_id = u;
    DELETE FROM ff.waitpoint w WHERE w.partition = p AND w.execution_id = u;
    DELETE FROM ff.suspension_token t WHERE t.partition = p AND t.execution_id = u;
    DELETE FROM ff.suspension s WHERE s.partition = p AND s.execution_id = u;
    DELETE FROM ff.suspend_dedup d WHERE d.partition = p AND d.execution_id = u;
    DELETE FROM ff.dependency d WHERE d.partition = p AND d.downstream_execution_id = u;
    DELETE FROM ff.dependency_meta m WHERE m.partition = p AND m.execution_id = u;
    DELETE FROM ff.execution_data d WHERE d.partition = p AND d.execution_id = u;
    DELETE FROM ff.execution e WHERE e.partition = p AND e.execution_id = u;
    RETURN FOUND;
END $$;
COMMENT ON FUNCTION ff.purge_execution(text) IS
    'Deletes an execution and every record that belongs to it (the retention path)';

-- The per-item step of each scanner.
CREATE FUNCTION ff._scan_item(scanner text, execution_id text, now_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE scanner
        WHEN 'lease_expiry' THEN PERFORM ff.mark_lease_expired_if_due(execution_id);
        WHEN 'delayed' THEN PERFORM ff.promote_delayed(execution_id, now_ms);
        WHEN 'attempt_timeout' THEN PERFORM ff.expire_execution(execution_id, 'attempt_timeout');
        WHEN 'execution_deadline' THEN PERFORM ff.expire_execution(execution_id, 'execution_deadline');
        WHEN 'unblock' THEN PERFORM ff.unblock_execution(execution_id, now_ms);
        WHEN 'retention' THEN PERFORM ff.purge_execution(execution_id);
        WHEN 'dependencies' THEN PERFORM ff._reconcile_dependencies_of(execution_id);
        WHEN 'suspension_timeout' THEN PERFORM ff.expire_suspension(execution_id);
        ELSE RAISE EXCEPTION 'no per-item step for scanner "%"', scanner USING ERRCODE = '22023';
    END CASE;
END $$;
COMMENT ON FUNCTION ff._scan_item(text, text, bigint) IS 'Internal: one scanner item';

-- Applies a locked batch: all at once, or item by item when that fails.
CREATE FUNCTION ff._scan_apply(scanner text, ids text[], now_ms bigint, batch_size integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    id text;
    cyc bigint;
    succeeded text[] := '{}';
    errors integer := 0;
    err text;
BEGIN
    IF scanner IS NULL OR NOT EXISTS (SELECT 1 FROM ff.scanner_state s WHERE s.scanner = _scan_apply.scanner) THEN
        RAISE EXCEPTION 'unknown scanner "%"', scanner USING ERRCODE = '22023';
    END IF;
    IF ids IS NULL OR array_position(ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ids must not be or contain NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        FOREACH id IN ARRAY ids LOOP
            PERFORM ff._scan_item(scanner, id, now_ms);
        END LOOP;
        succeeded := ids;
    EXCEPTION WHEN OTHERS THEN
        SELECT s.cycle INTO cyc FROM ff.scanner_state s WHERE s.scanner = _scan_apply.scanner;
        FOREACH id IN ARRAY ids LOOP
            BEGIN
                PERFORM ff._scan_item(scanner, id, now_ms);
                succeeded := succeeded || id;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
                errors := errors + 1;
                RAISE WARNING 'ff_engine scanner % failed on %: %', scanner, id, err;
                INSERT INTO ff.scanner_item_failure AS f (scanner, partition, execution_id, failures, last_error)
                SELECT _scan_apply.scanner, k.partition, k.execution_uuid, 1, err FROM ff.parse_execution_id(id) k
                ON CONFLICT ON CONSTRAINT scanner_item_failure_pkey DO UPDATE
                    SET failures = f.failures + 1, last_error = EXCLUDED.last_error,
                        skip_until_cycle = CASE WHEN f.failures + 1 >= 3 THEN coalesce(cyc, 0) + 11
                                                ELSE f.skip_until_cycle END;
            END;
        END LOOP;
    END;
    -- a success ends an item's run of consecutive failures
    IF cardinality(succeeded) > 0 AND EXISTS (SELECT 1 FROM ff.scanner_item_failure f WHERE f.scanner = _scan_apply.scanner) THEN
        DELETE FROM ff.scanner_item_failure f
        USING unnest(succeeded) i, LATERAL ff.parse_execution_id(i) k
        WHERE f.scanner = _scan_apply.scanner AND f.partition = k.partition AND f.execution_id = k.execution_uuid;
    END IF;
    -- a full batch means more may be due: the caller can take another at once
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', scanner,
                              'processed', cardinality(succeeded), 'errors', errors,
                              'more', cardinality(ids) >= batch_size);
END $$;
COMMENT ON FUNCTION ff._scan_apply(text, text[], bigint, integer) IS 'Internal: apply a scanner batch';

-- What a scan needs to know: the clock, the filter, its cycle.
CREATE TYPE ff._scan_context AS (now_ms bigint, namespace text, tag_key text, tag_value text, cycle bigint);

CREATE FUNCTION ff._scan_context(scanner text, namespace text, tag text, batch_size integer)
RETURNS ff._scan_context LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000 THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 1000, got %', batch_size USING ERRCODE = '22023';
    END IF;
    tag := coalesce(tag, nullif(current_setting('ff_engine.scanner_tag', true), ''));
    IF tag IS NOT NULL AND position('=' IN tag) < 2 THEN
        RAISE EXCEPTION 'a scanner tag filter looks like key=value, got "%"', tag USING ERRCODE = '22023';
    END IF;
    c.now_ms := ff.now_ms();
    c.namespace := coalesce(namespace, nullif(current_setting('ff_engine.scanner_namespace', true), ''));
    c.tag_key := split_part(tag, '=', 1);
    c.tag_value := substr(tag, position('=' IN tag) + 1);
    SELECT s.cycle INTO c.cycle FROM ff.scanner_state s WHERE s.scanner = _scan_context.scanner;
    RETURN c;
END $$;
COMMENT ON FUNCTION ff._scan_context(text, text, text, integer) IS 'Internal: a scan''s clock, filter and cycle';

-- Whether a scan takes this execution: the namespace / tag filter (so two
-- deployments sharing a database leave each other's executions alone) and
-- the skip of items that keep failing.
CREATE FUNCTION ff._scan_wants(scanner text, p smallint, u uuid, ns text, c ff._scan_context)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (c.namespace IS NULL OR ns = c.namespace)
       AND (c.tag_key IS NULL OR EXISTS (SELECT 1 FROM ff.execution_data d
                WHERE d.partition = p AND d.execution_id = u AND d.tags ->> c.tag_key = c.tag_value))
       AND NOT EXISTS (SELECT 1 FROM ff.scanner_item_failure f
                WHERE f.scanner = $1 AND f.partition = p AND f.execution_id = u AND f.skip_until_cycle > c.cycle)
$$;
COMMENT ON FUNCTION ff._scan_wants(text, smallint, uuid, text, ff._scan_context) IS 'Internal: scanner filter';

-- ---- the scanners ----

CREATE FUNCTION ff.scan_lease_expiry(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('lease_expiry', namespace, tag, batch_size);
BEGIN
    -- only leases still held: marked ones leave the index (spec §6.1)
    RETURN ff._scan_apply('lease_expiry', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'active' AND e.ownership_state = 'leased' AND e.lease_expires_at <= c.now_ms
          AND ff._scan_wants('lease_expiry', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.lease_expires_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_lease_expiry(integer, text, text) IS
    'Marks leases past their expiry as lease_expired_reclaimable, one batch (spec §6.1)';

CREATE FUNCTION ff.scan_delayed(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('delayed', namespace, tag, batch_size);
BEGIN
    RETURN ff._scan_apply('delayed', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'runnable' AND e.eligibility_state = 'not_eligible_until_time'
          AND e.delay_until <= c.now_ms
          AND ff._scan_wants('delayed', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.delay_until LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_delayed(integer, text, text) IS
    'Promotes due delayed executions to eligible, one batch (spec §6.2)';

CREATE FUNCTION ff.scan_attempt_timeouts(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('attempt_timeout', namespace, tag, batch_size);
BEGIN
    RETURN ff._scan_apply('attempt_timeout', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.attempt_timeout_at <= c.now_ms
          AND ff._scan_wants('attempt_timeout', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.attempt_timeout_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_attempt_timeouts(integer, text, text) IS
    'Expires executions whose attempt ran past its timeout, one batch (spec §6.3)';

CREATE FUNCTION ff.scan_execution_deadlines(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('execution_deadline', namespace, tag, batch_size);
BEGIN
    RETURN ff._scan_apply('execution_deadline', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.execution_deadline_at <= c.now_ms
          AND ff._scan_wants('execution_deadline', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.execution_deadline_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_execution_deadlines(integer, text, text) IS
    'Expires executions past their whole-execution deadline, in any phase, one batch (spec §6.4)';

CREATE FUNCTION ff.scan_unblock(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('unblock', namespace, tag, batch_size);
BEGIN
    -- budget blocks clear when no attached budget is at a hard limit, quota
    -- blocks when the quota's window and cap have room (the window admission
    -- writes: Appendix C #5); route blocks clear once the union of the capabilities of the live
    -- workers of the namespace covers the requirement (spec §6.7).
    -- Operator, lane-state and flow-cancel holds are never released here.
    RETURN ff._scan_apply('unblock', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'runnable'
          AND ((e.eligibility_state = 'blocked_by_budget' AND e.blocking_reason = 'waiting_for_budget'
                AND ff._budget_block_detail(e.budget_ids, e.namespace) IS NULL)
            OR (e.eligibility_state = 'blocked_by_quota' AND e.blocking_reason = 'waiting_for_quota'
                AND (e.quota_policy_id IS NULL OR NOT ff._quota_refuses(e.quota_policy_id, c.now_ms, e.namespace)))
            OR (e.eligibility_state = 'blocked_by_route' AND e.blocking_reason = 'waiting_for_capable_worker'
                AND (e.required_capabilities IS NULL
                     OR e.required_capabilities <@ ARRAY(SELECT DISTINCT cap FROM ff.worker w, unnest(w.capabilities) cap
                                                         WHERE w.namespace = e.namespace AND w.expires_at > c.now_ms))))
          AND ff._scan_wants('unblock', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.eligibility_state, e.created_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_unblock(integer, text, text) IS
    'Releases budget, quota and route blocks whose cause has cleared, one batch (spec §6.7)';

CREATE FUNCTION ff.trim_retention(batch_size integer DEFAULT 20, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('retention', namespace, tag, batch_size);
    r jsonb;
    keys integer;
    streams integer;
    guards integer;
    events integer;
    firings integer;
BEGIN
    -- by each execution's own purge time (spec §6.6 recommendation)
    r := ff._scan_apply('retention', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'terminal' AND e.purge_after <= c.now_ms
          AND ff._scan_wants('retention', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.purge_after LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
    -- frames of best-effort streams past their expiry
    WITH expired AS (
        SELECT m.partition, m.execution_id, m.attempt_index FROM ff.stream_meta m
        WHERE m.frames_expire_at <= c.now_ms ORDER BY m.frames_expire_at LIMIT batch_size
        FOR UPDATE SKIP LOCKED),
    frames AS (
        DELETE FROM ff.stream_frame f USING expired x
        WHERE f.partition = x.partition AND f.execution_id = x.execution_id AND f.attempt_index = x.attempt_index),
    metas AS (
        UPDATE ff.stream_meta m SET retained_count = 0, frames_expire_at = NULL FROM expired x
        WHERE m.partition = x.partition AND m.execution_id = x.execution_id AND m.attempt_index = x.attempt_index
        RETURNING 1)
    SELECT count(*) INTO streams FROM metas;
    -- and expired idempotency keys
    WITH gone AS (
        DELETE FROM ff.idempotency_key k WHERE (k.partition, k.namespace, k.key) IN (
            SELECT i.partition, i.namespace, i.key FROM ff.idempotency_key i
            WHERE i.expires_at <= c.now_ms AND (c.namespace IS NULL OR i.namespace = c.namespace)
            ORDER BY i.expires_at LIMIT batch_size * 10 FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO keys FROM gone;
    -- expired signal idempotency guards, and signal-delivery events past
    -- ff_engine.signal_event_retention
    WITH gone AS (
        DELETE FROM ff.signal_dedup d WHERE (d.partition, d.waitpoint_id, d.idempotency_key) IN (
            SELECT g.partition, g.waitpoint_id, g.idempotency_key FROM ff.signal_dedup g
            WHERE g.expires_at <= c.now_ms ORDER BY g.expires_at LIMIT batch_size * 10 FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO guards FROM gone;
    WITH gone AS (
        DELETE FROM ff.signal_event v WHERE (v.partition, v.event_id) IN (
            SELECT x.partition, x.event_id FROM ff.signal_event x
            WHERE x.delivered_at < c.now_ms - ff._setting_ms('ff_engine.signal_event_retention')
            ORDER BY x.delivered_at LIMIT batch_size * 50 FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO events FROM gone;
    -- schedule firing records past ff_engine.default_retention
    WITH gone AS (
        DELETE FROM ff.schedule_firing f WHERE (f.schedule_id, f.slot_at, f.manual) IN (
            SELECT x.schedule_id, x.slot_at, x.manual FROM ff.schedule_firing x
            WHERE x.fired_at < c.now_ms - ff._setting_ms('ff_engine.default_retention')
            ORDER BY x.fired_at LIMIT batch_size * 50 FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO firings FROM gone;
    RETURN r || jsonb_build_object('idempotency_keys_expired', keys, 'streams_expired', streams,
                                   'signal_guards_expired', guards, 'signal_events_trimmed', events,
                                   'schedule_firings_trimmed', firings);
END $$;
COMMENT ON FUNCTION ff.trim_retention(integer, text, text) IS
    'Deletes terminal executions past their retention, and expired idempotency keys, one batch (spec §6.6)';

CREATE FUNCTION ff.scan_dependencies(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('dependencies', namespace, tag, batch_size);
BEGIN
    -- the safety net for lost completions (flows §6.1), driven by the data:
    -- children with an unresolved edge whose upstream already ended.  No
    -- row lock here: resolution locks the group row, then the child.
    RETURN ff._scan_apply('dependencies', ARRAY(
        SELECT ff.format_execution_id(x.partition, x.downstream_execution_id) FROM (
            SELECT DISTINCT d.partition, d.downstream_execution_id FROM ff.dependency d
            JOIN ff.execution u ON u.partition = d.partition AND u.execution_id = d.upstream_execution_id
            JOIN ff.execution ch ON ch.partition = d.partition AND ch.execution_id = d.downstream_execution_id
            WHERE d.state = 'unsatisfied' AND u.lifecycle_phase = 'terminal'
              AND ff._scan_wants('dependencies', ch.partition, ch.execution_id, ch.namespace, c)
            LIMIT batch_size) x), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_dependencies(integer, text, text) IS
    'Resolves edges whose upstream ended but whose completion was never dispatched, one batch (flows §6.1)';

-- Cancels members owed a cancel (flows §6.4) of cancelled flows whose
-- backlog entry is due by due_before: at most max_flows flows and
-- max_members members, each member in its own subtransaction (a failing
-- one is logged and left owed).  Shared by the background pass, which
-- starts as a cancel_flow(wait => false) commits (due_before = no limit),
-- and the reconciler, the backstop once the grace has passed (due_before
-- = now); at most 500 members of one flow per call.  Flows are taken with SKIP LOCKED, so the two never work on one
-- flow at once.
CREATE FUNCTION ff._cancel_owed_members(due_before bigint, max_flows integer, max_members integer,
                                        namespace text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    f record;
    m record;
    processed integer := 0;
    errors integer := 0;
    flows integer := 0;
    more boolean := false;
BEGIN
    IF due_before IS NULL OR max_flows IS NULL OR max_flows < 1 OR max_members IS NULL OR max_members < 1 THEN
        RAISE EXCEPTION 'due_before, max_flows and max_members must be given and positive' USING ERRCODE = '22023';
    END IF;
    FOR f IN SELECT fl.partition, fl.flow_id, coalesce(fl.cancel_reason, 'flow_cancelled') AS reason
             FROM ff.flow fl WHERE fl.cancel_due_at <= due_before
               AND (_cancel_owed_members.namespace IS NULL OR fl.namespace = _cancel_owed_members.namespace)
             ORDER BY fl.cancel_due_at LIMIT max_flows FOR UPDATE SKIP LOCKED LOOP
        flows := flows + 1;
        FOR m IN SELECT p.execution_id FROM ff.flow_pending_cancel p
                 WHERE p.partition = f.partition AND p.flow_id = f.flow_id
                 ORDER BY p.execution_id LIMIT least(500, max_members - processed) LOOP
            BEGIN
                PERFORM ff.cancel_execution(ff.format_execution_id(f.partition, m.execution_id), f.reason, 'operator_override');
                -- cancelled, already terminal or gone: the cancel is done
                PERFORM ff.ack_cancel_member(f.flow_id, ff.format_execution_id(f.partition, m.execution_id));
                processed := processed + 1;
            EXCEPTION WHEN OTHERS THEN
                errors := errors + 1;
                RAISE WARNING 'ff_engine could not cancel flow member %: %', m.execution_id, SQLERRM;
            END;
        END LOOP;
        -- nothing left owed: out of the backlog; else another batch is due
        UPDATE ff.flow fl SET cancel_due_at = NULL WHERE fl.partition = f.partition AND fl.flow_id = f.flow_id
          AND NOT EXISTS (SELECT 1 FROM ff.flow_pending_cancel p WHERE p.partition = f.partition AND p.flow_id = f.flow_id);
        more := more OR NOT FOUND;
        EXIT WHEN processed >= max_members;
    END LOOP;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'processed', processed, 'errors', errors,
                              'more', more OR flows >= max_flows OR processed >= max_members);
END $$;
COMMENT ON FUNCTION ff._cancel_owed_members(bigint, integer, integer, text) IS
    'Internal: cancels members owed a cancel of flows due by due_before (the flow-cancel pass and reconciler)';

CREATE FUNCTION ff.dispatch_flow_cancels(max_members integer DEFAULT 500)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF max_members IS NULL OR max_members < 1 OR max_members > 10000 THEN
        RAISE EXCEPTION 'max_members must be between 1 and 10000, got %', max_members USING ERRCODE = '22023';
    END IF;
    RETURN ff._cancel_owed_members(9223372036854775807, max_members, max_members);
END $$;
COMMENT ON FUNCTION ff.dispatch_flow_cancels(integer) IS
    'Cancels members owed a cancel by cancel_flow(wait => false), grace or not, up to max_members in one transaction; the engine worker runs it as such a cancel commits';

CREATE FUNCTION ff.scan_flow_cancels(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('flow_cancel', namespace, tag, batch_size);
    r jsonb;
BEGIN
    -- the backstop: members still owed a cancel once the grace has passed
    -- (flows §6.4), at most 500 per flow as in the reference
    r := ff._cancel_owed_members(c.now_ms, batch_size, 500 * batch_size, c.namespace);
    RETURN r || jsonb_build_object('scanner', 'flow_cancel');
END $$;
COMMENT ON FUNCTION ff.scan_flow_cancels(integer, text, text) IS
    'Cancels flow members still owed a cancel after the grace window, one batch (flows §6.4)';

CREATE FUNCTION ff.project_flows(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('flow_projector', namespace, tag, batch_size);
    done integer := 0;
BEGIN
    -- exact counts per flow (flows §6.5, Appendix C.13), the reference's
    -- derivation; a flow whose members all ended leaves FLOW_INDEX
    WITH picked AS (
        SELECT fl.partition, fl.flow_id FROM ff.flow fl
        WHERE fl.in_flow_index AND (c.namespace IS NULL OR fl.namespace = c.namespace)
        ORDER BY fl.last_mutation_at LIMIT batch_size),
    counts AS (
        SELECT p.partition, p.flow_id, count(e.execution_id) AS total,
               count(*) FILTER (WHERE e.public_state = 'completed') AS completed,
               count(*) FILTER (WHERE e.public_state = 'failed') AS failed,
               count(*) FILTER (WHERE e.public_state = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE e.public_state = 'expired') AS expired,
               count(*) FILTER (WHERE e.public_state = 'skipped') AS skipped,
               count(*) FILTER (WHERE e.public_state = 'active') AS active,
               count(*) FILTER (WHERE e.public_state = 'suspended') AS suspended,
               count(*) FILTER (WHERE e.public_state = 'waiting') AS waiting,
               count(*) FILTER (WHERE e.public_state = 'delayed') AS delayed,
               count(*) FILTER (WHERE e.public_state = 'rate_limited') AS rate_limited,
               count(*) FILTER (WHERE e.public_state = 'waiting_children') AS waiting_children
        FROM picked p LEFT JOIN ff.execution e ON e.partition = p.partition AND e.flow_id = p.flow_id
        GROUP BY p.partition, p.flow_id),
    derived AS (
        SELECT x.*, (x.completed + x.failed + x.cancelled + x.expired + x.skipped) AS terminal,
               CASE WHEN x.completed + x.failed + x.cancelled + x.expired + x.skipped = x.total THEN
                        CASE WHEN x.failed + x.cancelled + x.expired > 0 THEN 'failed' ELSE 'completed' END
                    WHEN x.active > 0 THEN 'running'
                    WHEN x.suspended + x.delayed + x.rate_limited + x.waiting_children > 0 THEN 'blocked'
                    ELSE 'open' END AS state
        FROM counts x WHERE x.total > 0),
    upserted AS (
        INSERT INTO ff.flow_summary AS s (partition, flow_id, total_members, members_completed, members_failed,
            members_cancelled, members_expired, members_skipped, members_active, members_suspended,
            members_waiting, members_delayed, members_rate_limited, members_waiting_children,
            public_flow_state, last_summary_update_at)
        SELECT d.partition, d.flow_id, d.total, d.completed, d.failed, d.cancelled, d.expired, d.skipped,
               d.active, d.suspended, d.waiting, d.delayed, d.rate_limited, d.waiting_children, d.state, c.now_ms
        FROM derived d
        ON CONFLICT (partition, flow_id) DO UPDATE SET total_members = EXCLUDED.total_members,
            members_completed = EXCLUDED.members_completed, members_failed = EXCLUDED.members_failed,
            members_cancelled = EXCLUDED.members_cancelled, members_expired = EXCLUDED.members_expired,
            members_skipped = EXCLUDED.members_skipped, members_active = EXCLUDED.members_active,
            members_suspended = EXCLUDED.members_suspended, members_waiting = EXCLUDED.members_waiting,
            members_delayed = EXCLUDED.members_delayed, members_rate_limited = EXCLUDED.members_rate_limited,
            members_waiting_children = EXCLUDED.members_waiting_children,
            public_flow_state = EXCLUDED.public_flow_state, last_summary_update_at = EXCLUDED.last_summary_update_at
        RETURNING 1),
    retired AS (
        UPDATE ff.flow fl SET in_flow_index = false FROM derived d
        WHERE fl.partition = d.partition AND fl.flow_id = d.flow_id AND d.terminal = d.total
        RETURNING 1)
    SELECT count(*) INTO done FROM upserted;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'flow_projector', 'processed', done,
                              'errors', 0, 'more', false);
END $$;
COMMENT ON FUNCTION ff.project_flows(integer, text, text) IS
    'Writes each live flow''s summary from exact member counts; retires finished flows (flows §6.5)';

CREATE FUNCTION ff.scan_suspension_timeouts(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('suspension_timeout', namespace, tag, batch_size);
BEGIN
    -- open suspensions past their timeout (SUSPENSION_TIMEOUT); each item
    -- is re-validated under its lock by ff.expire_suspension
    RETURN ff._scan_apply('suspension_timeout', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id)
        FROM ff.suspension s JOIN ff.execution e ON e.partition = s.partition AND e.execution_id = s.execution_id
        WHERE s.closed_at IS NULL AND s.timeout_at <= c.now_ms AND e.lifecycle_phase = 'suspended'
          AND ff._scan_wants('suspension_timeout', e.partition, e.execution_id, e.namespace, c)
        ORDER BY s.timeout_at, s.partition, s.execution_id LIMIT batch_size FOR UPDATE OF e SKIP LOCKED),
        c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_suspension_timeouts(integer, text, text) IS
    'Applies the timeout behaviour of suspensions past their timeout, one batch (suspension spec §6.1)';

CREATE FUNCTION ff.scan_pending_waitpoint_expiry(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('pending_waitpoint_expiry', namespace, tag, batch_size);
    n integer;
BEGIN
    -- pending waitpoints past their expiry close as never_committed; only
    -- the waitpoint rows are locked (a racing suspend that locked one first
    -- wins, and it is then no longer pending)
    WITH due AS (
        SELECT w.partition, w.waitpoint_id FROM ff.waitpoint w
        WHERE w.state = 'pending' AND w.expires_at <= c.now_ms
          AND (c.namespace IS NULL AND c.tag_key IS NULL OR EXISTS (SELECT 1 FROM ff.execution e
                WHERE e.partition = w.partition AND e.execution_id = w.execution_id
                  AND ff._scan_wants('pending_waitpoint_expiry', e.partition, e.execution_id, e.namespace, c)))
        ORDER BY w.expires_at, w.partition, w.waitpoint_id LIMIT batch_size FOR UPDATE OF w SKIP LOCKED),
    closed AS (
        UPDATE ff.waitpoint w SET state = 'closed', closed_at = c.now_ms, close_reason = 'never_committed'
        FROM due WHERE w.partition = due.partition AND w.waitpoint_id = due.waitpoint_id
        RETURNING 1)
    SELECT count(*) INTO n FROM closed;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'pending_waitpoint_expiry',
                              'processed', n, 'errors', 0, 'more', n >= batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_pending_waitpoint_expiry(integer, text, text) IS
    'Closes pending waitpoints past their expiry as never_committed, one batch (suspension spec §6.2)';

-- Budgets due for their periodic reset (budgets spec §7.1), earliest first;
-- each reset reschedules the budget from its own time.  Expired usage
-- idempotency marks are swept on the way.
CREATE FUNCTION ff.scan_budget_resets(batch_size integer DEFAULT 20)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('budget_reset', NULL, NULL, batch_size);
    b uuid;
    n integer := 0;
    errors integer := 0;
    due integer := 0;
BEGIN
    FOR b IN SELECT x.budget_id FROM ff.budget x WHERE x.next_reset_at <= c.now_ms
             ORDER BY x.next_reset_at LIMIT batch_size FOR UPDATE SKIP LOCKED LOOP
        due := due + 1;
        BEGIN
            PERFORM ff.reset_budget(b, c.now_ms);
            n := n + 1;
        EXCEPTION WHEN OTHERS THEN
            errors := errors + 1;
            RAISE WARNING 'ff_engine scanner budget_reset failed on %: %', b, SQLERRM;
        END;
    END LOOP;
    DELETE FROM ff.budget_usage_dedup d WHERE (d.budget_id, d.dedup_key) IN (
        SELECT x.budget_id, x.dedup_key FROM ff.budget_usage_dedup x WHERE x.expires_at <= c.now_ms
        ORDER BY x.expires_at LIMIT batch_size * 50 FOR UPDATE SKIP LOCKED);
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'budget_reset', 'processed', n,
                              'errors', errors, 'more', due >= batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_budget_resets(integer) IS
    'Resets budgets whose next_reset_at has come, one batch (budgets spec §7.1)';

-- The drift alarm of non-resetting budgets (§7.2): reconciled_breach_at is
-- set while some usage is strictly over its hard limit, cleared otherwise.
CREATE FUNCTION ff.reconcile_budgets(batch_size integer DEFAULT 1000)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('budget_reconcile', NULL, NULL, batch_size);
    n integer;
BEGIN
    WITH cand AS (
        SELECT b.budget_id, EXISTS (SELECT 1 FROM ff.budget_limit l JOIN ff.budget_usage u
                                      ON u.budget_id = l.budget_id AND u.dimension = l.dimension
                                    WHERE l.budget_id = b.budget_id AND l.hard_limit > 0 AND u.value > l.hard_limit) AS breached
        FROM ff.budget b WHERE b.reset_interval_ms = 0 FOR UPDATE OF b SKIP LOCKED),
    changed AS (
        UPDATE ff.budget b SET reconciled_breach_at = CASE WHEN cand.breached THEN c.now_ms END
        FROM cand WHERE b.budget_id = cand.budget_id AND cand.breached <> (b.reconciled_breach_at IS NOT NULL)
        RETURNING 1)
    SELECT count(*) INTO n FROM changed;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'budget_reconcile', 'processed', n,
                              'errors', 0, 'more', false);
END $$;
COMMENT ON FUNCTION ff.reconcile_budgets(integer) IS
    'Marks non-resetting budgets whose usage is over a hard limit (reconciled_breach_at) and clears the mark (budgets spec §7.2)';

-- Quota bookkeeping (§7.3): admissions past their window are dropped (their
-- concurrency slots freed themselves at the same moment), and the slots
-- of a released or expired admission are cleared of its execution id.
CREATE FUNCTION ff.reconcile_quotas(batch_size integer DEFAULT 1000)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('quota_reconcile', NULL, NULL, batch_size);
    n integer;
BEGIN
    WITH gone AS (
        DELETE FROM ff.quota_admission a WHERE (a.quota_policy_id, a.execution_id) IN (
            SELECT x.quota_policy_id, x.execution_id FROM ff.quota_admission x WHERE x.expires_at <= c.now_ms
            ORDER BY x.expires_at LIMIT batch_size * 10 FOR UPDATE SKIP LOCKED)
        RETURNING a.quota_policy_id)
    SELECT count(DISTINCT quota_policy_id) INTO n FROM gone;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'quota_reconcile', 'processed', n,
                              'errors', 0, 'more', false);
END $$;
COMMENT ON FUNCTION ff.reconcile_quotas(integer) IS
    'Drops quota admissions past their window, one batch (budgets spec §7.3)';

CREATE FUNCTION ff.sweep_worker_registry(batch_size integer DEFAULT 500)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('worker_registry_sweep', NULL, NULL, batch_size);
    n integer;
BEGIN
    WITH gone AS (
        DELETE FROM ff.worker w WHERE (w.namespace, w.worker_instance_id) IN (
            SELECT x.namespace, x.worker_instance_id FROM ff.worker x WHERE x.expires_at <= c.now_ms
            ORDER BY x.expires_at LIMIT batch_size FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'worker_registry_sweep', 'processed', n,
                              'errors', 0, 'more', n >= batch_size);
END $$;
COMMENT ON FUNCTION ff.sweep_worker_registry(integer) IS
    'Deletes expired worker registrations (reads ignore them already) (budgets spec §7.5)';

-- ---- running them ----

-- The interval of a scanner, from its setting ff_engine.<scanner>_interval.
CREATE FUNCTION ff.scanner_interval_ms(scanner text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT ff._setting_ms('ff_engine.' || scanner || '_interval')
$$;
COMMENT ON FUNCTION ff.scanner_interval_ms(text) IS 'A scanner''s interval in ms (ff_engine.<scanner>_interval)';

-- One batch of a scanner through the registry; unknown names are 22023
-- with the registry's scanners as the HINT.
CREATE FUNCTION ff.run_scanner(scanner text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ff_run_scanner' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.run_scanner(text) IS
    'Runs one batch of a scanner and records it in ff.scanner_state (what the engine worker calls)';

CREATE FUNCTION ff.run_scanners() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    s text;
    r jsonb;
    out jsonb := '[]';
BEGIN
    FOR s IN SELECT j.name FROM ff._jobs() j LEFT JOIN ff.scanner_state st ON st.scanner = j.name
             WHERE j.setting IS NOT NULL AND (st.next_run_at IS NULL OR st.next_run_at <= ff.now_ms())
             ORDER BY j.name LOOP
        -- full batches mean a backlog: take up to 256 batches, as the
        -- engine worker does in one tick
        FOR i IN 1..256 LOOP
            r := ff.run_scanner(s);
            out := out || r;
            EXIT WHEN NOT (r ->> 'more')::boolean;
        END LOOP;
    END LOOP;
    RETURN out;
END $$;
COMMENT ON FUNCTION ff.run_scanners() IS
    'Runs every scanner that is due, draining a backlog up to 256 batches each (for pg_cron where the library is not preloaded)';

CREATE VIEW ff.scanner_status AS
SELECT j.name AS scanner, j.interval_ms, coalesce(s.runs, 0) AS runs, coalesce(s.cycle, 0) AS cycle,
       to_timestamp(s.last_started_at / 1000.0) AS last_run, s.last_duration_ms,
       s.last_processed, s.last_errors, coalesce(s.total_processed, 0) AS total_processed,
       coalesce(s.total_errors, 0) AS total_errors,
       to_timestamp(s.next_run_at / 1000.0) AS next_run,
       (SELECT count(*) FROM ff.scanner_item_failure f WHERE f.scanner = j.name) AS failing_items,
       s.last_error_sqlstate, s.last_error, to_timestamp(s.last_error_at / 1000.0) AS last_error_at
FROM ff._jobs() j LEFT JOIN ff.scanner_state s ON s.scanner = j.name
WHERE j.setting IS NOT NULL;
COMMENT ON VIEW ff.scanner_status IS
    'Per scanner of the job registry: interval, last run and its duration, processed and error counts, next run, items being skipped, the last failed batch (SQLSTATE, message, when)';
