-- Namespace isolation (issue 10): two tenants sharing one database neither
-- see nor touch each other's executions.
BEGIN;
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
       '00000000-0000-4000-a000-000000000003', NULL, 'waiting_for_signal', '{}') ->> 'waitpoint_token' AS tok3 FROM t.row(t.b(3)) e \gset
SELECT is(t.as_role('t_alice', format($$SELECT ff.deliver_signal(%L, '00000000-0000-4000-a000-000000000003', gen_random_uuid(), 'go', %L) ->> 'error'$$,
          t.b(3), :'tok3')), 'execution_not_found', 'alice cannot signal bob''s waitpoint even with its token');
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
SELECT ff.revoke_namespace('t_alice', 'alpha');
SELECT is(t.as_role('t_alice', $$SELECT count(*)::text FROM ff.executions$$), '2', 'with its binding revoked a role is unrestricted again');
SELECT throws_ok($$SELECT ff.grant_namespace('no_such_role', 'x')$$, '42704', NULL, 'binding an unknown role');
SELECT t.invariants('tenants');

SELECT * FROM finish();
ROLLBACK;
