-- The engine's own statements are served by indexes (no sequential scan of
-- a growing table), whatever the table size.  Nothing here is a copy: the
-- C statements are read from ff._engine_statements() (what this backend
-- has prepared and kept), the scanners' selections from their functions'
-- source, and each is explained as the engine plans it (generic when the
-- engine keeps it generic, as index lookups when it asks for that).
SET ff_engine.test_clock_ms = '1700000000000';
SET enable_seqscan = off;
SET enable_bitmapscan = off;
\pset format unaligned
\pset tuples_only on

-- explain one statement: PREPAREd with its argument types, run with args
-- (NULLs when none are given: a generic plan does not look at them)
CREATE FUNCTION pg_temp.explain_statement(stmt text, types regtype[], args text, generic boolean, key_lookups boolean,
                                          fmt text DEFAULT 'TEXT')
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    PERFORM set_config('plan_cache_mode', CASE WHEN generic THEN 'force_generic_plan' ELSE 'force_custom_plan' END, true);
    PERFORM set_config('enable_hashjoin', CASE WHEN key_lookups THEN 'off' ELSE 'on' END, true);
    PERFORM set_config('enable_mergejoin', CASE WHEN key_lookups THEN 'off' ELSE 'on' END, true);
    IF cardinality(types) > 0 THEN
        EXECUTE format('PREPARE explained(%s) AS %s', array_to_string(types, ', '), stmt);
        FOR line IN EXECUTE format('EXPLAIN (COSTS OFF, FORMAT %s) EXECUTE explained(%s)', fmt,
                coalesce(args, array_to_string(array_fill('NULL'::text, ARRAY[cardinality(types)]), ', '))) LOOP
            RETURN NEXT line;
        END LOOP;
    ELSE
        EXECUTE format('PREPARE explained AS %s', stmt);
        FOR line IN EXECUTE format('EXPLAIN (COSTS OFF, FORMAT %s) EXECUTE explained', fmt) LOOP
            RETURN NEXT line;
        END LOOP;
    END IF;
    DEALLOCATE explained;
END $$;

-- the one kept C statement matching a pattern, explained
CREATE FUNCTION pg_temp.explain_kept(pattern text, args text DEFAULT NULL) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE s record; n integer;
BEGIN
    SELECT count(*) INTO n FROM ff._engine_statements() k WHERE k.statement LIKE pattern;
    IF n <> 1 THEN RAISE EXCEPTION '% kept statements match %', n, pattern; END IF;
    SELECT * INTO s FROM ff._engine_statements() k WHERE k.statement LIKE pattern;
    RETURN QUERY SELECT pg_temp.explain_statement(s.statement, s.argument_types, args, s.generic, s.key_lookups);
END $$;

-- the growing tables a statement's generic plan reads whole: a sequential
-- scan, or an index scan with no index condition over an index that is not
-- partial (a partial index holds only the rows its scanner wants)
CREATE FUNCTION pg_temp.full_scans(stmt text, types regtype[], key_lookups boolean) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT DISTINCT n ->> 'Relation Name'
    FROM pg_temp.explain_statement(stmt, types, NULL, true, key_lookups, 'JSON') j,
         jsonb_path_query(j::jsonb, 'strict $.**') n
    WHERE jsonb_typeof(n) = 'object' AND n ->> 'Relation Name' IN ('execution', 'execution_data', 'attempt', 'lease_history',
            'claim_grant', 'completion_event', 'signal', 'waitpoint', 'suspension', 'dependency', 'edge_group', 'stream_frame',
            'flow_edge', 'signal_dedup', 'idempotency_key', 'quota_admission', 'quota_slot')
      AND (n ->> 'Node Type' = 'Seq Scan'
           OR (n ? 'Index Name' AND NOT n ? 'Index Cond'
               AND NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                               JOIN pg_namespace s ON s.oid = c.relnamespace
                               WHERE s.nspname = 'ff' AND c.relname = n ->> 'Index Name' AND i.indpred IS NOT NULL)))
$$;

-- run the hot paths once, so that their statements are kept
SELECT count(*) AS created FROM jsonb_array_elements(ff.create_executions(
    ARRAY(SELECT ff.format_execution_id(1::smallint, ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid)
          FROM generate_series(1, 3) g))->'results');
CREATE TEMP TABLE fences AS SELECT row_number() OVER () AS n, c.claim->>'execution_id' AS id, (c.claim->>'lease_id')::uuid AS lease,
    (c.claim->>'lease_epoch')::bigint AS epoch, (c.claim->>'attempt_id')::uuid AS attempt
    FROM ff.claim_next('default', 'w', 'w-1', max_count => 3) c;
SELECT count(*) AS reclaimed FROM ff.claim_next('default', 'w', 'w-1', reclaim => true);
-- (a batch fail: a batch complete of first attempts writes no attempt row)
SELECT ff.fail_executions(ARRAY(SELECT id FROM fences WHERE n < 3 ORDER BY n), ARRAY(SELECT lease FROM fences WHERE n < 3 ORDER BY n),
    ARRAY(SELECT epoch FROM fences WHERE n < 3 ORDER BY n), ARRAY(SELECT attempt FROM fences WHERE n < 3 ORDER BY n),
    ARRAY['planned', 'planned']) ->> 'succeeded' AS failed;
SELECT ff.complete_execution(id, lease, epoch, attempt) ->> 'status' AS completed FROM fences WHERE n = 3;
-- a flow: an edge resolved by the dispatcher
SELECT ff.create_flow('f0000000-0000-4000-8000-000000000001') ->> 'status' AS flow;
CREATE TEMP TABLE members AS SELECT g, ff.flow_member_execution_id('f0000000-0000-4000-8000-000000000001') AS id FROM generate_series(1, 2) g;
SELECT count(*) AS members FROM members, ff.create_execution(id, lane_id => 'plans'),
    ff.add_execution_to_flow('f0000000-0000-4000-8000-000000000001', id);
SELECT ff.add_dependency('f0000000-0000-4000-8000-000000000001', (SELECT id FROM members WHERE g = 1), (SELECT id FROM members WHERE g = 2)) ->> 'status' AS edge;
SELECT ff.complete_execution(c.claim->>'execution_id', (c.claim->>'lease_id')::uuid, (c.claim->>'lease_epoch')::bigint,
    (c.claim->>'attempt_id')::uuid) ->> 'status' AS completed FROM ff.claim_next('plans', 'w', 'w-1') c;
SELECT ff.dispatch_completions(10) ->> 'resolved' AS resolved;
-- a suspension resumed by a signal, a failure, a cancel
SELECT count(*) AS created FROM generate_series(4, 6) g,
    ff.create_execution(ff.format_execution_id(1::smallint, ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid), lane_id => 'plans2');
CREATE TEMP TABLE f2 AS SELECT row_number() OVER () AS n, c.claim->>'execution_id' AS id, (c.claim->>'lease_id')::uuid AS lease,
    (c.claim->>'lease_epoch')::bigint AS epoch, (c.claim->>'attempt_id')::uuid AS attempt
    FROM ff.claim_next('plans2', 'w', 'w-1', max_count => 3) c;
SELECT ff.suspend_execution(id, 0, lease, epoch, attempt, gen_random_uuid(), '00000000-0000-4000-a000-000000000001', NULL,
    'waiting_for_signal', '{"required_signal_names": ["go"]}') ->> 'status' AS suspended FROM f2 WHERE n = 1;
SELECT ff.deliver_signal(id, '00000000-0000-4000-a000-000000000001', gen_random_uuid(), 'go',
    ff.read_waitpoint_token(id, '00000000-0000-4000-a000-000000000001')) ->> 'effect' AS signal FROM f2 WHERE n = 1;
SELECT ff.fail_execution(id, lease, epoch, attempt, 'boom', 'transient') ->> 'status' AS failed FROM f2 WHERE n = 2;
SELECT ff.cancel_execution(id, 'stop', 'operator_override') ->> 'status' AS cancelled FROM f2 WHERE n = 3;

-- ff.claim_next's candidates are read by no statement: the lane's partial
-- index ELIGIBLE, and for a reclaim LEASE_LOST then LEASE_EXPIRY (no index
-- of all active executions, which every claim would insert into), are
-- walked in their order and locked (src/exec_core_lock.c); a batch's
-- executions are locked by their primary key, one after the other in id
-- order, the same way
SELECT count(*) AS locking_statements FROM ff._engine_statements() WHERE statement LIKE '%FROM ff.execution e %FOR UPDATE%';
-- a batch's deferred writes, one statement per table for all its rows (as
-- index lookups even over an empty table: FFPlan.key_lookups)
SELECT pg_temp.explain_kept('UPDATE ff.attempt_record t SET %FROM pg_catalog.unnest($1)%');

-- the core row is written where its locking read found it, by no statement
-- (src/exec_core_write.c): after every operation above, none stored by key
SELECT count(*) AS core_stores_by_key FROM ff._engine_statements() WHERE statement LIKE 'UPDATE ff.execution SET %';

-- the scanners' selections (src/bgw_scanners.c), kept once each has run,
-- planned custom for the clock, a batch of 50, no filter
SELECT ff.scan_delayed() ->> 'ok', ff.scan_lease_expiry() ->> 'ok', ff.scan_attempt_timeouts() ->> 'ok',
       ff.scan_execution_deadlines() ->> 'ok', ff.trim_retention() ->> 'ok', ff.scan_unblock() ->> 'ok',
       ff.scan_suspension_timeouts() ->> 'ok', ff.scan_pending_waitpoint_expiry() ->> 'ok';
SELECT pg_temp.explain_kept('%e.delay_until <= $1%', '1700000000000, 50, NULL, NULL, NULL, ''delayed''');
SELECT pg_temp.explain_kept('%e.lease_expires_at <= $1 AND%scanner_item_failure%', '1700000000000, 50, NULL, NULL, NULL, ''lease_expiry''');
SELECT pg_temp.explain_kept('%e.attempt_timeout_at <= $1%', '1700000000000, 50, NULL, NULL, NULL, ''attempt_timeout''');
SELECT pg_temp.explain_kept('%e.execution_deadline_at <= $1%', '1700000000000, 50, NULL, NULL, NULL, ''execution_deadline''');
SELECT pg_temp.explain_kept('%e.purge_after <= $1%', '1700000000000, 50, NULL, NULL, NULL, ''retention''');
SELECT pg_temp.explain_kept('%blocked_by_budget%scanner_item_failure%', '1700000000000, 50, NULL, NULL, NULL, ''unblock''');
SELECT pg_temp.explain_kept('%s.timeout_at <= $1%', '1700000000000, 50, NULL, NULL, NULL, ''suspension_timeout''');
SELECT pg_temp.explain_kept('%w.expires_at <= $1%scanner_item_failure%', '1700000000000, 50, NULL, NULL, NULL, ''pending_waitpoint_expiry''');

-- and every statement kept so far, generic as the engine may keep any of
-- them: none reads a growing table whole (the list is empty) ...
SELECT k.statement, pg_temp.full_scans(k.statement, k.argument_types, k.key_lookups) AS read_whole
FROM ff._engine_statements() k;
SELECT count(*) > 15 AS many_statements_checked FROM ff._engine_statements();
-- ... which the check would see: a filter on an unindexed column
SELECT pg_temp.full_scans('SELECT 1 FROM ff.execution WHERE creator_identity = $1', '{text}', false) AS control_read_whole;
SELECT pg_temp.full_scans('SELECT 1 FROM ff.execution e WHERE e.current_worker_id = $1 ORDER BY e.partition, e.execution_id', '{text}', false)
    AS control_read_whole_by_index;
