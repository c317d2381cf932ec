-- The role x function x tenant matrix (issue 20): every ff function and
-- every view, called as every kind of caller, against the objects of the
-- caller's own tenant ('a') and of the other tenant ('b').  The expected
-- outcome of every cell is written down once, in t.mx_fn below; the test
-- fails on any cell that differs and on any ff function (by signature) or
-- view missing from that table.
--
-- Callers (login roles made here), for each r of reader, worker, submitter
-- and admin (the role ff_<r>):
--   mx_<r>_a  granted ff_<r>, bound to namespace 'a' (ff.grant_namespace)
--   mx_<r>_g  a member of group mx_group_a_<r>, which is granted ff_<r> and
--             bound to 'a' (bindings follow role membership)
--   mx_<r>_u  granted ff_<r>, not bound
-- and mx_nobody, with no ff role at all.
--
-- Outcome classes:
--   denied   ERROR 42501
--   hidden   the not-found envelope, NULL, or the target absent from a listing
--   reached  anything else: the object was found (OK envelope, or a domain
--            outcome such as stale_lease or execution_not_active)
--   error:<SQLSTATE>  any other error
--
-- Expected outcome of a cell, from the row of its function:
--   the caller lacks EXECUTE (column grp)           -> denied
--   an admin caller (bound or not), either tenant    -> admin (default free)
--   an unbound non-admin caller, either tenant       -> free (default own)
--   a caller bound to 'a' (directly or by a group)   -> own on a's object,
--                                                       other on b's
--
-- Each cell runs as its caller (SET ROLE) in a subtransaction that is rolled
-- back (t.mx_cell), as a statement of its own under statement_timeout, so
-- cells neither disturb nor block each other.  Besides the cells: no result
-- shown to a non-admin carries a lease id or a waitpoint token, and the
-- cells left the engine tables as they found them.
BEGIN;
\ir helpers.psql
\set QUIET 1
SET LOCAL statement_timeout = '20s';

-- ---- callers ----
CREATE TABLE t.mx_caller (caller text PRIMARY KEY, role text NOT NULL, binding text NOT NULL);
CREATE FUNCTION t.mx_callers() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['reader', 'worker', 'submitter', 'admin'] LOOP
        EXECUTE format('CREATE ROLE %I LOGIN IN ROLE %I', 'mx_' || r || '_a', 'ff_' || r);
        PERFORM ff.grant_namespace('mx_' || r || '_a', 'a');
        EXECUTE format('CREATE ROLE %I LOGIN IN ROLE %I', 'mx_' || r || '_u', 'ff_' || r);
        EXECUTE format('CREATE ROLE %I NOLOGIN IN ROLE %I', 'mx_group_a_' || r, 'ff_' || r);
        PERFORM ff.grant_namespace('mx_group_a_' || r, 'a');
        EXECUTE format('CREATE ROLE %I LOGIN IN ROLE %I', 'mx_' || r || '_g', 'mx_group_a_' || r);
        INSERT INTO t.mx_caller VALUES ('mx_' || r || '_a', r, 'a'), ('mx_' || r || '_g', r, 'g'), ('mx_' || r || '_u', r, 'u');
    END LOOP;
    CREATE ROLE mx_nobody LOGIN;
    INSERT INTO t.mx_caller VALUES ('mx_nobody', 'none', 'u');
END $$;
DO $$ BEGIN PERFORM t.mx_callers(); END $$;

-- ---- the objects of each tenant ----
-- Per namespace: W waiting (alone on its lane), WG waiting with a claim
-- grant for worker mxw, A active (frames, a pending waitpoint P), S suspended on
-- waitpoint S_wp (with a signal that did not satisfy it), T completed with a
-- result, R resumed by a signal (with a claim grant), flow F with members
-- M1 -> M2 (edge E, an edge group on M2) and M3, budget B, quota Q, worker
-- WK.  G and GQ are a global budget and quota.  Fences are read as the
-- superuser: a tenant holding another tenant's fence must still not reach it.
CREATE TABLE t.mx_obj (ns text PRIMARY KEY, o jsonb NOT NULL);
CREATE FUNCTION t.mx_make(ns text, base integer) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o jsonb := jsonb_build_object('ns', ns, 'lane', 'mx_' || ns, 'olane', 'mxo_' || ns, 'rlane', 'mxr_' || ns, 'glane', 'mxg_' || ns,
                                  'G', '00000000-0000-4000-b000-000000000999', 'GQ', '00000000-0000-4000-c000-000000000999');
    w text := t.id(base + 1); a text := t.id(base + 2); s text := t.id(base + 3);
    tt text := t.id(base + 4); r text := t.id(base + 5); wg text := t.id(base + 6);
    f uuid := format('f0000000-0000-4000-8000-%s', lpad(base::text, 12, '0'))::uuid;
    m1 text; m2 text; m3 text;
    pwp uuid := format('00000000-0000-4000-a000-%s', lpad((base + 2)::text, 12, '0'))::uuid;
    swp uuid := format('00000000-0000-4000-a000-%s', lpad((base + 3)::text, 12, '0'))::uuid;
    rwp uuid := format('00000000-0000-4000-a000-%s', lpad((base + 5)::text, 12, '0'))::uuid;
    bud uuid := format('00000000-0000-4000-b000-%s', lpad(base::text, 12, '0'))::uuid;
    quo uuid := format('00000000-0000-4000-c000-%s', lpad(base::text, 12, '0'))::uuid;
    e ff.executions;
    res jsonb;
BEGIN
    PERFORM ff.create_execution(w, namespace => ns, lane_id => 'mx_' || ns, input_payload => 'in', tags => '{"k": "v"}');
    PERFORM ff.create_execution(wg, namespace => ns, lane_id => 'mxg_' || ns);
    PERFORM ff.issue_claim_grant(wg, 'mxw', 'mxw-1', 'mxg_' || ns);
    PERFORM ff.create_execution(a, namespace => ns, lane_id => 'mxo_' || ns, tags => '{"k": "v"}');
    PERFORM t.claim(a);
    e := t.row(a);
    PERFORM ff.append_frame(a, 0, e.current_lease_id, e.current_lease_epoch, 'stdout', 'hello');
    PERFORM ff.append_frame(a, 0, e.current_lease_id, e.current_lease_epoch, 'summary', '{"x": 1}',
                            stream_mode => 'summary', patch_kind => 'json-merge-patch');
    PERFORM ff.create_pending_waitpoint(a, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, pwp, 'pk',
                                        ff.now_ms() + 3600000);
    o := o || jsonb_build_object('W', w, 'WG', wg, 'A', a, 'A_lease', e.current_lease_id, 'A_epoch', e.current_lease_epoch,
                                 'A_att', e.current_attempt_id, 'A_idx', e.current_attempt_index, 'P_wp', pwp,
                                 'P_token', ff.read_waitpoint_token(a, pwp),
                                 'A_fence', jsonb_build_object('execution_id', a, 'lease_id', e.current_lease_id,
                                     'lease_epoch', e.current_lease_epoch, 'attempt_id', e.current_attempt_id,
                                     'attempt_index', e.current_attempt_index));
    PERFORM ff.create_execution(s, namespace => ns, lane_id => 'mxo_' || ns);
    PERFORM t.claim(s);
    e := t.row(s);
    res := ff.suspend_execution(s, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(),
                                swp, 'sk', 'waiting_for_signal', '{"required_signal_names": ["go"]}');
    PERFORM ff.deliver_signal(s, swp, gen_random_uuid(), 'noise', res->>'waitpoint_token');
    o := o || jsonb_build_object('S', s, 'S_wp', swp, 'S_token', res->>'waitpoint_token');
    PERFORM ff.create_execution(tt, namespace => ns, lane_id => 'mxo_' || ns, tags => '{"k": "v"}');
    PERFORM t.claim(tt);
    PERFORM t.complete(tt, 'result');
    PERFORM ff.create_execution(r, namespace => ns, lane_id => 'mxr_' || ns);
    PERFORM t.claim(r);
    e := t.row(r);
    res := ff.suspend_execution(r, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(),
                                rwp, 'rk', 'waiting_for_signal', '{"required_signal_names": ["go"]}');
    PERFORM ff.deliver_signal(r, rwp, gen_random_uuid(), 'go', res->>'waitpoint_token');
    PERFORM ff.issue_claim_grant(r, 'mxw', 'mxw-1', 'mxr_' || ns);
    o := o || jsonb_build_object('T', tt, 'R', r);
    PERFORM ff.create_flow(f, 'dag', ns);
    m1 := ff.flow_member_execution_id(f); m2 := ff.flow_member_execution_id(f); m3 := ff.flow_member_execution_id(f);
    PERFORM ff.create_execution(x, namespace => ns, lane_id => 'mxf_' || ns) FROM unnest(ARRAY[m1, m2, m3]) x;
    PERFORM ff.add_execution_to_flow(f, x) FROM unnest(ARRAY[m1, m2, m3]) x;
    res := ff.add_dependency(f, m1, m2);
    o := o || jsonb_build_object('F', f, 'M1', m1, 'M2', m2, 'M3', m3, 'E', res->>'edge_id', 'F_rev', res->>'graph_revision');
    PERFORM ff.create_budget(bud, '{tokens}', '{1000}', '{800}', namespace => ns);
    PERFORM ff.create_quota_policy(quo, 60, 100, 10, namespace => ns);
    PERFORM ff.register_worker('wk-' || ns, 'wk', ARRAY['mx_' || ns], namespace => ns);
    o := o || jsonb_build_object('B', bud, 'Q', quo, 'WK', 'wk-' || ns);
    -- a schedule SC and a terminal failure X (the dead-letter view) (issue 26)
    PERFORM ff.create_schedule('sc-' || ns, '0 * * * *', namespace => ns, lane_id => 'mxs_' || ns);
    PERFORM ff.create_execution(t.id(base + 7), namespace => ns, lane_id => 'mxd_' || ns);
    PERFORM t.claim(t.id(base + 7));
    PERFORM t.fail(t.id(base + 7));
    o := o || jsonb_build_object('SC', 'sc-' || ns, 'X', t.id(base + 7));
    INSERT INTO t.mx_obj VALUES (ns, o);
    RETURN o;
END $$;
DO $$
BEGIN
    PERFORM ff.create_budget('00000000-0000-4000-b000-000000000999', '{tokens}', '{1000}', '{800}');
    PERFORM ff.create_quota_policy('00000000-0000-4000-c000-000000000999', 60, 100, 10);
    PERFORM t.mx_make('a', 100);
    PERFORM t.mx_make('b', 200);
    -- sibling-cancel counters exist (they count over every tenant)
    INSERT INTO ff.sibling_cancel_stat VALUES ('sibling_quorum_satisfied', 'cancelled', 1);
END $$;

-- ---- the expected outcomes, once ----
-- sig: the function's regprocedure, or view:<name>; kase: a second row for
-- the same function when one call cannot show everything; grp: who has
-- EXECUTE / SELECT (R = ff_reader and so every ff role, W = ff_worker, S =
-- ff_submitter, A = ff_admin only, - = nobody); own / other / free / admin:
-- see the header; cls: how a result is classified (env: a jsonb envelope,
-- an error *not_found* or the registry's result not_registered -> hidden; has: a boolean, true -> reached, false or NULL ->
-- hidden; val: NULL -> hidden; ok: any result -> reached); tpl: the call,
-- {{key}} standing for the target tenant's object (t.mx_obj) as a literal.
CREATE TABLE t.mx_fn (id serial PRIMARY KEY, sig text NOT NULL, kase text NOT NULL DEFAULT '', grp text NOT NULL CHECK (grp IN ('R', 'W', 'S', 'A', '-')),
                      own text, other text, free text, admin text,
                      cls text NOT NULL CHECK (cls IN ('env', 'has', 'val', 'ok')), tpl text NOT NULL,
                      UNIQUE (sig, kase));
INSERT INTO t.mx_fn (sig, kase, grp, own, other, free, admin, cls, tpl) VALUES
-- internal functions: the admin (who has every function) may call them; they know no tenant
('ff._binding_role(name)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._binding_role('mx_nobody')$$),
('ff._budget_block_detail(text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._budget_block_detail({{B}}, {{ns}})$$),
('ff._cancel_owed_members(bigint,integer,integer,text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._cancel_owed_members(0, 1, 1, {{ns}})$$),
('ff._check_worker_id(text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._check_worker_id('w', 'worker_id')::text$$),
('ff._caller_now_ms(bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._caller_now_ms(NULL)$$),
('ff._hmac_require_strong_secret(text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._hmac_require_strong_secret(repeat('ab', 32))::text$$),
('ff._hmac_input_error(text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._hmac_input_error('k', 'ab')$$),
('ff._hmac_sha1_hex(bytea,bytea)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._hmac_sha1_hex('k', 'm')$$),
('ff._quota_refuses(uuid,bigint,text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._quota_refuses({{Q}}, 0, {{ns}})$$),
('ff._quota_refusing(uuid)', '', 'R', 'reached', 'hidden', NULL, NULL, 'val', $$SELECT ff._quota_refusing({{Q}})$$),
('ff._quota_refusing(uuid)', 'global', 'R', 'hidden', 'hidden', 'reached', NULL, 'val', $$SELECT ff._quota_refusing({{GQ}})$$),
('ff._random_secret()', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._random_secret()$$),
-- the restore trigger (issue 27) runs only as a trigger
('ff._restore_replaces()', '', 'A', 'error:0A000', NULL, NULL, NULL, 'ok', $$SELECT ff._restore_replaces()::text$$),
('ff._reconcile_dependencies_of(text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._reconcile_dependencies_of({{M2}})$$),
('ff._setting_ms(text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._setting_ms('statement_timeout')$$),
('ff._wake_launcher()', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._wake_launcher()$$),
-- internal functions readers have: whether the caller is an admin, and its namespaces
('ff._is_admin()', '', 'R', 'hidden', 'hidden', NULL, 'reached', 'has', $$SELECT ff._is_admin()$$),
('ff._json_limit()', '', 'A', 'error:39P01', NULL, NULL, NULL, 'ok', $$SELECT ff._json_limit()$$),
-- the kept tables' invalidation runs only as a trigger
('ff._kept_table_changed()', '', 'A', 'error:39P01', NULL, NULL, NULL, 'ok', $$SELECT ff._kept_table_changed()::text$$),
('ff._namespaces()', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT {{ns}} = ANY (coalesce(ff._namespaces(), ARRAY[{{ns}}]))$$),
-- the job registry: configuration, no tenant's data (ff.scanner_status reads it as its caller)
('ff._jobs()', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT count(*) FROM ff._jobs()$$),
-- pure functions of their arguments (ids, partitions, clock): every ff role
('ff.budget_partition(uuid)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.budget_partition({{B}})$$),
('ff.crc16(bytea)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.crc16('abc')$$),
('ff.derive_public_state(ff.lifecycle_phase,ff.eligibility_state,ff.terminal_outcome)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok',
 $$SELECT ff.derive_public_state('runnable', 'eligible_now', 'none')$$),
('ff.execution_id(text)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.execution_id({{lane}})$$),
('ff.flow_member_execution_id(uuid)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.flow_member_execution_id({{F}})$$),
('ff.flow_partition(uuid)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.flow_partition({{F}})$$),
('ff.format_execution_id(smallint,uuid)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.format_execution_id(0::smallint, gen_random_uuid())$$),
('ff.lane_channel(text)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.lane_channel({{lane}})$$),
('ff.now_ms()', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.now_ms()$$),
('ff.parse_execution_id(text)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT (ff.parse_execution_id({{W}})).partition$$),
('ff.quota_partition(uuid)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.quota_partition({{Q}})$$),
('ff.scanner_interval_ms(text)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.scanner_interval_ms('delayed')$$),
('ff.solo_partition(text)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.solo_partition({{lane}})$$),
-- the completion channel of a namespace: 42501 for one the caller is not bound to
('ff.completion_channel(text)', '', 'R', 'reached', 'denied', NULL, NULL, 'ok', $$SELECT ff.completion_channel({{ns}})$$),
-- the lease channel of a namespace: the same
('ff.lease_channel(text)', '', 'R', 'reached', 'denied', NULL, NULL, 'ok', $$SELECT ff.lease_channel({{ns}})$$),
-- metrics (issue 27): a bound caller's exposition names only its own lanes
('ff.metrics()', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT strpos(ff.metrics(), 'lane="' || {{lane}} || '"') > 0$$),
-- the engine's kept statements: SQL text, no tenant data
('ff._engine_statements()', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT count(*) FROM ff._engine_statements()$$),
-- execution reads
('ff.read_execution_state(text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.read_execution_state({{W}})$$),
('ff.read_execution_info(text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.read_execution_info({{W}})$$),
('ff.describe_execution(text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.describe_execution({{A}})$$),
('ff.describe_execution(text)', 'lease_id', 'R', 'hidden', 'hidden', NULL, 'reached', 'val',
 $$SELECT ff.describe_execution({{A}}) -> 'current_lease' ->> 'lease_id'$$),
('ff.get_execution_result(text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'val', $$SELECT ff.get_execution_result({{T}})$$),
('ff.get_execution_tag(text,text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'val', $$SELECT ff.get_execution_tag({{W}}, 'k')$$),
('ff.read_execution_context(text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT (ff.read_execution_context({{W}})).input_payload IS NOT NULL$$),
('ff.list_executions(smallint,text,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT ff.list_executions((ff.parse_execution_id({{W}})).partition, NULL, 1000)::text LIKE '%' || (ff.parse_execution_id({{W}})).execution_uuid || '%'$$),
('ff.list_expired_leases(bigint,bigint,text,integer,text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.list_expired_leases(as_of => ff.now_ms() + 3600000) l WHERE l.execution_id = {{A}})$$),
('ff.list_expired_leases(bigint,bigint,text,integer,text)', 'lease_id', 'R', 'hidden', 'hidden', NULL, 'reached', 'val',
 $$SELECT l.lease_id FROM ff.list_expired_leases(as_of => ff.now_ms() + 3600000) l WHERE l.execution_id = {{A}}$$),
('ff.list_suspended(integer,bigint,text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.list_suspended(1000) l WHERE l.execution_id = {{S}})$$),
('ff.list_pending_waitpoints(text,uuid,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.list_pending_waitpoints({{A}})$$),
-- streams
('ff.read_stream_meta(text,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.read_stream_meta({{A}}, 0)$$),
('ff.read_attempt_stream(text,integer,text,text,integer,text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT jsonb_array_length(ff.read_attempt_stream({{A}}, 0) -> 'entries') > 0$$),
('ff.tail_attempt_stream(text,integer,text,integer,integer,text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT jsonb_array_length(ff.tail_attempt_stream({{A}}, 0) -> 'entries') > 0$$),
('ff.read_summary(text,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT ff.read_summary({{A}}, 0) -> 'document' <> 'null'$$),
-- flow reads
('ff.describe_flow(uuid)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.describe_flow({{F}})$$),
('ff.describe_edge(uuid,uuid)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.describe_edge({{F}}, {{E}})$$),
('ff.list_flows(smallint,uuid,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT ff.list_flows(ff.flow_partition({{F}}), NULL, 1000)::text LIKE '%' || {{F}} || '%'$$),
('ff.list_edges(uuid,text,text)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.list_edges({{F}}, {{M1}}) e WHERE e.edge_id = {{E}})$$),
-- budgets and workers: reads
('ff.get_budget_status(uuid)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.get_budget_status({{B}})$$),
('ff.get_budget_status(uuid)', 'global', 'R', 'hidden', 'hidden', 'reached', NULL, 'env', $$SELECT ff.get_budget_status({{G}})$$),
('ff.list_workers(text,text,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.list_workers({{ns}}) w WHERE w.worker_instance_id = {{WK}})$$),
-- the dashboard's reads (issue 27)
('ff.list_attempts(text,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.list_attempts({{A}}))$$),
('ff.read_lease_history(text,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.read_lease_history({{A}}) WHERE event = 'acquired')$$),
('ff.read_stream_last(text,integer,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.read_stream_last({{A}}, 0)$$),
('ff.lane_throughput(integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.lane_throughput(60) WHERE namespace = {{ns}} AND lane_id = {{olane}} AND claims > 0)$$),
-- worker: claims
('ff.claim_next(text,text,text,text[],bigint,integer,bigint,boolean)', '', 'W', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.claim_next({{lane}}, 'mxw', 'mxw-1', max_count => 10) c WHERE c.claim ->> 'execution_id' = {{W}})$$),
('ff.claim_execution(text,text,text,text,text,uuid,bigint,bigint,uuid,text,bigint,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.claim_execution({{WG}}, 'mxw', 'mxw-1', {{glane}})$$),
('ff.claim_resumed_execution(text,text,text,text,text,uuid,bigint,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.claim_resumed_execution({{R}}, 'mxw', 'mxw-1', {{rlane}})$$),
-- worker: lease-bound calls with the target's correct fence
('ff.renew_lease(text,integer,uuid,uuid,bigint,bigint,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.renew_lease({{A}}, {{A_idx}}, {{A_att}}, {{A_lease}}, {{A_epoch}})$$),
('ff.update_progress(text,uuid,bigint,integer,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.update_progress({{A}}, {{A_lease}}, {{A_epoch}}, 50)$$),
('ff.complete_execution(text,uuid,bigint,uuid,bytea,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.complete_execution({{A}}, {{A_lease}}, {{A_epoch}}, {{A_att}}, 'r')$$),
('ff.fail_execution(text,uuid,bigint,uuid,text,text,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.fail_execution({{A}}, {{A_lease}}, {{A_epoch}}, {{A_att}}, 'boom', 'transient')$$),
('ff.complete_executions(text[],uuid[],bigint[],uuid[],bytea[])', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.complete_executions(ARRAY[{{A}}], ARRAY[{{A_lease}}::uuid], ARRAY[{{A_epoch}}::bigint], ARRAY[{{A_att}}::uuid]) -> 'results' -> 0$$),
('ff.fail_executions(text[],uuid[],bigint[],uuid[],text[],text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.fail_executions(ARRAY[{{A}}], ARRAY[{{A_lease}}::uuid], ARRAY[{{A_epoch}}::bigint], ARRAY[{{A_att}}::uuid]) -> 'results' -> 0$$),
('ff.delay_execution(text,uuid,bigint,uuid,bigint,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.delay_execution({{A}}, {{A_lease}}, {{A_epoch}}, {{A_att}}, ff.now_ms() + 60000)$$),
('ff.move_to_waiting_children(text,uuid,bigint,uuid,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.move_to_waiting_children({{A}}, {{A_lease}}, {{A_epoch}}, {{A_att}})$$),
-- (an unknown execution's stream reads as stream_closed: hidden too)
('ff.append_frame(text,integer,uuid,bigint,text,bytea,bigint,text,text,text,integer,uuid,integer,text,text,bigint,integer,integer,double precision)',
 '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT NULLIF(r, '{"ok": false, "error": "stream_closed"}') FROM ff.append_frame({{A}}, {{A_idx}}, {{A_lease}}, {{A_epoch}}, 'stdout', 'x') r$$),
('ff.suspend_execution(text,integer,uuid,bigint,uuid,uuid,uuid,text,text,jsonb,bigint,text,text,jsonb,text,boolean,text,bigint,uuid[],text[])',
 '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.suspend_execution({{A}}, {{A_idx}}, {{A_lease}}, {{A_epoch}}, {{A_att}}, gen_random_uuid(), gen_random_uuid(), 'k2',
                               'waiting_for_signal', '{"required_signal_names": ["go"]}')$$),
('ff.create_pending_waitpoint(text,integer,uuid,bigint,uuid,uuid,text,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.create_pending_waitpoint({{A}}, {{A_idx}}, {{A_lease}}, {{A_epoch}}, {{A_att}}, gen_random_uuid(), 'k2', ff.now_ms() + 60000)$$),
('ff.close_waitpoint(text,uuid,text,uuid,bigint,uuid,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.close_waitpoint({{A}}, {{P_wp}}, 'proactive_close', {{A_lease}}, {{A_epoch}}, {{A_att}})$$),
-- worker: the same calls with the fence as one value (issue 29)
('ff.renew_lease(jsonb,bigint,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.renew_lease({{A_fence}}::jsonb)$$),
('ff.update_progress(jsonb,integer)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.update_progress({{A_fence}}::jsonb, 50)$$),
('ff.complete_execution(jsonb,bytea)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.complete_execution({{A_fence}}::jsonb, 'r')$$),
('ff.fail_execution(jsonb,text,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.fail_execution({{A_fence}}::jsonb, 'boom', 'transient')$$),
('ff.complete_executions(jsonb[],bytea[])', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.complete_executions(ARRAY[{{A_fence}}::jsonb]) -> 'results' -> 0$$),
('ff.fail_executions(jsonb[],text[],text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.fail_executions(ARRAY[{{A_fence}}::jsonb]) -> 'results' -> 0$$),
('ff.delay_execution(jsonb,bigint,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.delay_execution({{A_fence}}::jsonb, ff.now_ms() + 60000)$$),
('ff.move_to_waiting_children(jsonb,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.move_to_waiting_children({{A_fence}}::jsonb)$$),
('ff.append_frame(jsonb,text,bytea,text,integer)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT NULLIF(r, '{"ok": false, "error": "stream_closed"}') FROM ff.append_frame({{A_fence}}::jsonb, 'stdout', 'x') r$$),
('ff.suspend_execution(jsonb,uuid,uuid,text,text,jsonb,bigint,text,boolean)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.suspend_execution({{A_fence}}::jsonb, gen_random_uuid(), gen_random_uuid(), 'k2', 'waiting_for_signal',
                               '{"required_signal_names": ["go"]}')$$),
('ff.create_pending_waitpoint(jsonb,uuid,text,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.create_pending_waitpoint({{A_fence}}::jsonb, gen_random_uuid(), 'k2', ff.now_ms() + 60000)$$),
('ff.close_waitpoint(jsonb,uuid,text)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.close_waitpoint({{A_fence}}::jsonb, {{P_wp}}, 'proactive_close')$$),
('ff.observe_signals(text,integer)', '', 'W', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.observe_signals({{R}}, 0))$$),
-- worker: budgets and the registry
('ff.report_usage_and_check(uuid,text[],bigint[],text,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.report_usage_and_check({{B}}, '{tokens}', '{1}')$$),
('ff.report_usage_and_check(uuid,text[],bigint[],text,bigint)', 'global', 'W', 'hidden', 'hidden', 'reached', NULL, 'env',
 $$SELECT ff.report_usage_and_check({{G}}, '{tokens}', '{1}')$$),
('ff.record_spend(uuid,text,text[],bigint[],text,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.record_spend({{B}}, {{A}}, '{tokens}', '{1}')$$),
('ff.register_worker(text,text,text[],text[],bigint,text,bigint)', '', 'W', 'reached', 'denied', NULL, NULL, 'env',
 $$SELECT ff.register_worker('wk2-' || {{ns}}, 'wk', namespace => {{ns}})$$),
('ff.register_worker(text,text,text[],text[],bigint,text,bigint)', 'now_ms', 'W', 'denied', 'denied', NULL, 'reached', 'env',
 $$SELECT ff.register_worker('wk2-' || {{ns}}, 'wk', namespace => {{ns}}, now_ms => ff.now_ms())$$),
('ff.heartbeat_worker(text,text,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.heartbeat_worker({{WK}}, {{ns}})$$),
('ff.heartbeat_worker(text,text,bigint)', 'now_ms', 'W', 'denied', 'denied', NULL, 'reached', 'env',
 $$SELECT ff.heartbeat_worker({{WK}}, {{ns}}, ff.now_ms())$$),
('ff.mark_worker_dead(text,text,text,bigint)', '', 'W', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.mark_worker_dead({{WK}}, {{ns}})$$),
-- submitter: executions
('ff.create_execution(text,text,text,text,bigint,text,text,bytea,bigint,text,bigint,jsonb,bigint)', '', 'S', 'reached', 'denied', NULL, NULL, 'env',
 $$SELECT ff.create_execution(ff.execution_id('mx'), namespace => {{ns}})$$),
('ff.create_executions(text[],text,bytea[],text,bigint,text,bigint)', '', 'S', 'reached', 'denied', NULL, NULL, 'env',
 $$SELECT ff.create_executions(ARRAY[ff.execution_id('mx')], namespace => {{ns}})$$),
('ff.cancel_execution(text,text,text,uuid,bigint)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.cancel_execution({{W}}, 'mx')$$),
('ff.cancel_execution(text,text,text,uuid,bigint)', 'active', 'S', 'denied', 'hidden', 'denied', 'reached', 'env',
 $$SELECT ff.cancel_execution({{A}}, 'mx')$$),
('ff.cancel_execution(text,text,text,uuid,bigint)', 'lease', 'S', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.cancel_execution({{A}}, 'mx', 'lease_holder', {{A_lease}}, {{A_epoch}})$$),
('ff.cancel_execution(jsonb,text,text)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.cancel_execution({{A_fence}}::jsonb, 'mx')$$),
('ff.set_execution_tags(text,text[])', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.set_execution_tags({{W}}, 'mx.k', 'v')$$),
('ff.change_priority(text,bigint)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.change_priority({{W}}, 5)$$),
('ff.deliver_signal(text,uuid,uuid,text,text,bytea,text,text,text,text,text,text,text,bigint,bigint,bigint,integer)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.deliver_signal({{S}}, {{S_wp}}, gen_random_uuid(), 'go', {{S_token}})$$),
('ff.buffer_signal_for_pending_waitpoint(text,uuid,uuid,text,text,bytea,text,text,text,text,text,text,text,bigint,bigint,bigint,integer)', '', 'S',
 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.buffer_signal_for_pending_waitpoint({{A}}, {{P_wp}}, gen_random_uuid(), 'go', {{P_token}})$$),
-- submitter: flows
('ff.create_flow(uuid,text,text)', '', 'S', 'reached', 'denied', NULL, NULL, 'env', $$SELECT ff.create_flow(gen_random_uuid(), 'dag', {{ns}})$$),
('ff.add_execution_to_flow(uuid,text)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.add_execution_to_flow({{F}}, {{M1}})$$),
('ff.set_flow_tags(uuid,text[])', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.set_flow_tags({{F}}, 'mx.k', 'v')$$),
('ff.stage_dependency_edge(uuid,uuid,text,text,bigint,text,text)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.stage_dependency_edge({{F}}, gen_random_uuid(), {{M1}}, {{M3}}, {{F_rev}})$$),
('ff.apply_dependency_to_child(uuid,uuid,text,text,bigint)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.apply_dependency_to_child({{F}}, {{E}}, {{M2}}, {{M1}})$$),
('ff.add_dependency(uuid,text,text,uuid,text,text,bigint)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.add_dependency({{F}}, {{M1}}, {{M3}})$$),
('ff.set_edge_group_policy(uuid,text,text,text,bigint)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env',
 $$SELECT ff.set_edge_group_policy({{F}}, {{M3}}, 'any_of', 'let_run')$$),
('ff.cancel_flow(uuid,text,text,bigint,boolean)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.cancel_flow({{F}}, 'mx')$$),
-- admin only: tenancy and keys
('ff.grant_namespace(name,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.grant_namespace('mx_nobody', {{ns}})$$),
('ff.revoke_namespace(name,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.revoke_namespace('mx_reader_a', {{ns}})$$),
('ff.unbind_role(name)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.unbind_role('mx_reader_a')$$),
('ff.rotate_waitpoint_hmac_secret(text,text,numeric)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.rotate_waitpoint_hmac_secret('k9', repeat('ab', 32))$$),
('ff.seed_waitpoint_hmac_secret(text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.seed_waitpoint_hmac_secret('k1', repeat('ab', 32))$$),
('ff.list_waitpoint_hmac_kids()', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.list_waitpoint_hmac_kids()$$),
('ff.read_waitpoint_token(text,uuid)', '', 'A', 'reached', NULL, NULL, NULL, 'val', $$SELECT ff.read_waitpoint_token({{S}}, {{S_wp}})$$),
('ff.set_partition_config(integer,integer,integer)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff.set_partition_config(256, 32, 32)$$),
-- admin only: lane controls (issue 26; lanes are shared by every namespace)
('ff.pause_lane(text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.pause_lane({{lane}})$$),
('ff.resume_lane(text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.resume_lane({{lane}})$$),
('ff.set_lane_limit(text,integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.set_lane_limit({{lane}}, 5)$$),
('ff._lane_changed()', '', 'A', 'error:0A000', NULL, NULL, NULL, 'ok', $$SELECT ff._lane_changed()::text$$),
('view:ff.lanes', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT count(*) FROM ff.lanes$$),
-- admin only: operator actions on executions
('ff.issue_claim_grant(text,text,text,text,text,bigint,text,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.issue_claim_grant({{W}}, 'mxw2', 'mxw2-1', {{lane}})$$),
('ff.issue_reclaim_grant(text,text,text,text,text,bigint,text,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.issue_reclaim_grant({{A}}, 'mxw2', 'mxw2-1', {{olane}})$$),
('ff.issue_grant_and_claim(text,text,text,text,text,uuid,bigint,uuid,text,bigint,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.issue_grant_and_claim({{W}}, 'mxw2', 'mxw2-1', {{lane}})$$),
('ff.reclaim_execution(text,text,text,text,uuid,bigint,uuid,text,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.reclaim_execution({{A}}, 'mxw2', 'mxw2-1', {{olane}})$$),
('ff.revoke_lease(text,uuid,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.revoke_lease({{A}})$$),
('ff.mark_lease_expired_if_due(text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.mark_lease_expired_if_due({{A}})$$),
('ff.expire_execution(text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.expire_execution({{A}})$$),
('ff.expire_suspension(text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.expire_suspension({{S}})$$),
('ff.resume_execution(text,text,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.resume_execution({{S}})$$),
('ff.deliver_approval_signal(text,text,uuid,text,text,uuid,bigint,integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.deliver_approval_signal({{S}}, {{olane}}, {{S_wp}}, 'go', 'x')$$),
('ff.promote_delayed(text,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.promote_delayed({{W}})$$),
('ff.block_execution_for_admission(text,text,text,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.block_execution_for_admission({{W}}, 'waiting_for_budget')$$),
('ff.unblock_execution(text,bigint,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.unblock_execution({{W}})$$),
('ff.set_execution_admission(text,uuid[],uuid)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.set_execution_admission({{W}}, ARRAY[{{B}}::uuid], {{Q}})$$),
('ff.replay_execution(text,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.replay_execution({{T}})$$),
('ff.purge_execution(text)', '', 'A', 'reached', NULL, NULL, NULL, 'has', $$SELECT ff.purge_execution({{T}})$$),
-- admin only: flows
('ff.ack_cancel_member(uuid,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.ack_cancel_member({{F}}, {{M1}})$$),
('ff.resolve_dependency(uuid,uuid,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.resolve_dependency({{F}}, {{E}}, 'success')$$),
('ff.drain_sibling_cancel_group(uuid,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.drain_sibling_cancel_group({{F}}, {{M2}})$$),
('ff.reconcile_sibling_cancel_group(uuid,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.reconcile_sibling_cancel_group({{F}}, {{M2}})$$),
('ff.dispatch_completions(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.dispatch_completions(10)$$),
('ff.dispatch_flow_cancels(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.dispatch_flow_cancels(10)$$),
-- admin only: budgets and quotas
('ff.create_budget(uuid,text[],bigint[],bigint[],bigint,text,text,text,text,text,bigint,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.create_budget(gen_random_uuid(), namespace => {{ns}})$$),
('ff.create_quota_policy(uuid,bigint,bigint,bigint,bigint,bigint,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.create_quota_policy(gen_random_uuid(), 60, 10, 1, namespace => {{ns}})$$),
('ff.reset_budget(uuid,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.reset_budget({{B}})$$),
('ff.release_budget(uuid,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.release_budget({{B}}, {{W}})$$),
('ff.check_admission_and_record(uuid,text,bigint,bigint,bigint,text,bigint,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'env',
 $$SELECT ff.check_admission_and_record({{Q}}, {{W}}, 60, 100, 10)$$),
('ff.release_admission(uuid,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.release_admission({{Q}}, {{W}})$$),
('ff.reconcile_budgets(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.reconcile_budgets(10)$$),
('ff.reconcile_quotas(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.reconcile_quotas(10)$$),
('ff.sweep_worker_registry(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.sweep_worker_registry(10)$$),
-- admin only: scanners
('ff.run_scanner(text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.run_scanner('delayed')$$),
('ff.run_scanners()', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.run_scanners()$$),
('ff.project_flows(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.project_flows(10, {{ns}})$$),
('ff.scan_attempt_timeouts(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_attempt_timeouts(10, {{ns}})$$),
('ff.scan_budget_resets(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_budget_resets(10)$$),
('ff.scan_delayed(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_delayed(10, {{ns}})$$),
('ff.scan_dependencies(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_dependencies(10, {{ns}})$$),
('ff.scan_edge_cancel_dispatch(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_edge_cancel_dispatch(10)$$),
('ff.scan_edge_cancel_reconcile(integer)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_edge_cancel_reconcile(10)$$),
('ff.scan_execution_deadlines(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_execution_deadlines(10, {{ns}})$$),
('ff.scan_flow_cancels(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_flow_cancels(10, {{ns}})$$),
('ff.scan_lease_expiry(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_lease_expiry(10, {{ns}})$$),
('ff.scan_pending_waitpoint_expiry(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_pending_waitpoint_expiry(10, {{ns}})$$),
('ff.scan_suspension_timeouts(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_suspension_timeouts(10, {{ns}})$$),
('ff.scan_unblock(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_unblock(10, {{ns}})$$),
('ff.trim_retention(integer,text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.trim_retention(10, {{ns}})$$),
-- views: the read models a reader may select from, and the admin's
('view:ff.executions', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.executions WHERE id = {{W}})$$),
('view:ff.executions', 'lease_id', 'R', 'hidden', 'hidden', NULL, 'reached', 'val', $$SELECT current_lease_id FROM ff.executions WHERE id = {{A}}$$),
('view:ff.flows', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.flows WHERE flow_id = {{F}})$$),
('view:ff.flow_edges', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.flow_edges WHERE edge_id = {{E}})$$),
('view:ff.edge_groups', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.edge_groups WHERE downstream_execution_id = {{M2}})$$),
('view:ff.suspensions', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.suspensions WHERE id = {{S}})$$),
('view:ff.signals', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.signals WHERE execution = {{S}})$$),
('view:ff.budget_status', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.budget_status WHERE budget_id = {{B}})$$),
('view:ff.budget_status', 'global', 'R', 'hidden', 'hidden', 'reached', NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.budget_status WHERE budget_id = {{G}})$$),
('view:ff.quota_status', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.quota_status WHERE quota_policy_id = {{Q}})$$),
('view:ff.quota_status', 'global', 'R', 'hidden', 'hidden', 'reached', NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.quota_status WHERE quota_policy_id = {{GQ}})$$),
('view:ff.sibling_cancel_status', '', 'R', 'hidden', 'hidden', 'reached', NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.sibling_cancel_status)$$),
('view:ff.scanner_status', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT count(*) FROM ff.scanner_status$$),
('view:ff.consistency_violations', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT count(*) FROM ff.consistency_violations$$),
('view:ff.lane_metrics', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.lane_metrics WHERE namespace = {{ns}} AND lane_id = {{lane}})$$),
('view:ff.dispatcher_status', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT pending FROM ff.dispatcher_status$$),
('view:ff.waitpoints', '', 'A', 'reached', NULL, NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.waitpoints WHERE waitpoint_id = {{S_wp}})$$),
('view:ff.namespace_bindings', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT count(*) FROM ff.namespace_bindings$$),
('view:ff.lease_history', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT count(*) FROM ff.lease_history$$),
('view:ff.attempt', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT count(*) FROM ff.attempt$$),
('view:ff.visible_execution', '', '-', NULL, NULL, NULL, NULL, 'ok', $$SELECT count(*) FROM ff.visible_execution$$),
('view:ff.visible_flow', '', '-', NULL, NULL, NULL, NULL, 'ok', $$SELECT count(*) FROM ff.visible_flow$$);

-- schedules and the dead-letter view (issue 26)
INSERT INTO t.mx_fn (sig, kase, grp, own, other, free, admin, cls, tpl) VALUES
('ff._cron_check(text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._cron_check('@hourly', 'UTC')$$),
('ff._cron_count(text,text,bigint,bigint,integer)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._cron_count('@hourly', 'UTC', 0, 86400000, 100)$$),
('ff._cron_last(text,text,bigint,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._cron_last('@hourly', 'UTC', 0, 86400000)$$),
('ff._policy_problem(text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT ff._policy_problem('{}')$$),
('ff._schedule_check(ff.schedule)', '', 'A', 'reached', NULL, NULL, NULL, 'ok',
 $$SELECT (ff._schedule_check(ff._schedule_lock({{SC}}, {{ns}}))).name$$),
('ff._schedule_first(ff.schedule,bigint)', '', 'A', 'reached', NULL, NULL, NULL, 'ok',
 $$SELECT ff._schedule_first(ff._schedule_lock({{SC}}, {{ns}}), ff.now_ms())$$),
('ff._schedule_lock(text,text)', '', 'A', 'reached', NULL, NULL, NULL, 'ok', $$SELECT (ff._schedule_lock({{SC}}, {{ns}})).name$$),
('ff._schedule_flow_check(jsonb)', '', 'A', 'reached', NULL, NULL, NULL, 'ok',
 $$SELECT ff._schedule_flow_check('{"members": [{"key": "a"}]}')$$),
('ff._schedule_fire_flow(ff.schedule,bigint,bigint,boolean)', '', 'A', 'reached', NULL, NULL, NULL, 'ok',
 $$SELECT ff._schedule_fire_flow(ff._schedule_lock({{SC}}, {{ns}}), 1, ff.now_ms(), true)$$),
('ff._schedule_fire(ff.schedule,bigint,bigint,boolean)', '', 'A', 'reached', NULL, NULL, NULL, 'ok',
 $$SELECT ff._schedule_fire(ff._schedule_lock({{SC}}, {{ns}}), 1, ff.now_ms(), true)$$),
('ff._schedule_advance(ff.schedule,bigint,integer,boolean)', '', 'A', 'reached', NULL, NULL, NULL, 'ok',
 $$SELECT ff._schedule_advance(ff._schedule_lock({{SC}}, {{ns}}), ff.now_ms(), 1)$$),
('ff.cron_next_fire(text,text,bigint)', '', 'R', 'reached', 'reached', NULL, NULL, 'ok', $$SELECT ff.cron_next_fire('@hourly', 'Europe/Paris')$$),
('ff.create_schedule(text,text,text,text,text,bytea,text,bigint,jsonb,text,text,text,bigint,bigint,bigint,bigint,bigint,boolean,jsonb)', '', 'S',
 'reached', 'denied', NULL, NULL, 'env', $$SELECT ff.create_schedule('sc2-' || {{ns}}, '@daily', namespace => {{ns}})$$),
('ff.update_schedule(text,text,text,text,text,text,bytea,text,bigint,jsonb,text,text,bigint,bigint,bigint,bigint,bigint,jsonb)', '', 'S',
 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.update_schedule({{SC}}, {{ns}}, priority => 5)$$),
('ff.pause_schedule(text,text)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.pause_schedule({{SC}}, {{ns}})$$),
('ff.resume_schedule(text,text)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.resume_schedule({{SC}}, {{ns}})$$),
('ff.delete_schedule(text,text)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.delete_schedule({{SC}}, {{ns}})$$),
('ff.trigger_schedule(text,text)', '', 'S', 'reached', 'hidden', NULL, NULL, 'env', $$SELECT ff.trigger_schedule({{SC}}, {{ns}})$$),
('ff.list_schedules(text,text,integer)', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.list_schedules() s WHERE s.namespace = {{ns}} AND s.name = {{SC}})$$),
('ff.scan_schedules(integer,text)', '', 'A', 'reached', NULL, NULL, NULL, 'env', $$SELECT ff.scan_schedules(10, {{ns}})$$),
('view:ff.schedules', '', 'R', 'reached', 'hidden', NULL, NULL, 'has',
 $$SELECT EXISTS (SELECT 1 FROM ff.schedules WHERE namespace = {{ns}} AND name = {{SC}})$$),
('view:ff.dead_letter', '', 'R', 'reached', 'hidden', NULL, NULL, 'has', $$SELECT EXISTS (SELECT 1 FROM ff.dead_letter WHERE id = {{X}})$$);

-- ---- running the cells ----
-- q filled with the target's objects: {{key}} -> the value as a literal
CREATE FUNCTION t.mx_fill(tpl text, o jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE k text; q text := tpl;
BEGIN
    FOR k IN SELECT jsonb_object_keys(o) LOOP
        q := replace(q, '{{' || k || '}}', quote_literal(o ->> k));
    END LOOP;
    IF q ~ '\{\{' THEN RAISE EXCEPTION 'unknown placeholder in %', q; END IF;
    RETURN q;
END $$;
-- q run as role r in a subtransaction rolled back afterwards: 'V:<first
-- column>', 'N' for NULL or no row, 'E:<SQLSTATE>' for an error
CREATE FUNCTION t.mx_cell(r text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE res text; out text;
BEGIN
    BEGIN
        PERFORM set_config('role', r, true);
        EXECUTE q INTO res;
        out := CASE WHEN res IS NULL THEN 'N' ELSE 'V:' || res END;
        RAISE SQLSTATE 'FFMX0';
    EXCEPTION
        WHEN SQLSTATE 'FFMX0' THEN NULL;
        WHEN query_canceled THEN out := 'E:' || SQLSTATE;
        WHEN OTHERS THEN out := 'E:' || SQLSTATE;
    END;
    RETURN out;
END $$;
-- the outcome class of a raw result
CREATE FUNCTION t.mx_class(cls text, raw text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN raw = 'E:42501' THEN 'denied'
        WHEN raw LIKE 'E:%' THEN 'error:' || substr(raw, 3)
        WHEN cls = 'ok' THEN 'reached'
        WHEN raw = 'N' THEN 'hidden'
        WHEN cls = 'val' THEN 'reached'
        WHEN cls = 'has' THEN CASE WHEN substr(raw, 3) = 'true' THEN 'reached' ELSE 'hidden' END
        WHEN cls = 'env' THEN CASE WHEN (substr(raw, 3)::jsonb ->> 'error') LIKE '%not_found%'
                                     OR (substr(raw, 3)::jsonb ->> 'result') = 'not_registered' THEN 'hidden' ELSE 'reached' END
    END
$$;
-- the expected class of a cell
CREATE FUNCTION t.mx_want(f t.mx_fn, c t.mx_caller, ns text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN NOT (c.role = 'admin' AND f.grp <> '-' OR c.role = 'reader' AND f.grp = 'R'
                  OR c.role = 'worker' AND f.grp IN ('R', 'W') OR c.role = 'submitter' AND f.grp IN ('R', 'S')) THEN 'denied'
        WHEN c.role = 'admin' THEN coalesce(f.admin, f.free, f.own)
        WHEN c.binding = 'u' THEN coalesce(f.free, f.own)
        WHEN ns = 'a' THEN f.own
        ELSE f.other
    END
$$;

CREATE TABLE t.mx_got (fn integer, caller text, ns text, raw text);
SELECT t.snapshot() AS mx_before \gset
SELECT format('INSERT INTO t.mx_got VALUES (%s, %L, %L, t.mx_cell(%L, %L))', f.id, c.caller, o.ns, c.caller, t.mx_fill(f.tpl, o.o))
FROM t.mx_fn f, t.mx_caller c, t.mx_obj o ORDER BY f.id, c.caller, o.ns
\gexec
\set QUIET 0

-- ---- the verdicts ----
SELECT is(string_agg(s, ', ' ORDER BY s), NULL, 'every ff function is in the matrix')
FROM (SELECT p.oid::regprocedure::text AS s FROM pg_proc p WHERE p.pronamespace = 'ff'::regnamespace
      EXCEPT SELECT sig FROM t.mx_fn) x;
SELECT is(string_agg(s, ', ' ORDER BY s), NULL, 'every view of ff is in the matrix')
FROM (SELECT 'view:' || c.oid::regclass::text AS s FROM pg_class c WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'v'
      EXCEPT SELECT sig FROM t.mx_fn) x;
SELECT is(string_agg(sig, ', ' ORDER BY sig), NULL, 'the matrix names only functions and views that exist')
FROM t.mx_fn f
WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'ff'::regnamespace AND p.oid::regprocedure::text = f.sig)
  AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'v' AND 'view:' || c.oid::regclass::text = f.sig);
SELECT is((SELECT count(*)::int FROM t.mx_got), (SELECT count(*)::int FROM t.mx_fn, t.mx_caller, t.mx_obj), 'every cell ran');
SELECT is(t.snapshot(), :'mx_before', 'the cells were rolled back: no execution table changed');
-- one verdict per row of the table: the cells that differ, as caller/tenant: want -> got (raw)
SELECT is(string_agg(format('%s/%s: %s -> %s (%s)', c.caller, g.ns, t.mx_want(f, c, g.ns), t.mx_class(f.cls, g.raw), left(g.raw, 60)),
                     '; ' ORDER BY c.caller, g.ns) FILTER (WHERE t.mx_want(f, c, g.ns) IS DISTINCT FROM t.mx_class(f.cls, g.raw)), NULL,
          f.sig || CASE WHEN f.kase <> '' THEN ' [' || f.kase || ']' ELSE '' END)
FROM t.mx_fn f JOIN t.mx_got g ON g.fn = f.id JOIN t.mx_caller c ON c.caller = g.caller
GROUP BY f.id, f.sig, f.kase ORDER BY f.id;
-- fences and tokens: no result shown to a non-admin carries the active
-- execution's lease id or a waitpoint token (whole or its digest)
SELECT is(string_agg(format('%s (%s cells, e.g. %s)', fn, n, eg), '; ' ORDER BY fn), NULL,
          'no non-admin result carries a lease id or a waitpoint token')
FROM (SELECT f.sig || coalesce(' [' || nullif(f.kase, '') || ']', '') AS fn, count(*) AS n, min(g.caller || '/' || g.ns) AS eg
      FROM t.mx_got g JOIN t.mx_fn f ON f.id = g.fn JOIN t.mx_caller c ON c.caller = g.caller JOIN t.mx_obj o ON o.ns = g.ns
      WHERE c.role <> 'admin'
        AND (strpos(g.raw, o.o ->> 'A_lease') > 0 OR strpos(g.raw, split_part(o.o ->> 'S_token', ':', 2)) > 0
             OR strpos(g.raw, split_part(o.o ->> 'P_token', ':', 2)) > 0)
      GROUP BY 1) x;
SELECT t.invariants('the matrix');

SELECT * FROM finish();
ROLLBACK;
