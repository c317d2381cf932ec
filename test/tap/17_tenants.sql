-- Namespace isolation (issue 10): two tenants sharing one database neither
-- see nor touch each other's executions.
BEGIN;
-- these checks read the event rows of executions outside flows too
SET LOCAL ff_engine.completion_events = 'all';
\ir helpers.psql

GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE ROLE t_alice LOGIN IN ROLE ff_submitter, ff_worker;
CREATE ROLE t_bob LOGIN IN ROLE ff_submitter, ff_worker;
CREATE ROLE t_carol LOGIN IN ROLE ff_submitter, ff_worker;
CREATE ROLE t_boss LOGIN IN ROLE ff_admin;
SELECT ff.grant_namespace('t_alice', 'alpha');
SELECT ff.grant_namespace('t_bob', 'beta');

CREATE FUNCTION t.b(n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('{fp:1}:00000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))
$$;
CREATE ROLE t_nobody LOGIN;
-- bob's flow: members ba, bc and an edge ba -> bc, made as bob
CREATE FUNCTION t.b_flow() RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    f uuid := '00000000-0000-4000-8000-0000000000bf';
    ba text := ff.flow_member_execution_id(f);
    bc text := ff.flow_member_execution_id(f);
BEGIN
    INSERT INTO t.names VALUES ('ba', ba), ('bc', bc);
    PERFORM set_config('role', 't_bob', true);
    PERFORM ff.create_flow(f, namespace => 'beta');
    PERFORM ff.create_execution(ba, namespace => 'beta', lane_id => 'bflow');
    PERFORM ff.create_execution(bc, namespace => 'beta', lane_id => 'bflow');
    PERFORM ff.add_execution_to_flow(f, ba);
    PERFORM ff.add_execution_to_flow(f, bc);
    PERFORM ff.add_dependency(f, ba, bc);
    PERFORM set_config('role', 'none', true);
    RETURN f;
END $$;

SELECT is(t.as_role('t_alice', $$SELECT ff.create_execution(t.id(1), namespace => 'alpha', lane_id => 'shared') ->> 'status'$$), 'OK',
          'alice submits in her namespace');
SELECT is(t.as_role('t_alice', $$SELECT ff.create_execution(t.id(2), namespace => 'beta', lane_id => 'shared') ->> 'status'$$), 'ERROR 42501',
          'but not in bob''s');
SELECT is(t.as_role('t_alice', $$SELECT ff.create_flow(gen_random_uuid(), namespace => 'beta') ->> 'status'$$), 'ERROR 42501',
          'nor a flow in bob''s');
SELECT is(t.as_role('t_bob', $$SELECT ff.create_execution(t.b(3), namespace => 'beta', lane_id => 'shared') ->> 'status'$$), 'OK',
          'bob submits in his');
SELECT is(t.as_role('t_alice', $$SELECT ff.read_execution_state(t.b(3)) ->> 'error'$$), 'execution_not_found',
          'alice cannot see bob''s execution');
SELECT is(t.as_role('t_alice', $$SELECT string_agg(id, ',') FROM ff.executions$$), t.id(1), 'alice''s views list hers only');
SELECT is(t.as_role('t_bob', $$SELECT string_agg(id, ',') FROM ff.executions$$), t.b(3), 'bob''s list his only');
SELECT is(t.as_role('t_alice', $$SELECT ff.cancel_execution(t.b(3), 'mine now', 'lease_holder', gen_random_uuid(), 1) ->> 'error'$$),
          'execution_not_found', 'alice cannot touch bob''s execution');
SELECT is(t.as_role('t_alice', $$SELECT ff.set_execution_tags(t.b(3), 'x.y', 'z') ->> 'error'$$), 'execution_not_found', 'nor tag it');
SELECT is(t.as_role('t_alice', $$SELECT string_agg(claim ->> 'execution_id', ',') FROM ff.claim_next('shared', 'wa', 'wa-1', max_count => 10)$$),
          t.id(1), 'alice''s worker claims from the shared lane only what is hers');
SELECT is((t.row(t.b(3))).public_state::text, 'waiting', 'bob''s execution was neither claimed nor touched');
SELECT is(t.as_role('t_bob', $$SELECT string_agg(claim ->> 'execution_id', ',') FROM ff.claim_next('shared', 'wb', 'wb-1', max_count => 10)$$),
          t.b(3), 'bob''s worker takes his');
-- even with bob's lease in hand alice cannot complete his work
SELECT t.row(t.b(3)) AS bob3 \gset
SELECT is(t.as_role('t_alice', format($$SELECT ff.complete_execution(%L, %L, %s, %L) ->> 'error'$$, t.b(3),
          (:'bob3'::ff.executions).current_lease_id, (:'bob3'::ff.executions).current_lease_epoch,
          (:'bob3'::ff.executions).current_attempt_id)), 'execution_not_found', 'bob''s fence does not open his execution to alice');
-- signals: bob's waitpoint and token
SELECT ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(),
       '00000000-0000-4000-a000-000000000003', NULL, 'waiting_for_signal', '{}', idempotency_key => 'k3') ->> 'waitpoint_token' AS tok3 FROM t.row(t.b(3)) e \gset
SELECT is(t.as_role('t_alice', format($$SELECT ff.deliver_signal(%L, '00000000-0000-4000-a000-000000000003', gen_random_uuid(), 'go', %L) ->> 'error'$$,
          t.b(3), :'tok3')), 'execution_not_found', 'alice cannot signal bob''s waitpoint even with its token');
SELECT is(t.as_role('t_alice', format($$SELECT ff.suspend_execution(%L, 0, gen_random_uuid(), 1, gen_random_uuid(), gen_random_uuid(),
          '00000000-0000-4000-a000-000000000003', NULL, 'waiting_for_signal', '{}', idempotency_key => 'k3') ->> 'error'$$, t.b(3))),
          'execution_not_found', 'alice cannot replay bob''s suspend to learn its tokens');
SELECT is(t.as_role('t_bob', format($$SELECT ff.deliver_signal(%L, '00000000-0000-4000-a000-000000000003', gen_random_uuid(), 'go', %L) ->> 'effect'$$,
          t.b(3), :'tok3')), 'resume_condition_satisfied', 'bob can');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.suspensions$$), '0', 'alice sees none of bob''s suspensions');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.list_suspended()$$), '0', 'nor lists them');
-- streams
INSERT INTO ff.stream_frame (partition, execution_id, attempt_index, ts, seq, frame_type, frame_ts, payload, encoding, source, mode)
VALUES (1, (ff.parse_execution_id(t.b(3))).execution_uuid, 0, 1, 0, 'stdout', 1, 'secret', 'utf8', 'worker', 'durable');
SELECT is(t.as_role('t_alice', format($$SELECT jsonb_array_length(ff.read_attempt_stream(%L, 0) -> 'entries')::text$$, t.b(3))), '0',
          'alice reads none of bob''s stream');
SELECT is(t.as_role('t_bob', format($$SELECT jsonb_array_length(ff.read_attempt_stream(%L, 0) -> 'entries')::text$$, t.b(3))), '1',
          'bob reads it');
-- unrestricted roles
SELECT is(t.as_role('t_carol', $$SELECT count(*)::text FROM ff.executions$$), '2', 'a role with no binding is not restricted');
SELECT is(t.as_role('t_boss', $$SELECT count(*)::text FROM ff.executions$$), '2', 'nor is the admin');
SELECT is(t.as_role('t_alice', $$SELECT ff.grant_namespace('t_alice', 'beta') ->> 'status'$$), 'ERROR 42501', 'a tenant cannot widen its own binding');

-- results and tags are read through the same boundary
SELECT ff.set_execution_tags(t.b(3), 'app.owner', 'bob');
SELECT is(t.as_role('t_alice', format($$SELECT coalesce(ff.get_execution_tag(%L, 'app.owner'), 'none')$$, t.b(3))), 'none',
          'alice cannot read bob''s tag');
SELECT is(t.as_role('t_bob', format($$SELECT ff.get_execution_tag(%L, 'app.owner')$$, t.b(3))), 'bob', 'bob can');
SELECT ff.create_execution(t.b(5), namespace => 'beta', lane_id => 'bresult');
SELECT t.claim(t.b(5));
SELECT ff.complete_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 'bob''s secret')
FROM t.row(t.b(5)) e;
SELECT is(t.as_role('t_bob', format($$SELECT convert_from(ff.get_execution_result(%L), 'UTF8')$$, t.b(5))), 'bob''s secret',
          'bob reads his result');
SELECT is(t.as_role('t_alice', format($$SELECT coalesce(convert_from(ff.get_execution_result(%L), 'UTF8'), 'none')$$, t.b(5))), 'none',
          'alice cannot read bob''s result');

-- lease ids are the secret part of a fence: shown to administrators only
SELECT ff.create_execution(t.id(20), namespace => 'alpha', lane_id => 'fence');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.claim_next('fence', 'wa', 'wa-1')$$), '1', 'alice claims one');
SELECT is(t.as_role('t_alice', format($$SELECT coalesce(current_lease_id::text, 'hidden') FROM ff.executions WHERE id = %L$$, t.id(20))),
          'hidden', 'ff.executions hides the lease id from a non-admin');
SELECT is(t.as_role('t_carol', format($$SELECT coalesce(current_lease_id::text, 'hidden') FROM ff.executions WHERE id = %L$$, t.id(20))),
          'hidden', 'even from an unrestricted one');
SELECT is(t.as_role('t_alice', format($$SELECT coalesce(ff.describe_execution(%L) -> 'current_lease' ->> 'lease_id', 'hidden')$$, t.id(20))),
          'hidden', 'and so does describe_execution');
SELECT is(t.as_role('t_boss', format($$SELECT current_lease_id::text FROM ff.executions WHERE id = %L$$, t.id(20))),
          (t.row(t.id(20))).current_lease_id::text, 'the admin sees it');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.visible_execution$$), 'ERROR 42501', 'the internal view is not readable');

-- flows: bob's flow is invisible and untouchable for alice
SELECT t.b_flow() AS bflow \gset
SELECT is(t.as_role('t_alice', format($$SELECT ff.describe_flow(%L) ->> 'error'$$, :'bflow')), 'flow_not_found', 'alice cannot describe bob''s flow');
SELECT is(t.as_role('t_alice', format($$SELECT ff.cancel_flow(%L, 'mine', 'cancel_all', 0, true) ->> 'error'$$, :'bflow')), 'flow_not_found',
          'nor cancel it');
SELECT is(t.as_role('t_alice', format($$SELECT ff.set_flow_tags(%L, 'x.y', 'z') ->> 'error'$$, :'bflow')), 'flow_not_found', 'nor tag it');
SELECT is(t.as_role('t_alice', format($$SELECT ff.set_edge_group_policy(%L, %L, 'any_of') ->> 'error'$$, :'bflow', t.m('bc'))),
          'flow_not_found', 'nor change an edge-group policy');
SELECT is(t.as_role('t_alice', format($$SELECT ff.stage_dependency_edge(%L, gen_random_uuid(), %L, %L, 0) ->> 'error'$$,
          :'bflow', t.m('bc'), t.m('ba'))), 'flow_not_found', 'nor stage an edge');
SELECT is(t.as_role('t_alice', format($$SELECT ff.add_dependency(%L, %L, %L) ->> 'error'$$, :'bflow', t.m('bc'), t.m('ba'))),
          'flow_not_found', 'nor add a dependency (no internal error)');
SELECT ff.flow_member_execution_id(:'bflow') AS amember \gset
SELECT is(t.as_role('t_alice', format($$SELECT ff.create_execution(%L, namespace => 'alpha') ->> 'status'$$, :'amember')), 'OK',
          'alice makes an execution in the partition of bob''s flow');
SELECT is(t.as_role('t_alice', format($$SELECT ff.add_execution_to_flow(%L, %L) ->> 'error'$$, :'bflow', :'amember')),
          'flow_not_found', 'but cannot add it to bob''s flow');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.flows$$), '0', 'ff.flows shows alice none of bob''s flows');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.flow_edges$$), '0', 'nor edges');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.edge_groups$$), '0', 'nor edge groups');
SELECT is(t.as_role('t_alice', format($$SELECT jsonb_array_length(ff.list_flows(%s::smallint) -> 'flows')::text$$,
          ff.flow_partition(:'bflow'))), '0', 'nor lists them');
SELECT is(t.as_role('t_alice', format($$SELECT count(*)::text FROM ff.list_edges(%L, %L)$$, :'bflow', t.m('ba'))), '0', 'list_edges neither');
SELECT is(t.as_role('t_bob', $$SELECT count(*)::text FROM ff.flow_edges$$), '1', 'bob sees his edge');
SELECT is(t.as_role('t_bob', format($$SELECT (ff.describe_flow(%L) - 'last_mutation_at' - 'created_at' - 'flow_id')::text$$, :'bflow'))::jsonb,
          jsonb_build_object('ok', true, 'tags', '{}'::jsonb, 'status', 'OK', 'flow_kind', '', 'namespace', 'beta', 'node_count', 2,
              'edge_count', 1, 'cancel_reason', NULL, 'cancelled_at', NULL, 'graph_revision', 3, 'public_flow_state', 'open',
              'cancellation_policy', NULL, 'edge_groups', jsonb_build_array(jsonb_build_object('k', 1, 'n', 1, 'failed', 0,
              'running', 1, 'skipped', 0, 'succeeded', 0, 'group_state', 'pending', 'on_satisfied', NULL, 'satisfied_at', NULL,
              'policy_variant', 'all_of', 'cancel_siblings_reason', NULL, 'cancel_siblings_pending', false,
              'downstream_execution_id', t.m('bc')))),
          'bob''s flow reads exactly as he built it');
SELECT is((SELECT public_flow_state || ' ' || tags::text FROM ff.flow WHERE flow_id = :'bflow'), 'open {}', 'bob''s flow is untouched');
-- a flow is one tenant's: its members share its namespace
SELECT is(ff.add_execution_to_flow(:'bflow', ff.create_execution(ff.flow_member_execution_id(:'bflow'), namespace => 'alpha') ->> 'execution_id') ->> 'error',
          'namespace_mismatch', 'an execution of another namespace cannot join a flow');

-- counters over every tenant are for unrestricted roles only
INSERT INTO ff.sibling_cancel_stat VALUES ('any_of_won', 'cancelled', 3);
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.sibling_cancel_status$$), '0', 'a tenant sees no cross-tenant sibling counters');
SELECT is(t.as_role('t_carol', $$SELECT count(*)::text FROM ff.sibling_cancel_status$$), '1', 'an unrestricted reader does');

-- completion channels: one per namespace, only for the namespace's readers
SELECT is(t.as_role('t_alice', $$SELECT ff.completion_channel('alpha') LIKE 'ff_completion_%'$$), 'true', 'alice learns her channel');
SELECT is(t.as_role('t_alice', $$SELECT ff.completion_channel('beta')$$), 'ERROR 42501', 'not bob''s');
SELECT isnt(ff.completion_channel('alpha'), ff.completion_channel('beta'), 'each namespace has its own channel');
SELECT is(t.as_role('t_nobody', $$SELECT ff.completion_channel('alpha')$$), 'ERROR 42501', 'a role without ff roles learns none');
SELECT is(length(ff.completion_channel(repeat('n', 256))), 46, 'a channel name fits NAMEDATALEN whatever the namespace');
SELECT is(t.as_role('t_alice', $$SELECT ff.lease_channel('alpha') ~ '^ff_lease_[0-9a-f]{32}$'$$), 'true', 'alice learns her lease channel');
SELECT is(t.as_role('t_alice', $$SELECT ff.lease_channel('beta')$$), 'ERROR 42501', 'not bob''s lease channel');
SELECT is(t.as_role('t_nobody', $$SELECT ff.lease_channel('alpha')$$), 'ERROR 42501', 'a role without ff roles learns no lease channel');
SELECT isnt(ff.lease_channel('alpha'), ff.lease_channel('beta'), 'each namespace has its own lease channel');
SELECT isnt(substr(ff.lease_channel('alpha'), 10), substr(ff.completion_channel('alpha'), 15),
            'a lease channel is not the completion channel under another prefix');
SELECT is(length(ff.lease_channel(repeat('n', 256))), 41, 'a lease channel name fits NAMEDATALEN');
SELECT is((SELECT namespace FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.b(5))), 'beta', 'the event records its namespace');

-- bindings follow role membership and OIDs, and fail closed
CREATE ROLE t_group_alpha NOLOGIN;
CREATE ROLE t_dave LOGIN IN ROLE ff_submitter, ff_worker, t_group_alpha;
SELECT ff.grant_namespace('t_group_alpha', 'alpha');
SELECT is(t.as_role('t_dave', $$SELECT string_agg(DISTINCT namespace, ',') FROM ff.executions$$), 'alpha',
          'a member of a bound group role is bound too');
SELECT is(t.as_role('t_dave', $$SELECT ff.create_execution(t.b(30), namespace => 'beta') ->> 'status'$$), 'ERROR 42501',
          'and cannot create in another namespace');
ALTER ROLE t_alice RENAME TO t_alice_renamed;
SELECT is(t.as_role('t_alice_renamed', $$SELECT string_agg(DISTINCT namespace, ',') FROM ff.executions$$), 'alpha',
          'a renamed role keeps its binding');
ALTER ROLE t_alice_renamed RENAME TO t_alice;
SELECT is(ff.revoke_namespace('t_alice', 'alpha') ->> 'revoked', 'true', 'alice''s last namespace revoked');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.executions$$), '0', 'with every namespace revoked a role sees nothing');
SELECT is(t.as_role('t_alice', $$SELECT ff.create_execution(t.id(40)) ->> 'status'$$), 'ERROR 42501', 'and creates nothing');
SELECT is(ff.unbind_role('t_alice') ->> 'unbound', 'true', 'unbind_role removes the binding');
SELECT is(t.as_role('t_alice', $$SELECT (count(*) > 2)::text FROM ff.executions$$), 'true', 'only then is the role unrestricted');
SET LOCAL ff_engine.require_namespace_binding = on;
SELECT is(t.as_role('t_carol', $$SELECT count(*)::text FROM ff.executions$$), '0',
          'with require_namespace_binding an unbound role sees nothing');
SELECT is(t.as_role('t_boss', $$SELECT (count(*) > 2)::text FROM ff.executions$$), 'true', 'the admin still sees everything');
SELECT is(t.as_role('t_carol', $$SELECT set_config('ff_engine.require_namespace_binding', 'off', true)$$), 'ERROR 42501',
          'a non-superuser cannot turn it off');
RESET ff_engine.require_namespace_binding;
SELECT is(t.as_role('t_boss', $$SELECT count(*)::text FROM ff.namespace_bindings WHERE role_name = 't_group_alpha'$$), '1',
          'the admin reads the bindings');
SELECT is(t.as_role('t_bob', $$SELECT count(*)::text FROM ff.namespace_bindings$$), 'ERROR 42501', 'a tenant does not');
SELECT throws_ok($$SELECT ff.grant_namespace('no_such_role', 'x')$$, '42704', NULL, 'binding an unknown role');
SELECT throws_ok($$SELECT ff.revoke_namespace('no_such_role', 'x')$$, '42704', NULL, 'revoking from an unknown role');
SELECT throws_ok($$SELECT ff.grant_namespace('t_bob', '')$$, '22023', NULL, 'an empty namespace');
SELECT t.invariants('tenants');

SELECT * FROM finish();
ROLLBACK;
