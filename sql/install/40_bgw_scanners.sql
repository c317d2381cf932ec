-- ff_engine install script: the execution scanners (behaviour/execution §6).
--
-- Each ff.scan_<name>() does one bounded batch: it locks due executions
-- with FOR UPDATE SKIP LOCKED (so two scanners never take the same item)
-- and applies the per-item C operation (src/bgw_batch.c, bgw_scanners.c).
-- The whole batch runs as one unit; only if it fails is it retried item by
-- item in subtransactions, recording each failing item in
-- ff.scanner_item_failure: after 3 consecutive failures an item is skipped
-- for 10 cycles of its scanner, doubling with each further failure up to
-- 1000.  The engine worker (and pg_cron, through ff.run_scanners) calls
-- these through ff.run_scanner, which records each run in ff.scanner_state.


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

-- Items a scanner failed on (an execution, a flow member, a budget: its
-- partition, 0 when it has none, and id), with the last error's SQLSTATE,
-- message and detail.  Retried on the next cycles after one or two
-- failures; from the third on skipped until skip_until_cycle (10 cycles,
-- doubling, at most 1000).  A success deletes the row.  A dispatcher run at
-- every commit (completion_dispatch) has no cycles to count: its item waits
-- until skip_until_at instead (1 s, from the third failure on 10 s).
CREATE TABLE ff.scanner_item_failure (
    scanner           text NOT NULL,
    partition         smallint NOT NULL,
    item_id           uuid NOT NULL,
    failures          integer NOT NULL,
    sqlstate          text NOT NULL,
    message           text NOT NULL,
    detail            text,
    first_failed_at   bigint NOT NULL,
    last_failed_at    bigint NOT NULL,
    skip_until_cycle  bigint NOT NULL DEFAULT 0,
    skip_until_at     bigint,
    PRIMARY KEY (scanner, partition, item_id)
);

-- The worker registry (behaviour/execution §3.30): live workers and their capabilities,
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
    -- behaviour/budgets §C.12: an instance id is not reassigned while its registration lives
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
    'Registers (or refreshes) a live worker, its lanes and capabilities for ttl_ms (at most ff_engine.max_worker_ttl) in a namespace of the caller (behaviour/budgets §6.1)';

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
    'Extends a live worker registration by its stored ttl; not_registered once it expired (behaviour/budgets §6.2)';

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
    'Removes a worker''s registration at once (its leases are untouched: they expire as usual) (behaviour/budgets §6.3)';

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
    'Live registrations of a namespace by instance id (exclusive cursor; limit at most 10 000); none of another tenant''s (behaviour/budgets §6.4)';

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
    'Leases past their expiry as of as_of, by (expiry, execution id) with a tuple cursor, for reclaim orchestration (behaviour/budgets §6.5); of the caller''s namespaces only, lease ids to admins only';

-- Deletes every record of an execution (retention), its streams and
-- dependency records included (the list is in src/bgw_scanners.c).  Its
-- flow and the flow's edges stay.
CREATE FUNCTION ff.purge_execution(execution_id text)
    RETURNS boolean AS 'MODULE_PATHNAME', 'ff_purge_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.purge_execution(text) IS
    'Deletes an execution and every record that belongs to it (the retention path)';

-- ---- the scanners ----

CREATE FUNCTION ff.scan_lease_expiry(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_lease_expiry' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_lease_expiry(integer, text, text) IS
    'Marks leases past their expiry as lease_expired_reclaimable, one batch (behaviour/execution §6.1)';

CREATE FUNCTION ff.scan_delayed(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_delayed' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_delayed(integer, text, text) IS
    'Promotes due delayed executions to eligible, one batch (behaviour/execution §6.2)';

CREATE FUNCTION ff.scan_attempt_timeouts(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_attempt_timeouts' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_attempt_timeouts(integer, text, text) IS
    'Expires executions whose attempt ran past its timeout, one batch (behaviour/execution §6.3)';

CREATE FUNCTION ff.scan_execution_deadlines(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_execution_deadlines' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_execution_deadlines(integer, text, text) IS
    'Expires executions past their whole-execution deadline, in any phase, one batch (behaviour/execution §6.4)';

CREATE FUNCTION ff.scan_unblock(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_unblock' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_unblock(integer, text, text) IS
    'Releases budget, quota and route blocks whose cause has cleared, one batch (behaviour/execution §6.7)';

CREATE FUNCTION ff.trim_retention(batch_size integer DEFAULT 200, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_trim_retention' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.trim_retention(integer, text, text) IS
    'Deletes terminal executions past their retention, and expired idempotency keys, one batch (behaviour/execution §6.6)';

CREATE FUNCTION ff.scan_dependencies(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_dependencies' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_dependencies(integer, text, text) IS
    'Resolves edges whose upstream ended but whose completion was never dispatched, one batch (behaviour/flows §6.1)';

-- Cancels members owed a cancel (behaviour/flows §6.4) of cancelled flows whose
-- backlog entry is due by due_before: at most max_flows flows and
-- max_members members, as items of the flow_cancel scanner (a failing one
-- is recorded in ff.scanner_item_failure, left owed and backs off).  Shared by the background pass, which
-- starts as a cancel_flow(wait => false) commits (due_before = no limit),
-- and the reconciler, the backstop once the grace has passed (due_before
-- = now); at most 500 members of one flow per call.  Flows are taken with SKIP LOCKED, so the two never work on one
-- flow at once.
CREATE FUNCTION ff._cancel_owed_members(due_before bigint, max_flows integer, max_members integer,
                                        namespace text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_cancel_owed_members' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._cancel_owed_members(bigint, integer, integer, text) IS
    'Internal: cancels members owed a cancel of flows due by due_before (the flow-cancel pass and reconciler)';

CREATE FUNCTION ff.dispatch_flow_cancels(max_members integer DEFAULT 500)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_dispatch_flow_cancels' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.dispatch_flow_cancels(integer) IS
    'Cancels members owed a cancel by cancel_flow(wait => false), grace or not, up to max_members in one transaction; the engine worker runs it as such a cancel commits';

CREATE FUNCTION ff.scan_flow_cancels(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_flow_cancels' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_flow_cancels(integer, text, text) IS
    'Cancels flow members still owed a cancel after the grace window, one batch (behaviour/flows §6.4)';

CREATE FUNCTION ff.project_flows(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_project_flows' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.project_flows(integer, text, text) IS
    'Writes each live flow''s summary from exact member counts; retires finished flows (behaviour/flows §6.5)';

CREATE FUNCTION ff.scan_suspension_timeouts(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_suspension_timeouts' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_suspension_timeouts(integer, text, text) IS
    'Applies the timeout behaviour of suspensions past their timeout, one batch (behaviour/suspension §6.1)';

CREATE FUNCTION ff.scan_pending_waitpoint_expiry(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_pending_waitpoint_expiry' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_pending_waitpoint_expiry(integer, text, text) IS
    'Closes pending waitpoints past their expiry as never_committed, one batch (behaviour/suspension §6.2)';

-- Budgets due for their periodic reset (behaviour/budgets §7.1), earliest first;
-- each reset reschedules the budget from its own time, a failing one is
-- recorded in ff.scanner_item_failure.  Expired usage idempotency marks are
-- swept on the way.
CREATE FUNCTION ff.scan_budget_resets(batch_size integer DEFAULT 20)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_budget_resets' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_budget_resets(integer) IS
    'Resets budgets whose next_reset_at has come, one batch (behaviour/budgets §7.1)';

-- The drift alarm of non-resetting budgets (behaviour/budgets §7.2): reconciled_breach_at is
-- set while some usage is strictly over its hard limit, cleared otherwise.
CREATE FUNCTION ff.reconcile_budgets(batch_size integer DEFAULT 1000)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_reconcile_budgets' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.reconcile_budgets(integer) IS
    'Marks non-resetting budgets whose usage is over a hard limit (reconciled_breach_at) and clears the mark (behaviour/budgets §7.2)';

-- Quota bookkeeping (behaviour/budgets §7.3): admissions past their window are dropped (their
-- concurrency slots freed themselves at the same moment), and the slots
-- of a released or expired admission are cleared of its execution id.
CREATE FUNCTION ff.reconcile_quotas(batch_size integer DEFAULT 1000)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_reconcile_quotas' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.reconcile_quotas(integer) IS
    'Drops quota admissions past their window, one batch (behaviour/budgets §7.3)';

CREATE FUNCTION ff.sweep_worker_registry(batch_size integer DEFAULT 500)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_sweep_worker_registry' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.sweep_worker_registry(integer) IS
    'Deletes expired worker registrations (reads ignore them already) (behaviour/budgets §7.5)';

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
