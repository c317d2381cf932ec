-- Roles and privileges (issue 10): what each role may call and see, that
-- no role reaches a table, that every function runs as its owner with a
-- pinned search_path, and that a worker cannot act on another worker's lease.
BEGIN;
\ir helpers.psql

GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE ROLE t_reader LOGIN IN ROLE ff_reader;
CREATE ROLE t_worker LOGIN IN ROLE ff_worker;
CREATE ROLE t_worker2 LOGIN IN ROLE ff_worker;
CREATE ROLE t_submitter LOGIN IN ROLE ff_submitter;
CREATE ROLE t_admin LOGIN IN ROLE ff_admin;
CREATE ROLE t_nobody LOGIN;


-- the roles and the shape of every function
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname IN ('ff_reader', 'ff_worker', 'ff_submitter', 'ff_admin')), 4,
          'CREATE EXTENSION made the four roles');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'ff' AND p.prokind = 'f'
             AND (NOT p.prosecdef OR NOT p.proconfig @> ARRAY['search_path=pg_catalog, ff, pg_temp'])), 0,
          'every ff function is SECURITY DEFINER with search_path pinned (pg_temp last)');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'ff' AND has_function_privilege('t_nobody', p.oid, 'EXECUTE')), 0,
          'PUBLIC may call no ff function');
SELECT is((SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, unnest(ARRAY['ff_reader', 'ff_worker', 'ff_submitter', 'ff_admin']) r
           WHERE n.nspname = 'ff' AND c.relkind IN ('r', 'p')
             AND (has_table_privilege(r, c.oid, 'SELECT') OR has_table_privilege(r, c.oid, 'INSERT')
                  OR has_table_privilege(r, c.oid, 'UPDATE') OR has_table_privilege(r, c.oid, 'DELETE'))), 0,
          'no role reaches a table directly');

-- the matrix, by privilege
CREATE TABLE t.matrix (fn text, reader boolean, worker boolean, submitter boolean, admin boolean);
INSERT INTO t.matrix VALUES
    ('read_execution_state', true, true, true, true),
    ('list_executions', true, true, true, true),
    ('get_budget_status', true, true, true, true),
    ('claim_next', false, true, false, true),
    ('renew_lease', false, true, false, true),
    ('complete_execution', false, true, false, true),
    ('update_progress', false, true, false, true),
    ('fail_execution', false, true, false, true),
    ('complete_executions', false, true, false, true),
    ('delay_execution', false, true, false, true),
    ('move_to_waiting_children', false, true, false, true),
    ('create_pending_waitpoint', false, true, false, true),
    ('close_waitpoint', false, true, false, true),
    ('fail_executions', false, true, false, true),
    ('append_frame', false, true, false, true),
    ('suspend_execution', false, true, false, true),
    ('report_usage_and_check', false, true, false, true),
    ('create_execution', false, false, true, true),
    ('cancel_execution', false, false, true, true),
    ('deliver_signal', false, false, true, true),
    ('add_dependency', false, false, true, true),
    ('issue_grant_and_claim', false, false, false, true),
    ('replay_execution', false, false, false, true),
    ('purge_execution', false, false, false, true),
    ('rotate_waitpoint_hmac_secret', false, false, false, true),
    ('read_waitpoint_token', false, false, false, true),
    ('resume_execution', false, false, false, true),
    ('create_budget', false, false, false, true),
    ('run_scanners', false, false, false, true),
    ('_hmac_sha1_hex', false, false, false, true);
SELECT is(array_agg(m.fn ORDER BY m.fn), NULL, 'EXECUTE granted exactly as the matrix says')
FROM t.matrix m, pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'ff' AND p.proname = m.fn
  AND (has_function_privilege('ff_reader', p.oid, 'EXECUTE') <> m.reader
    OR has_function_privilege('ff_worker', p.oid, 'EXECUTE') <> m.worker
    OR has_function_privilege('ff_submitter', p.oid, 'EXECUTE') <> m.submitter
    OR has_function_privilege('ff_admin', p.oid, 'EXECUTE') <> m.admin);
SELECT is((SELECT count(*)::int FROM t.matrix m WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = m.fn)), 0, 'the matrix names real functions');
-- the fence forms (issue 29) are granted by name, so exactly as their separate-ids forms
CREATE TABLE t.fence_forms AS
SELECT p.oid AS fence_form, o.oid AS ids_form FROM pg_proc p
JOIN pg_proc o ON o.proname = p.proname AND o.pronamespace = p.pronamespace AND o.oid <> p.oid
WHERE p.pronamespace = 'ff'::regnamespace AND p.proargtypes[0] IN ('jsonb'::regtype, 'jsonb[]'::regtype)
  AND o.proargtypes[0] IN ('text'::regtype, 'text[]'::regtype);
SELECT is((SELECT count(*)::int FROM t.fence_forms), 13, 'thirteen fence forms');
SELECT is((SELECT array_agg(f.fence_form::regprocedure::text) FROM t.fence_forms f,
           unnest(ARRAY['ff_reader', 'ff_worker', 'ff_submitter', 'ff_admin', 't_nobody']) r
           WHERE has_function_privilege(r, f.fence_form, 'EXECUTE') <> has_function_privilege(r, f.ids_form, 'EXECUTE')), NULL,
          'each fence form is granted exactly as its separate-ids form');

-- the matrix, by behaviour: each role logged in as itself
SELECT is(t.as_role('t_submitter', $$SELECT ff.create_execution(t.id(1), lane_id => 'roles') ->> 'status'$$), 'OK', 'a submitter submits');
SELECT is(t.as_role('t_submitter', $$SELECT count(*) FROM ff.claim_next('roles', 'w', 'w-1')$$), 'ERROR 42501', 'a submitter cannot claim');
SELECT is(t.as_role('t_submitter', $$SELECT count(*)::text FROM ff.executions$$), '1', 'a submitter reads the views');
SELECT is(t.as_role('t_submitter', $$SELECT count(*)::text FROM ff.execution$$), 'ERROR 42501', 'a submitter cannot read a table');
SELECT is(t.as_role('t_reader', $$SELECT ff.read_execution_state(t.id(1)) ->> 'public_state'$$), 'waiting', 'a reader reads');
SELECT is(t.as_role('t_reader', $$SELECT ff.create_execution(t.id(2)) ->> 'status'$$), 'ERROR 42501', 'a reader cannot submit');
SELECT is(t.as_role('t_reader', $$SELECT count(*)::text FROM ff.waitpoints$$), 'ERROR 42501', 'a reader cannot see tokens');
SELECT is(t.as_role('t_nobody', $$SELECT ff.read_execution_state(t.id(1)) ->> 'public_state'$$), 'ERROR 42501', 'a role without ff roles can do nothing');
SELECT is(t.as_role('t_nobody', $$SELECT count(*)::text FROM ff.executions$$), 'ERROR 42501', 'nor read');
SELECT is(t.as_role('t_worker', $$SELECT claim ->> 'execution_id' FROM ff.claim_next('roles', 'w1', 'w1-1')$$), t.id(1), 'a worker claims');
SELECT t.row(t.id(1)) AS leased \gset
SELECT is(t.as_role('t_worker', $$SELECT ff.create_execution(t.id(3)) ->> 'status'$$), 'ERROR 42501', 'a worker cannot submit');
SELECT is(t.as_role('t_worker', $$SELECT ff.cancel_execution(t.id(1)) ->> 'status'$$), 'ERROR 42501', 'a worker cannot cancel as an operator');
-- another worker instance cannot complete it: not with a made-up fence, not by overriding
SELECT is(t.as_role('t_worker2', format($$SELECT ff.complete_execution(%L, %L, %s, %L) ->> 'error'$$, t.id(1), gen_random_uuid(),
          (:'leased'::ff.executions).current_lease_epoch, (:'leased'::ff.executions).current_attempt_id)),
          'stale_lease', 'another worker with a wrong lease id -> stale_lease');
SELECT is(t.as_role('t_worker2', format($$SELECT ff.complete_execution(%L, source => 'operator_override') ->> 'status'$$, t.id(1))),
          'ERROR 42501', 'another worker cannot override the fence');
SELECT is(t.as_role('t_worker2', format($$SELECT ff.fail_execution(%L, source => 'operator_override') ->> 'status'$$, t.id(1))),
          'ERROR 42501', 'nor fail it by override');
SELECT is((t.row(t.id(1))).public_state::text, 'active', 'the execution is untouched');
SELECT is(t.as_role('t_worker', format($$SELECT ff.complete_execution(%L, %L, %s, %L) ->> 'result'$$, t.id(1),
          (:'leased'::ff.executions).current_lease_id, (:'leased'::ff.executions).current_lease_epoch,
          (:'leased'::ff.executions).current_attempt_id)), 'completed', 'the lease holder completes it');
-- the admin
SELECT is(t.as_role('t_submitter', $$SELECT ff.create_execution(t.id(4), lane_id => 'roles') ->> 'status'$$), 'OK', 'another submission');
SELECT is(t.as_role('t_worker', $$SELECT count(*)::text FROM ff.claim_next('roles', 'w1', 'w1-1')$$), '1', 'claimed');
SELECT is(t.as_role('t_admin', format($$SELECT ff.complete_execution(%L, source => 'operator_override') ->> 'result'$$, t.id(4))),
          'completed', 'the admin may override');
SELECT is(t.as_role('t_admin', $$SELECT count(*)::text FROM ff.waitpoints$$), '0', 'the admin sees the waitpoints view');
SELECT is(t.as_role('t_admin', $$SELECT count(*)::text FROM ff.waitpoint_hmac_key$$), 'ERROR 42501', 'not even the admin reads the key table');
SELECT is(t.as_role('t_admin', $$SELECT ff.list_waitpoint_hmac_kids() ->> 'current_kid'$$), 'k1', 'the admin manages keys through functions');
-- the search_path pin: an object planted in a schema first on the caller's path is never used
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.split_part(text, text, integer) RETURNS text LANGUAGE sql AS $$ SELECT 'hijacked' $$;
SELECT ff.create_execution(t.id(6), lane_id => 'roles');
SELECT t.claim(t.id(6));
SELECT ff.create_pending_waitpoint(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
       '00000000-0000-4000-a000-000000000006', NULL, ff.now_ms() + 60000) FROM t.row(t.id(6)) e;
SELECT is(t.as_role('t_reader', $$SELECT set_config('search_path', 'evil, pg_catalog', true) || ' ' ||
          (ff.list_pending_waitpoints(t.id(6)) -> 'waitpoints' -> 0 ->> 'token_kid')$$), 'evil, pg_catalog k1',
          'a hostile search_path does not reach inside a function');

-- waitpoint token material: every MAC input is readable, so no reader sees any
-- part of the MAC; the admin keeps the fingerprint (and ff.waitpoints)
SELECT ff.read_waitpoint_token(t.id(6), '00000000-0000-4000-a000-000000000006') AS tok6 \gset
SELECT is(t.as_role('t_reader', $$SELECT (ff.list_pending_waitpoints(t.id(6)) -> 'waitpoints' -> 0 ? 'token_fingerprint')::text$$), 'false',
          'a reader gets no token fingerprint');
SELECT is(t.as_role('t_submitter', format($$SELECT (position(%L IN ff.list_pending_waitpoints(t.id(6))::text) > 0)::text$$,
          left(split_part(:'tok6', ':', 2), 8))), 'false', 'no part of the digest in what a submitter lists');
SELECT is(t.as_role('t_reader', $$SELECT ff.list_pending_waitpoints(t.id(6)) -> 'waitpoints' -> 0 ->> 'token_kid'$$), 'k1',
          'the kid is not secret: readers see it');
SELECT is(t.as_role('t_admin', $$SELECT ff.list_pending_waitpoints(t.id(6)) -> 'waitpoints' -> 0 ->> 'token_fingerprint'$$),
          left(split_part(:'tok6', ':', 2), 16), 'the admin sees the fingerprint');
SELECT is((SELECT array_agg(c.relname || '.' || a.attname ORDER BY 1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE n.nspname = 'ff' AND c.relkind = 'v' AND has_table_privilege('ff_submitter', c.oid, 'SELECT')
             AND (a.attname ~ 'token|secret|fingerprint')), NULL, 'no view a non-admin reads has a token column');

-- cancel: acting on an active execution without its lease is ff_admin's
SELECT ff.create_execution(t.id(10), lane_id => 'roles');
SELECT t.claim(t.id(10));
SELECT t.row(t.id(10)) AS c10 \gset
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L) ->> 'status'$$, t.id(10))), 'ERROR 42501',
          'a submitter cannot cancel an active execution without its lease (default source)');
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L, 'x', 'operator_override') ->> 'status'$$, t.id(10))), 'ERROR 42501',
          'nor with source operator_override');
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L, 'x', 'lease_holder') ->> 'error'$$, t.id(10))), 'fence_required',
          'another source without the lease -> fence_required');
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L, 'x', lease_id => %L, lease_epoch => %s) ->> 'error'$$, t.id(10),
          gen_random_uuid(), (:'c10'::ff.executions).current_lease_epoch)), 'stale_lease',
          'a non-admin''s operator_override with a lease is checked against it');
SELECT is((t.row(t.id(10))).public_state::text, 'active', 'the active execution is untouched');
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L, 'x', lease_id => %L, lease_epoch => %s) ->> 'cancelled_from'$$, t.id(10),
          (:'c10'::ff.executions).current_lease_id, (:'c10'::ff.executions).current_lease_epoch)), 'active',
          'with the lease a submitter cancels it (default source)');
SELECT ff.create_execution(t.id(11), lane_id => 'roles');
SELECT t.claim(t.id(11));
SELECT t.row(t.id(11)) AS c11 \gset
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L, 'x', 'lease_holder', %L, %s) ->> 'cancelled_from'$$, t.id(11),
          (:'c11'::ff.executions).current_lease_id, (:'c11'::ff.executions).current_lease_epoch)), 'active',
          'and with source lease_holder');
SELECT ff.create_execution(t.id(12), lane_id => 'roles');
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L) ->> 'cancelled_from'$$, t.id(12))), 'runnable',
          'a submitter cancels a waiting execution');
SELECT ff.create_execution(t.id(13), lane_id => 'roles', delay_until => ff.now_ms() + 600000);
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L, 'x', 'operator_override') ->> 'cancelled_from'$$, t.id(13))), 'runnable',
          'and a delayed one');
SELECT ff.create_execution(t.id(14), lane_id => 'roles');
SELECT t.claim(t.id(14));
SELECT ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(),
       '00000000-0000-4000-a000-000000000014', NULL, 'waiting_for_signal', '{}') FROM t.row(t.id(14)) e;
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L) ->> 'cancelled_from'$$, t.id(14))), 'suspended',
          'and a suspended one');
SELECT ff.create_execution(t.id(15), lane_id => 'roles');
SELECT is(t.as_role('t_submitter', format($$SELECT ff.cancel_execution(%L, 'x', 'flow_cascade') ->> 'status'$$, t.id(15))), 'ERROR 42501',
          'source flow_cascade (no completion event) is the admin''s');
SELECT t.claim(t.id(15));
SELECT is(t.as_role('t_admin', format($$SELECT ff.cancel_execution(%L, 'x') ->> 'cancelled_from'$$, t.id(15))), 'active',
          'the admin cancels an active execution without its lease');
SELECT is((t.row(t.id(15))).cancelled_by, 'operator_override', 'recorded as an operator override');
SELECT t.invariants('roles');

SELECT * FROM finish();
ROLLBACK;
