-- Leaky-view probes (issue 20): a role bound to namespace 'a' puts a cheap
-- function of its own in the WHERE clause of every ff view it may read, with
-- tenant 'b''s data present.  The function records every row it is shown;
-- a view that is not security_barrier lets the planner run it on rows the
-- view's filter would have dropped.  Views are enumerated from pg_class with
-- has_table_privilege, so a new view is probed without editing this file.
--
-- Every object of tenant T carries the marker T repeated 8 times as the first
-- group of its uuid ('aaaaaaaa-...' for a, 'bbbbbbbb-...' for b), so "nothing
-- of b" is "no captured row text contains bbbbbbbb".
--
-- Cells per (role, view): readable (no error), filtered (its plain rows hold
-- nothing of b), probed (the function saw every row the role sees: the probe
-- is live) and barrier (the function saw nothing of b).
BEGIN;
\ir helpers.psql

GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE ROLE t_la_reader LOGIN IN ROLE ff_reader;
CREATE ROLE t_la_worker LOGIN IN ROLE ff_worker;
CREATE ROLE t_la_submitter LOGIN IN ROLE ff_submitter;
SELECT ff.grant_namespace(r, 'a') FROM unnest(ARRAY['t_la_reader', 't_la_worker', 't_la_submitter']) r;

-- an object id of tenant ns: the marker, then n
CREATE FUNCTION t.u(ns text, n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT format('%s-0000-4000-8000-%s', repeat(ns, 8), lpad(n::text, 12, '0'))::uuid
$$;
CREATE FUNCTION t.solo(ns text, n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('{fp:0}:%s', t.u(ns, n))
$$;
CREATE FUNCTION t.member_of(ns text, n integer) RETURNS text LANGUAGE sql AS $$
    SELECT format('{fp:%s}:%s', ff.flow_partition(t.u(ns, 900)), t.u(ns, n))
$$;

-- The same data for each tenant: a flow with two members and an edge, a
-- suspended execution with a signal (payload included), a budget and a quota
-- attached to an execution, and an execution that breaks an invariant.
CREATE FUNCTION t.tenant_data(ns text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    e ff.executions;
    tok text;
BEGIN
    PERFORM ff.create_flow(t.u(ns, 900), 'leak', namespace => ns);
    PERFORM ff.create_execution(t.member_of(ns, 1), namespace => ns, lane_id => 'leak');
    PERFORM ff.create_execution(t.member_of(ns, 2), namespace => ns, lane_id => 'leak');
    PERFORM ff.add_execution_to_flow(t.u(ns, 900), t.member_of(ns, 1));
    PERFORM ff.add_execution_to_flow(t.u(ns, 900), t.member_of(ns, 2));
    PERFORM ff.add_dependency(t.u(ns, 900), t.member_of(ns, 1), t.member_of(ns, 2), edge_id => t.u(ns, 901));

    PERFORM ff.create_execution(t.solo(ns, 3), namespace => ns, lane_id => 'leak_' || ns);
    PERFORM t.claim(t.solo(ns, 3));
    e := t.row(t.solo(ns, 3));
    tok := ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, t.u(ns, 902),
                                t.u(ns, 903), NULL, 'waiting_for_signal', '{"required_signal_names": ["never"]}') ->> 'waitpoint_token';
    PERFORM ff.deliver_signal(e.id, t.u(ns, 903), t.u(ns, 904), 'x', tok, payload => convert_to('payload of ' || ns, 'UTF8'));

    PERFORM ff.create_budget(t.u(ns, 905), '{tokens}', '{100}', '{80}', scope_type => 'namespace', scope_id => ns);
    PERFORM ff.create_quota_policy(t.u(ns, 906), 60, 100, 10);
    PERFORM ff.create_execution(t.solo(ns, 4), namespace => ns, lane_id => 'leak_' || ns);
    PERFORM ff.set_execution_admission(t.solo(ns, 4), ARRAY[t.u(ns, 905)], t.u(ns, 906));

    -- listed by ff.consistency_violations
    PERFORM ff.create_execution(t.solo(ns, 5), namespace => ns, lane_id => 'leak_' || ns);
    UPDATE ff.execution SET public_state = 'completed' WHERE execution_id = t.u(ns, 5);
END $$;
SELECT t.tenant_data('a');
SELECT t.tenant_data('b');
SELECT is((SELECT count(*)::int FROM ff.signals WHERE convert_from(payload, 'UTF8') = 'payload of b'), 1, 'b''s signal is there');

-- The probe, as role r: its own capture table and cheap function in pg_temp;
-- then, for every ff view it may SELECT, its plain rows and what the function
-- is shown by SELECT count(*) FROM ff.<view> x WHERE pg_temp.leak_<r>(view, x).
CREATE TABLE t.seen (role text, view text, kind text, row_text text);
CREATE FUNCTION t.probe(r text) RETURNS void LANGUAGE plpgsql AS $probe$
DECLARE
    tbl text := 'captured_' || r;
    fn text := 'leak_' || r;
    v text;
    n bigint;
BEGIN
    PERFORM set_config('role', r, true);
    EXECUTE format('CREATE TEMP TABLE %I (view text, kind text, row_text text)', tbl);
    EXECUTE format($f$CREATE FUNCTION pg_temp.%I(v text, r anyelement) RETURNS boolean
                      LANGUAGE plpgsql VOLATILE COST 0.0000001 AS $b$
                      BEGIN
                          RAISE NOTICE 'leak %%: %%', v, r;
                          INSERT INTO pg_temp.%I VALUES (v, 'leak', r::text);
                          RETURN false;
                      END $b$ $f$, fn, tbl);
    FOR v IN SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = 'ff' AND c.relkind IN ('v', 'm') AND has_table_privilege(c.oid, 'SELECT')
             ORDER BY c.relname LOOP
        EXECUTE format('INSERT INTO pg_temp.%I VALUES (%L, %L, NULL)', tbl, v, 'view');
        BEGIN
            EXECUTE format('INSERT INTO pg_temp.%I SELECT %L, %L, x::text FROM ff.%I x', tbl, v, 'plain', v);
            EXECUTE format('SELECT count(*) FROM ff.%I x WHERE pg_temp.%I(%L, x)', v, fn, v) INTO n;
        EXCEPTION WHEN OTHERS THEN
            EXECUTE format('INSERT INTO pg_temp.%I VALUES (%L, %L, %L)', tbl, v, 'error', SQLSTATE || ' ' || SQLERRM);
        END;
    END LOOP;
    PERFORM set_config('role', 'none', true);
    EXECUTE format('INSERT INTO t.seen SELECT %L, c.view, c.kind, c.row_text FROM pg_temp.%I c', r, tbl);
END $probe$;
SELECT t.probe(r) FROM unnest(ARRAY['t_la_reader', 't_la_worker', 't_la_submitter']) r;

SELECT cmp_ok((SELECT count(DISTINCT view)::int FROM t.seen WHERE kind = 'view' AND role = 't_la_reader'), '>=', 10,
              'the reader may read the ff views');
SELECT is((SELECT count(*)::int FROM t.seen WHERE kind = 'view' AND view = 'waitpoints'), 0, 'no non-admin may read ff.waitpoints');

-- the cells
SELECT is((SELECT string_agg(e.row_text, '; ') FROM t.seen e WHERE e.role = v.role AND e.view = v.view AND e.kind = 'error'),
          NULL, format('%s reads ff.%s', v.role, v.view))
FROM t.seen v WHERE v.kind = 'view' ORDER BY v.role, v.view;
SELECT is((SELECT count(*)::int FROM t.seen p WHERE p.role = v.role AND p.view = v.view AND p.kind = 'plain'
             AND p.row_text LIKE '%bbbbbbbb%'), 0, format('%s: ff.%s shows nothing of b', v.role, v.view))
FROM t.seen v WHERE v.kind = 'view' ORDER BY v.role, v.view;
SELECT is((SELECT count(*)::int FROM t.seen p WHERE p.role = v.role AND p.view = v.view AND p.kind = 'plain'
             AND NOT EXISTS (SELECT 1 FROM t.seen l WHERE l.role = p.role AND l.view = p.view AND l.kind = 'leak'
                             AND l.row_text = p.row_text)), 0,
          format('%s: the probe function saw every row of ff.%s it may see', v.role, v.view))
FROM t.seen v WHERE v.kind = 'view' ORDER BY v.role, v.view;
SELECT is((SELECT count(*)::int FROM t.seen l WHERE l.role = v.role AND l.view = v.view AND l.kind = 'leak'
             AND l.row_text LIKE '%bbbbbbbb%'), 0, format('%s: a cheap function in the WHERE of ff.%s sees nothing of b', v.role, v.view))
FROM t.seen v WHERE v.kind = 'view' ORDER BY v.role, v.view;

-- the probe is live: a's rows reached the function
SELECT cmp_ok((SELECT count(*)::int FROM t.seen WHERE role = 't_la_reader' AND view = 'signals' AND kind = 'leak'
               AND row_text LIKE '%aaaaaaaa%'), '>', 0, 'the probe saw a''s signal');
SELECT cmp_ok((SELECT count(*)::int FROM t.seen WHERE role = 't_la_reader' AND view = 'suspensions' AND kind = 'leak'
               AND row_text LIKE '%aaaaaaaa%'), '>', 0, 'and a''s suspension');

SELECT * FROM finish();
ROLLBACK;
