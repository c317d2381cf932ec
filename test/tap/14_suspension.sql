-- Suspension, waitpoints, signals and tokens: behaviour/suspension; checklist items (doc/checklist.md)
-- 1-74 (numbers in the comments).  Time moves by the test clock.
BEGIN;
-- these checks read the event rows of executions outside flows too
SET LOCAL ff_engine.completion_events = 'all';
\ir helpers.psql

CREATE FUNCTION t.wp(n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT format('00000000-0000-4000-a000-%s', lpad(n::text, 12, '0'))::uuid
$$;
-- a fresh execution claimed by w1
CREATE FUNCTION t.new(n integer, priority integer DEFAULT 0) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ff.create_execution(t.id(n), priority => priority);
    PERFORM t.claim(t.id(n));
    RETURN t.id(n);
END $$;
-- suspend with the execution's current fence
CREATE FUNCTION t.sus(id text, wp uuid, cond jsonb DEFAULT '{"required_signal_names": []}',
                      reason text DEFAULT 'waiting_for_signal', timeout_at bigint DEFAULT NULL,
                      behavior text DEFAULT 'fail', pending boolean DEFAULT false, idem text DEFAULT NULL,
                      key text DEFAULT NULL, extra_ids uuid[] DEFAULT NULL, extra_keys text[] DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.suspend_execution(e.id, e.current_attempt_index::integer, e.current_lease_id, e.current_lease_epoch,
        e.current_attempt_id, gen_random_uuid(), wp, key, reason, cond, timeout_at, behavior,
        use_pending_waitpoint => pending, idempotency_key => idem,
        extra_waitpoint_ids => extra_ids, extra_waitpoint_keys => extra_keys) FROM t.row(id) e
$$;
-- deliver / buffer with the waitpoint's stored token
CREATE FUNCTION t.sig(id text, wp uuid, name text, src_type text DEFAULT '', src_id text DEFAULT '',
                      idem text DEFAULT '', delay bigint DEFAULT 0, maxs integer DEFAULT 10000,
                      sid uuid DEFAULT NULL, payload bytea DEFAULT NULL, ttl bigint DEFAULT 86400000)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.deliver_signal(id, wp, coalesce(sid, gen_random_uuid()), name, ff.read_waitpoint_token(id, wp),
        payload => payload, source_type => src_type, source_identity => src_id, idempotency_key => idem,
        resume_delay_ms => delay, max_signals_per_execution => maxs, dedup_ttl_ms => ttl)
$$;
CREATE FUNCTION t.buf(id text, wp uuid, name text, idem text DEFAULT '', maxs integer DEFAULT 10000)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.buffer_signal_for_pending_waitpoint(id, wp, gen_random_uuid(), name, ff.read_waitpoint_token(id, wp),
        idempotency_key => idem, max_signals_per_execution => maxs)
$$;
CREATE FUNCTION t.pend(id text, wp uuid, expires bigint DEFAULT NULL, key text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT ff.create_pending_waitpoint(e.id, e.current_attempt_index::integer, e.current_lease_id,
        e.current_lease_epoch, e.current_attempt_id, wp, key, coalesce(expires, ff.now_ms() + 60000)) FROM t.row(id) e
$$;
CREATE FUNCTION t.w(wp uuid) RETURNS ff.waitpoint LANGUAGE sql AS $$ SELECT * FROM ff.waitpoint WHERE waitpoint_id = wp $$;
CREATE FUNCTION t.s(id text) RETURNS ff.suspension LANGUAGE sql AS $$
    SELECT * FROM ff.suspension WHERE execution_id = t.exec_uuid(id)
$$;
CREATE FUNCTION t.byname(VARIADIC names text[]) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('required_signal_names', to_jsonb(names))
$$;
CREATE FUNCTION t.vec(id text) RETURNS text[] LANGUAGE sql AS $$
    SELECT ARRAY[e.lifecycle_phase::text, e.ownership_state::text, e.eligibility_state::text,
                 e.blocking_reason::text, e.attempt_state::text, e.public_state::text] FROM t.row(id) e
$$;
CREATE FUNCTION t.composite(tree jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('v', 1, 'composite', true, 'condition_type', 'composite', 'tree', tree)
$$;

-- 1-2. suspend by the lease holder
SELECT t.new(1);
SELECT ff.set_execution_tags(t.id(1), 'cairn.instance_id', 'i-7');
UPDATE ff.execution SET execution_deadline_at = 1000099999999 WHERE execution_id = t.exec_uuid(t.id(1));
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at) VALUES (0, t.exec_uuid(t.id(1)), 0, 1);
SELECT t.row(t.id(1)) AS before1 \gset
SELECT t.sus(t.id(1), t.wp(1), t.byname('approve'), 'waiting_for_approval') AS s1 \gset
SELECT is(:'s1'::jsonb->>'status', 'OK', '1. suspend -> OK');
SELECT ok(:'s1'::jsonb->>'waitpoint_token' ~ '^[^:]+:[0-9a-f]{40}$', '1. token is kid:40hex');
SELECT is(:'s1'::jsonb->>'waitpoint_key', 'wpk:' || t.wp(1), '1. default key wpk:<id>');
SELECT is(t.vec(t.id(1)), ARRAY['suspended', 'unowned', 'not_applicable', 'waiting_for_approval', 'attempt_interrupted', 'suspended'],
          '1. suspended vector');
SELECT is((SELECT attempt_state::text || '/' || suspension_id FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(1))),
          'suspended/' || (:'s1'::jsonb->>'suspension_id'), '1. attempt suspended with the suspension id');
SELECT is(ARRAY[e.current_lease_id::text, e.lease_expires_at::text, e.current_worker_instance_id],
          ARRAY[NULL, NULL, NULL]::text[], '2. lease released') FROM t.row(t.id(1)) e;
SELECT is((t.row(t.id(1))).current_lease_epoch, (:'before1'::ff.executions).current_lease_epoch, '2. epoch unchanged');
SELECT is((SELECT event || ':' || reason FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(1)) ORDER BY seq DESC LIMIT 1),
          'released:suspend', '2. history released/suspend');
SELECT is((SELECT closed_at FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(1))), NULL, '2. stream still open');
SELECT is((t.row(t.id(1))).execution_deadline_at, 1000099999999::bigint, '2. execution deadline kept');
SELECT is(ARRAY[(t.row(t.id(1))).current_suspension_id::text, (t.row(t.id(1))).current_waitpoint_id::text],
          ARRAY[:'s1'::jsonb->>'suspension_id', t.wp(1)::text], '1. pointers set');
SELECT is(((t.w(t.wp(1))).state, (t.w(t.wp(1))).cond_kind, (t.w(t.wp(1))).cond_names::text, (t.w(t.wp(1))).cond_closed)::text,
          '(active,matcher,{approve},f)', '1. waitpoint active with its condition');
SELECT t.invariants('suspend');

-- 3. each reason code maps to its blocking reason
SELECT t.sus(t.new(100 + g.n::integer), t.wp(100 + g.n::integer), reason => g.code)
FROM unnest(ARRAY['waiting_for_signal', 'waiting_for_approval', 'waiting_for_callback', 'waiting_for_tool_result',
                  'waiting_for_operator_review', 'paused_by_policy', 'paused_by_budget', 'step_boundary',
                  'manual_pause']) WITH ORDINALITY g(code, n);
SELECT is((SELECT array_agg(blocking_reason::text ORDER BY id) FROM ff.executions WHERE id IN (SELECT t.id(100 + g) FROM generate_series(1, 9) g)),
          ARRAY['waiting_for_signal', 'waiting_for_approval', 'waiting_for_callback', 'waiting_for_tool_result',
                'paused_by_operator', 'paused_by_policy', 'waiting_for_budget', 'waiting_for_signal', 'paused_by_operator'],
          '3. reason code -> blocking reason');
SELECT is((t.row(t.id(101))).blocking_detail, 'suspended: waitpoint ' || t.wp(101) || ' awaiting waiting_for_signal', '3. blocking detail');

-- 4. fence checks
SELECT t.new(2);
SELECT is(ff.suspend_execution(t.id(2), 0, NULL, NULL, NULL, gen_random_uuid(), t.wp(2), NULL, 'waiting_for_signal', '{}'),
          '{"ok": false, "error": "fence_required"}', '4. empty fence -> fence_required');
SELECT is(ff.suspend_execution(t.id(2), 0, gen_random_uuid(), 1, NULL, gen_random_uuid(), t.wp(2), NULL, 'waiting_for_signal', '{}')->>'error',
          'partial_fence_triple', '4. two of three -> partial_fence_triple');
SELECT is(ff.suspend_execution(e.id, 0, gen_random_uuid(), e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(), t.wp(2), NULL,
          'waiting_for_signal', '{}')->>'error', 'stale_lease', '4. wrong lease id -> stale_lease') FROM t.row(t.id(2)) e;
SELECT is(ff.suspend_execution(e.id, 0, e.current_lease_id, 7, e.current_attempt_id, gen_random_uuid(), t.wp(2), NULL,
          'waiting_for_signal', '{}')->>'error', 'stale_lease', '4. wrong epoch -> stale_lease') FROM t.row(t.id(2)) e;
SELECT is(ff.suspend_execution(e.id, 1, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(), t.wp(2), NULL,
          'waiting_for_signal', '{}')->>'error', 'invalid_lease_for_suspend', '4. wrong attempt_index') FROM t.row(t.id(2)) e;
SELECT is((SELECT count(*)::int FROM ff.waitpoint WHERE waitpoint_id = t.wp(2)), 0, '4. nothing written');

-- 5. expired lease: marked (committed) and lease_expired
SELECT ff.create_execution(t.id(3));
SELECT t.claim(t.id(3), ttl => 1000);
SELECT t.at(1000000002000);
SELECT is(t.sus(t.id(3), t.wp(3))->>'error', 'lease_expired', '5. suspend on an expired lease -> lease_expired');
SELECT is((t.row(t.id(3))).ownership_state::text, 'lease_expired_reclaimable', '5. and the lease is marked expired');
SELECT is((SELECT event FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(3)) ORDER BY seq DESC LIMIT 1), 'expired', '5. expired history event');

-- 6. revoked; runnable; terminal: each refused with nothing written
SELECT t.new(4);
SELECT ff.revoke_lease(t.id(4));
SELECT ff.create_execution(t.id(5));
SELECT t.snapshot() AS snap6 \gset
SELECT is(ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(), t.wp(4), NULL,
          'waiting_for_signal', '{}')->>'error', 'lease_revoked', '6. revoked -> lease_revoked') FROM t.row(t.id(4)) e;
SELECT is(ff.suspend_execution(t.id(5), 0, gen_random_uuid(), 1, gen_random_uuid(), gen_random_uuid(), t.wp(5), NULL, 'waiting_for_signal', '{}')
          - 'current_attempt_id',
          '{"ok": false, "error": "execution_not_active", "lifecycle_phase": "runnable", "terminal_outcome": "none", "current_lease_epoch": 0}',
          '6. runnable -> execution_not_active with its details');
SELECT is(t.snapshot(), :'snap6'::text, '6. nothing written by the suspends on the revoked and the runnable execution');
SELECT t.new(900);
SELECT t.row(t.id(900)) AS fence900 \gset
SELECT t.complete(t.id(900));
SELECT t.snapshot() AS snap6t \gset
SELECT is(ff.suspend_execution(t.id(900), 0, (:'fence900'::ff.executions).current_lease_id, (:'fence900'::ff.executions).current_lease_epoch,
          (:'fence900'::ff.executions).current_attempt_id, gen_random_uuid(), t.wp(900), NULL, 'waiting_for_signal', '{}'),
          jsonb_build_object('ok', false, 'error', 'execution_not_active', 'lifecycle_phase', 'terminal', 'terminal_outcome', 'success',
                             'current_lease_epoch', 1, 'current_attempt_id', (:'fence900'::ff.executions).current_attempt_id),
          '6. terminal (with its last fence) -> execution_not_active with the four details');
SELECT is(t.snapshot(), :'snap6t'::text, '6. nothing written by the suspend on a terminal execution');
SELECT is((SELECT count(*)::int FROM ff.waitpoint WHERE waitpoint_id IN (t.wp(4), t.wp(5), t.wp(900)))
        + (SELECT count(*)::int FROM ff.suspension WHERE execution_id IN (t.exec_uuid(t.id(4)), t.exec_uuid(t.id(5)), t.exec_uuid(t.id(900)))), 0,
          '6. no waitpoint or suspension for any of the three refused suspends');

-- 7. timeout index
SELECT t.new(6);
SELECT t.sus(t.id(6), t.wp(6), timeout_at => 1000000100000);
SELECT is((SELECT count(*)::int FROM ff.suspension WHERE closed_at IS NULL AND timeout_at IS NOT NULL AND execution_id = t.exec_uuid(t.id(6))), 1,
          '7. with timeout_at: in SUSPENSION_TIMEOUT');
SELECT is((t.s(t.id(1))).timeout_at, NULL, '7. without: no timeout entry');
SELECT is((t.w(t.wp(6))).expires_at, 1000000100000::bigint, '7. active waitpoint expires at the timeout');
SELECT is(((t.row(t.id(6))).lifecycle_phase::text, (t.s(t.id(6))).timeout_at)::text, '(suspended,1000000100000)',
          '7. in SUSPENDED, scored (and due) at exactly timeout_at');
SELECT is(((t.row(t.id(1))).lifecycle_phase::text, (t.s(t.id(1))).timeout_at)::text, '(suspended,)',
          '7. without: in SUSPENDED with no timeout (the reference''s 9999999999999 score is a NULL timeout_at here)');
SELECT t.at(1000000099999);
SELECT ff.scan_suspension_timeouts();
SELECT is((t.row(t.id(6))).lifecycle_phase::text, 'suspended', '7. the timeout scan a millisecond before timeout_at leaves it');
SELECT t.at(1000000100000);
SELECT ff.scan_suspension_timeouts();
SELECT is(ARRAY[(t.row(t.id(6))).public_state::text, (t.s(t.id(6))).close_reason], ARRAY['failed', 'timed_out_fail'],
          '7. at timeout_at the scan times it out (behavior fail)');
SELECT t.at(1000000000000 + 604800000000);
SELECT ff.scan_suspension_timeouts();
SELECT is((t.row(t.id(1))).lifecycle_phase::text, 'suspended', '7. the one without a timeout is never timed out (years later)');
SELECT t.at(1000000002000);

-- 8. timeout in the past: > 10 minutes refused, < 10 minutes accepted and fires at the next scan
SELECT t.new(7);
SELECT throws_ok($$SELECT t.sus(t.id(7), t.wp(7), timeout_at => ff.now_ms() - 660000)$$, '22023', 'invalid suspension: timeout_at_in_past',
                 '8. 11 minutes in the past -> timeout_at_in_past');
SELECT is(t.sus(t.id(7), t.wp(7), timeout_at => ff.now_ms() - 300000)->>'status', 'OK', '8. 5 minutes in the past accepted');
SELECT is(ff.expire_suspension(t.id(7))->>'result', 'fail', '8. and times out at once');

-- 9. idempotent suspend: the stored outcome, byte-identical, even after the
-- execution moved on -- to the caller that presents the original fence (a
-- decision of this port: the outcome holds the waitpoint tokens)
SELECT t.new(8);
SELECT t.row(t.id(8)) AS fence8 \gset
SELECT t.sus(t.id(8), t.wp(8), idem => 'k8') AS s8 \gset
SELECT t.snapshot() AS snap8 \gset
SELECT is(ff.suspend_execution(t.id(8), 0, (:'fence8'::ff.executions).current_lease_id, (:'fence8'::ff.executions).current_lease_epoch,
          (:'fence8'::ff.executions).current_attempt_id, gen_random_uuid(), t.wp(8), NULL, 'waiting_for_signal',
          '{}', idempotency_key => 'k8'), :'s8'::jsonb, '9. same key and fence -> the first outcome verbatim');
SELECT is(t.snapshot(), :'snap8', '9. and nothing written');
SELECT is(ff.suspend_execution(t.id(8), 0, gen_random_uuid(), 9, gen_random_uuid(), gen_random_uuid(), t.wp(8), NULL, 'waiting_for_signal',
          '{}', idempotency_key => 'k8')->>'error', 'execution_not_active', '9. same key with another fence -> checked like any call, no tokens');
SELECT is(t.snapshot(), :'snap8', '9. and nothing written');
SELECT t.sig(t.id(8), t.wp(8), 'go');
SELECT t.claim(t.id(8));
SELECT t.complete(t.id(8));
SELECT is(ff.suspend_execution(t.id(8), 0, (:'fence8'::ff.executions).current_lease_id, (:'fence8'::ff.executions).current_lease_epoch,
          (:'fence8'::ff.executions).current_attempt_id, gen_random_uuid(), t.wp(8), NULL, 'waiting_for_signal', '{}',
          idempotency_key => 'k8'), :'s8'::jsonb, '9. still replayed after resume and completion');
SELECT t.at(1000000002000 + 604800001);
SELECT is(ff.suspend_execution(t.id(8), 0, (:'fence8'::ff.executions).current_lease_id, (:'fence8'::ff.executions).current_lease_epoch,
          (:'fence8'::ff.executions).current_attempt_id, gen_random_uuid(), t.wp(8), NULL, 'waiting_for_signal', '{}',
          idempotency_key => 'k8')->>'error', 'execution_not_active', '9. after the dedup TTL the call is evaluated');
SELECT t.at(1000000002000);

-- 10. suspend twice; an injected open record -> already_suspended
SELECT is(ff.suspend_execution(t.id(1), 0, (:'before1'::ff.executions).current_lease_id, (:'before1'::ff.executions).current_lease_epoch,
          (:'before1'::ff.executions).current_attempt_id, gen_random_uuid(), t.wp(9), NULL, 'waiting_for_signal', '{}')->>'error',
          'execution_not_active', '10. second suspend by the old holder -> execution_not_active');
SELECT t.new(10);
INSERT INTO ff.suspension (partition, execution_id, suspension_id, attempt_index, primary_waitpoint_id, waitpoint_key, reason_code,
                           requested_by, created_at, resume_condition, condition_kind)
VALUES (0, t.exec_uuid(t.id(10)), gen_random_uuid(), 0, gen_random_uuid(), 'k', 'waiting_for_signal', 'worker', 1, '{}', 'matcher');
SELECT is(t.sus(t.id(10), t.wp(10))->>'error', 'already_suspended', '10. stale open record -> already_suspended');
DELETE FROM ff.suspension WHERE execution_id = t.exec_uuid(t.id(10));

-- 11. a second suspension of the same attempt after resume + resumed claim
SELECT t.new(11);
SELECT t.sus(t.id(11), t.wp(11));
SELECT ff.resume_execution(t.id(11));
SELECT t.claim(t.id(11));
SELECT is(t.sus(t.id(11), t.wp(12))->>'status', 'OK', '11. second suspension of the same attempt');
SELECT is((t.s(t.id(11))).primary_waitpoint_id, t.wp(12), '11. the record was replaced');
SELECT is((SELECT count(*)::int FROM ff.waitpoint WHERE execution_id = t.exec_uuid(t.id(11))), 2, '11. both waitpoints kept for the execution');

-- 12. validation: misuse errors, nothing written
SELECT t.new(12);
SELECT t.snapshot() AS snap12 \gset
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), '{"required_signal_names": ["a"], "waitpoint_key": "other"}', key => 'mine')$$,
                 '22023', 'invalid suspension: waitpoint_key_mismatch', '12. Single key differs from the fresh key');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), '{"required_signal_names": []}', extra_ids => ARRAY[t.wp(14)], extra_keys => ARRAY['x'])$$,
                 '22023', NULL, '12. extras not referenced by the condition');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.byname('__timeout_only__'))$$, '22023',
                 'invalid suspension: timeout_only_without_deadline', '12. TimeoutOnly without timeout_at');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.byname(''))$$, '22023',
                 'invalid suspension: resume_condition: empty signal name', '12. ByName("")');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.composite('{"kind": "AllOf", "members": []}'))$$, '22023',
                 'invalid suspension: allof_empty_members', '12. AllOf[]');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.composite('{"kind": "Count", "n": 0, "waitpoints": ["a"]}'), key => 'a')$$, '22023',
                 'invalid suspension: count_n_zero', '12. Count n=0');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.composite('{"kind": "Count", "n": 1, "waitpoints": []}'))$$, '22023',
                 'invalid suspension: count_waitpoints_empty', '12. Count waitpoints=[]');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.composite('{"kind": "Count", "n": 3, "waitpoints": ["a", "b"]}'), key => 'a',
                 extra_ids => ARRAY[t.wp(14)], extra_keys => ARRAY['b'])$$, '22023',
                 'invalid suspension: count_exceeds_waitpoint_set', '12. Count n=3 over 2 waitpoints');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.composite(
    '{"kind": "AllOf", "members": [{"kind": "AllOf", "members": [{"kind": "AllOf", "members": [{"kind": "AllOf", "members": [
      {"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "a"}]}]}]}]}]}'), key => 'a')$$, '22023',
                 'invalid suspension: composite depth exceeds 4', '12. depth 5');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.composite('{"kind": "Single", "waitpoint_key": "a"}'), key => 'a')$$, '22023',
                 'invalid suspension: the composite root must be AllOf or Count', '12. composite root must be a body');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), t.composite('{"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "zz"}]}'), key => 'a')$$,
                 '22023', 'invalid suspension: referenced_waitpoint_key_missing_binding: zz', '12. referenced key without a binding');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), '"not an object"')$$, '22023', NULL, '12. a condition that is not an object');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), '{"v": 2, "composite": true, "tree": {"kind": "AllOf", "members": [{"kind": "NeverBySignal"}]}}')$$,
                 '22023', 'invalid suspension: composite version v must be 1', '12. composite v must be 1');
-- 13. unknown literals
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), reason => 'waiting_for_godot')$$, '22023', NULL, '13. unknown reason_code');
SELECT throws_ok($$SELECT t.sus(t.id(12), t.wp(13), behavior => 'explode')$$, '22023', NULL, '13. unknown timeout_behavior');
SELECT throws_ok($$SELECT ff.suspend_execution(t.id(12), 0, NULL, NULL, NULL, NULL, t.wp(13), NULL, 'waiting_for_signal', '{}')$$,
                 '22023', 'invalid suspension: suspension_id must not be NULL', 'NULL suspension_id');
SELECT throws_ok($$SELECT ff.suspend_execution('nonsense', 0, NULL, NULL, NULL, gen_random_uuid(), t.wp(13), NULL, 'waiting_for_signal', '{}')$$,
                 '22P02', NULL, 'malformed execution id');
SELECT is(t.sus(t.id(12), t.wp(13), extra_ids => ARRAY[NULL::uuid], extra_keys => ARRAY['x'])->>'error',
          'additional_waitpoint_binding_malformed', '12. an extra with no id -> additional_waitpoint_binding_malformed');
SELECT is(t.snapshot(), :'snap12', '12-13. nothing written by any refused suspend');

-- 14-15. pending waitpoints
SELECT t.new(14);
SELECT t.snapshot() AS snap14 \gset
SELECT t.row(t.id(14)) AS row14 \gset
SELECT t.pend(t.id(14), t.wp(20), 1000000090000, 'approval') AS p14 \gset
SELECT is(:'p14'::jsonb - 'waitpoint_token', jsonb_build_object('ok', true, 'status', 'OK', 'waitpoint_id', t.wp(20), 'waitpoint_key', 'approval'),
          '14. create_pending_waitpoint -> OK');
SELECT is(((t.w(t.wp(20))).state, (t.w(t.wp(20))).expires_at, (t.w(t.wp(20))).cond_kind)::text, '(pending,1000000090000,)',
          '14. pending, in PENDING_WP_EXPIRY, no condition record');
SELECT is(t.row(t.id(14))::text, :'row14', '14. execution unchanged (its whole row, as before the call)');
SAVEPOINT only14;
DELETE FROM ff.waitpoint WHERE waitpoint_id = t.wp(20);
SELECT t.snapshot() AS without14 \gset
ROLLBACK TO SAVEPOINT only14;
SELECT is(:'without14'::text, :'snap14'::text, '14. the pending waitpoint is the only thing written (no suspension, condition, token or signal record)');
SELECT is(ff.create_pending_waitpoint(t.id(5), 0, gen_random_uuid(), 1, gen_random_uuid(), t.wp(21), NULL, ff.now_ms() + 1000)->>'error',
          'execution_not_active', '15. on a runnable execution -> execution_not_active');
SELECT is(ff.create_pending_waitpoint(e.id, 3, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, t.wp(21), NULL, ff.now_ms() + 1000)->>'error',
          'stale_lease', '15. wrong attempt_index -> stale_lease') FROM t.row(t.id(14)) e;
SELECT is(t.pend(t.id(14), t.wp(20))->>'error', 'waitpoint_already_exists', '15. same id while pending');
SELECT throws_ok($$SELECT t.pend(t.id(14), t.wp(21), ff.now_ms())$$, '22023', NULL, '15. expires_at not in the future is misuse');
SELECT t.pend(t.id(14), t.wp(22));
SELECT ff.close_waitpoint(t.id(14), t.wp(22), source => 'operator_override');
SELECT is(t.pend(t.id(14), t.wp(22))->>'status', 'OK', '15. same id after it was closed -> replaced');
SELECT is(ff.create_pending_waitpoint(t.id(1), 0, (:'before1'::ff.executions).current_lease_id, (:'before1'::ff.executions).current_lease_epoch,
          (:'before1'::ff.executions).current_attempt_id, t.wp(20), NULL, ff.now_ms() + 1000)->>'error',
          'execution_not_active', 'a suspended execution cannot create pending waitpoints');

-- 16. activation keeps the token; a signal signed with it resumes
SELECT t.at(1000000002500);
SELECT t.sus(t.id(14), t.wp(20), t.byname('approve'), pending => true) AS s16 \gset
SELECT is(:'s16'::jsonb->>'waitpoint_token', :'p14'::jsonb->>'waitpoint_token', '16. same token after activation');
SELECT is(:'s16'::jsonb->>'waitpoint_key', 'approval', '16. the pending key is kept');
SELECT is(((t.w(t.wp(20))).state, (t.w(t.wp(20))).activated_at, (t.w(t.wp(20))).created_at)::text,
          '(active,1000000002500,1000000002000)', '16. active, activated now, created_at kept');
SELECT t.at(1000000002000);
SELECT is(ff.deliver_signal(t.id(14), t.wp(20), gen_random_uuid(), 'approve', :'p14'::jsonb->>'waitpoint_token')->>'effect',
          'resume_condition_satisfied', '16. the pending token resumes it');

-- 17. activation refusals
SELECT t.new(15);
SELECT t.new(16);
SELECT t.pend(t.id(16), t.wp(30));
SELECT t.pend(t.id(15), t.wp(31), ff.now_ms() + 10);
SELECT is(t.sus(t.id(15), t.wp(39), pending => true)->>'error', 'waitpoint_not_found', '17. missing -> waitpoint_not_found');
SELECT is(t.sus(t.id(15), t.wp(20), pending => true)->>'error', 'waitpoint_not_pending', '17. closed -> waitpoint_not_pending');
SELECT is(t.sus(t.id(15), t.wp(30), pending => true)->>'error', 'invalid_waitpoint_for_execution', '17. another execution''s');
UPDATE ff.waitpoint SET attempt_index = 5 WHERE waitpoint_id = t.wp(30);
UPDATE ff.waitpoint SET execution_id = t.exec_uuid(t.id(15)) WHERE waitpoint_id = t.wp(30);
SELECT is(t.sus(t.id(15), t.wp(30), pending => true)->>'error', 'invalid_waitpoint_for_execution', '17. another attempt''s');
SELECT t.at(1000000002020);
SELECT is(t.sus(t.id(15), t.wp(31), pending => true)->>'error', 'pending_waitpoint_expired', '17. expired, not yet scanned');
SELECT t.at(1000000002000);
SELECT ff.close_waitpoint(t.id(15), t.wp(31), source => 'operator_override');
SELECT t.pend(t.id(15), t.wp(32));
SELECT t.snapshot() AS snap17 \gset
SELECT is(t.sus(t.id(15), t.wp(32), t.composite('{"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "b"}]}'), pending => true,
                extra_ids => ARRAY[t.wp(33)], extra_keys => ARRAY['b'])->>'error',
          'use_pending_with_extras_unsupported', '17. with extras -> use_pending_with_extras_unsupported');
SELECT is(t.snapshot(), :'snap17', '17. nothing written');

-- 18. buffered signals already satisfy: ALREADY_SATISFIED, lease kept
SELECT t.new(18);
SELECT t.pend(t.id(18), t.wp(40));
SELECT is(t.buf(t.id(18), t.wp(40), 'approve')->>'effect', 'buffered_for_pending_waitpoint', '18. buffered');
SELECT t.row(t.id(18)) AS b18 \gset
SELECT is(t.sus(t.id(18), t.wp(40), t.byname('approve'), pending => true)->>'status', 'ALREADY_SATISFIED', '18. ALREADY_SATISFIED');
SELECT is(t.vec(t.id(18)), ARRAY['active', 'leased', 'not_applicable', 'none', 'running_attempt', 'active'], '18. still active');
SELECT is((t.row(t.id(18))).current_lease_id, (:'b18'::ff.executions).current_lease_id, '18. same lease');
SELECT is(t.renew(t.id(18))->>'status', 'OK', '18. renew succeeds');
SELECT is(t.s(t.id(18)), NULL, '18. no suspension record');
SELECT is(((t.w(t.wp(40))).state, (t.w(t.wp(40))).close_reason)::text, '(closed,resumed)', '18. waitpoint closed resumed');
SELECT is((SELECT observed_effect FROM ff.signal WHERE waitpoint_id = t.wp(40)), 'resume_condition_satisfied',
          '18. the replayed signal records its effect (behaviour/suspension §C.7)');

-- 19. buffered other -> normal OK, 0 satisfied; later approve resumes
SELECT t.new(19);
SELECT t.pend(t.id(19), t.wp(41));
SELECT t.buf(t.id(19), t.wp(41), 'other');
SELECT is(t.sus(t.id(19), t.wp(41), t.byname('approve'), pending => true)->>'status', 'OK', '19. normal suspend');
SELECT is((t.w(t.wp(41))).cond_satisfied_count, 0, '19. 0 satisfied');
SELECT is(t.sig(t.id(19), t.wp(41), 'approve')->>'effect', 'resume_condition_satisfied', '19. approve resumes');

-- 20. all over [a, b]: buffered a, then b resumes
SELECT t.new(20);
SELECT t.pend(t.id(20), t.wp(42));
SELECT t.buf(t.id(20), t.wp(42), 'a');
SELECT is(t.sus(t.id(20), t.wp(42), '{"required_signal_names": ["a", "b"], "signal_match_mode": "all"}', pending => true)->>'status', 'OK', '20. OK');
SELECT is(((t.w(t.wp(42))).cond_satisfied_count, (t.w(t.wp(42))).cond_signal_ids[1] IS NOT NULL, (t.w(t.wp(42))).cond_signal_ids[2] IS NULL)::text,
          '(1,t,t)', '20. matcher 0 satisfied');
SELECT is(t.sig(t.id(20), t.wp(42), 'b')->>'effect', 'resume_condition_satisfied', '20. b resumes');

-- 21. close_waitpoint
SELECT t.new(21);
SELECT t.pend(t.id(21), t.wp(43));
SELECT is(ff.close_waitpoint(t.id(21), t.wp(43), 'changed_my_mind', e.current_lease_id, e.current_lease_epoch, e.current_attempt_id)->>'result',
          'closed', '21. close a pending waitpoint with the fence') FROM t.row(t.id(21)) e;
SELECT is(((t.w(t.wp(43))).state, (t.w(t.wp(43))).close_reason)::text, '(closed,changed_my_mind)', '21. closed with the reason');
SELECT is(ff.close_waitpoint(t.id(21), t.wp(43), source => 'operator_override')->>'result', 'already_closed', '21. again -> already_closed');
SELECT is(ff.close_waitpoint(t.id(21), t.wp(49), source => 'operator_override')->>'error', 'waitpoint_not_found', '21. missing -> waitpoint_not_found');
SELECT is(ff.close_waitpoint(t.id(21), t.wp(43))->>'error', 'fence_required', '21. no fence, no override -> fence_required');
SELECT is(ff.close_waitpoint(t.id(1), t.wp(1), source => 'operator_override')->>'error', 'waitpoint_not_open', '21. active -> waitpoint_not_open');

-- 22-23. pending expiry scan
SELECT t.new(22);
SELECT t.pend(t.id(22), t.wp(44), ff.now_ms() + 1000);
SELECT t.pend(t.id(22), t.wp(45), ff.now_ms() + 100000);
SELECT t.buf(t.id(22), t.wp(44), 'early');
SELECT t.row(t.id(22)) AS b22 \gset
SELECT t.at(1000000003000);
SELECT is(ff.scan_pending_waitpoint_expiry() - 'more', '{"ok": true, "errors": 0, "status": "OK", "scanner": "pending_waitpoint_expiry", "processed": 1}',
          '22. one due pending waitpoint');
SELECT is(((t.w(t.wp(44))).state, (t.w(t.wp(44))).close_reason)::text, '(closed,never_committed)', '22. closed never_committed');
SELECT is((t.w(t.wp(45))).state, 'pending', '22. not due untouched');
SELECT is((t.w(t.wp(1))).state, 'active', '22. active waitpoints never touched');
SELECT is(t.row(t.id(22)), :'b22'::ff.executions, '22. the execution is untouched');
SELECT is(ff.scan_pending_waitpoint_expiry()->>'processed', '0', '22. a second scan changes nothing');
SELECT is((SELECT count(*)::int FROM ff.signal WHERE waitpoint_id = t.wp(44)), 1, '22. buffered signals stay recorded');
SELECT is(t.buf(t.id(22), t.wp(44), 'late')->>'error', 'waitpoint_closed', '23. buffer after expiry -> waitpoint_closed');
SELECT is(t.sus(t.id(22), t.wp(44), pending => true)->>'error', 'waitpoint_not_pending', '23. suspend(use_pending) -> waitpoint_not_pending');
SELECT t.at(1000000002000);

-- 24. wildcard: any first signal (including "") resumes
SELECT t.new(24, priority => 5);
SELECT t.sus(t.id(24), t.wp(50), timeout_at => 1000000500000);
SELECT is(t.sig(t.id(24), t.wp(50), '')->>'effect', 'resume_condition_satisfied', '24. "" satisfies a wildcard');
SELECT is(t.vec(t.id(24)), ARRAY['runnable', 'unowned', 'eligible_now', 'waiting_for_worker', 'attempt_interrupted', 'waiting'], '24. waiting');
SELECT is(ARRAY[(t.row(t.id(24))).current_suspension_id::text, (t.row(t.id(24))).current_waitpoint_id::text], ARRAY[NULL, NULL]::text[], '24. pointers cleared');
SELECT is(((t.w(t.wp(50))).state, (t.w(t.wp(50))).close_reason, (t.w(t.wp(50))).cond_closed_reason)::text, '(closed,resumed,satisfied)',
          '24. waitpoint closed resumed, condition closed satisfied');
SELECT is(((t.s(t.id(24))).close_reason, (t.s(t.id(24))).satisfied_at)::text, '(resumed,1000000002000)', '24. suspension closed resumed');
SELECT is((SELECT count(*)::int FROM ff.suspension WHERE closed_at IS NULL AND timeout_at IS NOT NULL AND execution_id = t.exec_uuid(t.id(24))), 0,
          '24. SUSPENSION_TIMEOUT entry removed');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(24)) AND lifecycle_phase = 'runnable'
           AND eligibility_state = 'eligible_now'), 1, '24. in ELIGIBLE');

-- 25. ByName: another name is no_op, recorded and counted
SELECT t.new(25);
SELECT t.sus(t.id(25), t.wp(51), t.byname('x'));
SELECT is(t.sig(t.id(25), t.wp(51), 'y')->>'effect', 'no_op', '25. y -> no_op');
SELECT is(((t.w(t.wp(51))).signal_count, (t.w(t.wp(51))).matched_signal_count)::text, '(1,0)', '25. counted, not matched');
SELECT is((t.row(t.id(25))).public_state::text, 'suspended', '25. still suspended');
SELECT is(t.sig(t.id(25), t.wp(51), 'x')->>'effect', 'resume_condition_satisfied', '25. x resumes');

-- 26. resume delay
SELECT t.new(26);
SELECT t.sus(t.id(26), t.wp(52));
SELECT is(t.sig(t.id(26), t.wp(52), 'go', delay => 5000)->>'public_state', 'delayed', '26. delayed');
SELECT is(ARRAY[(t.row(t.id(26))).blocking_reason::text, (t.row(t.id(26))).delay_until::text, (t.row(t.id(26))).blocking_detail],
          ARRAY['waiting_for_resume_delay', '1000000007000', 'resume delay 5000ms after signal go'], '26. delay_until written (Required)');
SELECT t.at(1000000007000);
SELECT ff.scan_delayed();
SELECT is((t.row(t.id(26))).attempt_state::text, 'attempt_interrupted', '26. promotion keeps the interrupted attempt');
SELECT is(ff.issue_claim_grant(t.id(26), 'w1', 'w1-1', 'default')->>'status', 'OK', '26. grant');
SELECT is(ff.claim_execution(t.id(26), 'w1', 'w1-1', 'default')->>'error', 'use_claim_resumed_execution', '26. a plain claim is refused');
SELECT t.at(1000000002000);

-- 27-28. signal idempotency
SELECT t.new(27);
SELECT t.sus(t.id(27), t.wp(53), '{"required_signal_names": ["a", "b", "c"], "signal_match_mode": "all"}');
SELECT t.sig(t.id(27), t.wp(53), 'a', idem => 'once') AS d27 \gset
SELECT t.snapshot() AS snap27 \gset
SELECT is(t.sig(t.id(27), t.wp(53), 'b', idem => 'once'), jsonb_build_object('ok', true, 'status', 'DUPLICATE', 'signal_id', :'d27'::jsonb->>'signal_id'),
          '27. same key -> DUPLICATE(first id)');
SELECT is(t.snapshot(), :'snap27', '27. no record, no counter, no event');
SELECT t.new(28);
SELECT t.sus(t.id(28), t.wp(54), '{"required_signal_names": ["a", "b"], "signal_match_mode": "all"}');
SELECT is(t.sig(t.id(28), t.wp(54), 'a', idem => 'once')->>'status', 'OK', '27. same key on another waitpoint accepted');
SELECT t.at(1000000002000 + 86400000);
SELECT is(t.sig(t.id(27), t.wp(53), 'b', idem => 'once')->>'effect', 'appended_to_waitpoint', '27. after dedup_ttl accepted again');
SELECT t.at(1000000002000);
SELECT t.new(29);
SELECT t.sus(t.id(29), t.wp(55));
SELECT t.sig(t.id(29), t.wp(55), 'go', idem => 'r');
SELECT is(t.sig(t.id(29), t.wp(55), 'go', idem => 'r')->>'error', 'target_not_signalable', '28. retry of the resuming signal -> target_not_signalable');

-- 29. signal limit across buffered and delivered, across waitpoints
SELECT t.new(30);
SELECT t.pend(t.id(30), t.wp(56));
SELECT t.buf(t.id(30), t.wp(56), 'x', maxs => 3);
SELECT t.sus(t.id(30), t.wp(57), t.byname('never'));
SELECT t.sig(t.id(30), t.wp(57), 'a', maxs => 3);
SELECT t.sig(t.id(30), t.wp(57), 'b', maxs => 3);
SELECT is(t.sig(t.id(30), t.wp(57), 'c', maxs => 3)->>'error', 'signal_limit_exceeded', '29. the 4th -> signal_limit_exceeded');
SELECT is(t.sig(t.id(30), t.wp(57), 'c', maxs => 0)->>'effect', 'no_op', '29. 0 = the setting ff_engine.max_signals_per_execution (10 000)');
-- 29 / 72. the cap at the admin setting itself, lowered to 5 for the test:
-- the 5th signal lands, the 6th is refused whatever the call asks (NULL
-- and 0 mean the setting; a larger argument is clamped to it)
SELECT set_config('ff_engine.max_signals_per_execution', '5', true);
SELECT t.new(120);
SELECT t.sus(t.id(120), t.wp(300), t.byname('never'));
SELECT is(array_agg(t.sig(t.id(120), t.wp(300), 's' || g, maxs => NULL)->>'effect' ORDER BY g), array_fill('no_op'::text, ARRAY[5]),
          '29. with the setting at 5: signals 1-5 land') FROM generate_series(1, 5) g;
SELECT is(t.sig(t.id(120), t.wp(300), 's6', maxs => NULL)->>'error', 'signal_limit_exceeded', '29. the 6th -> signal_limit_exceeded (the setting)');
SELECT is(t.sig(t.id(120), t.wp(300), 's6', maxs => 0)->>'error', 'signal_limit_exceeded', '29. 0 = the setting: refused');
SELECT is(t.sig(t.id(120), t.wp(300), 's6', maxs => 100)->>'error', 'signal_limit_exceeded', '29. an argument above the setting is clamped to it');
SELECT is((SELECT count(*)::int FROM ff.signal WHERE execution_id = t.exec_uuid(t.id(120))), 5, '72. exactly at the limit in force, never over it');
SELECT set_config('ff_engine.max_signals_per_execution', '10000', true);
SELECT is(t.sig(t.id(120), t.wp(300), 's6', maxs => NULL)->>'effect', 'no_op', '29. the setting raised again: the 6th lands');

-- 30-32. not signalable
SELECT t.new(31);
SELECT t.sus(t.id(31), t.wp(58));
SELECT ff.read_waitpoint_token(t.id(31), t.wp(58)) AS tok31 \gset
SELECT ff.cancel_execution(t.id(31), 'stop', 'operator_override');
SELECT is(ff.deliver_signal(t.id(31), t.wp(58), gen_random_uuid(), 'x', :'tok31')->>'error', 'target_not_signalable', '30. terminal -> target_not_signalable');
SELECT t.new(32);
SELECT t.pend(t.id(32), t.wp(59));
SELECT is(t.sig(t.id(32), t.wp(59), 'x')->>'error', 'waitpoint_pending_use_buffer_script', '31. pending waitpoint of a running execution');
SELECT t.claim(t.id(29));
SELECT is(t.sig(t.id(29), t.wp(55), 'again')->>'error', 'target_not_signalable', '32. closed waitpoint after resume and claim');

-- 33. stale waitpoint of an earlier suspension
SELECT t.new(33);
SELECT t.sus(t.id(33), t.wp(60), t.byname('x'));
SELECT ff.resume_execution(t.id(33));
SELECT t.claim(t.id(33));
SELECT t.sus(t.id(33), t.wp(61), t.byname('x'));
SELECT is(t.sig(t.id(33), t.wp(60), 'x')->>'error', 'waitpoint_closed', '33. signal to W1 -> waitpoint_closed');
SELECT is((t.row(t.id(33))).current_waitpoint_id, t.wp(61), '33. still suspended on W2');

-- 34. cross-execution token
SELECT t.new(34);
SELECT t.sus(t.id(34), t.wp(62));
SELECT t.row(t.id(33)) AS b34 \gset
SELECT is(ff.deliver_signal(t.id(33), t.wp(62), gen_random_uuid(), 'x', ff.read_waitpoint_token(t.id(34), t.wp(62)))->>'error',
          'invalid_waitpoint_for_execution', '34. W of E1 presented with E2');
SELECT is(t.row(t.id(33)), :'b34'::ff.executions, '34. E2 unchanged');

-- 35. payload bytes exactly; over 64 KiB is misuse
SELECT t.new(35);
SELECT t.sus(t.id(35), t.wp(63));
SELECT t.sig(t.id(35), t.wp(63), 'p', payload => '\x00ff80c3'::bytea);
SELECT is((SELECT payload FROM ff.observe_signals(t.id(35), 0)), '\x00ff80c3'::bytea, '35. NUL and invalid UTF-8 returned byte-exactly');
SELECT throws_ok($$SELECT t.sig(t.id(34), t.wp(62), 'p', payload => convert_to(repeat('x', 65537), 'UTF8'))$$, '54000', 'payload_too_large',
                 '35. 65 537 bytes -> 54000');
SELECT throws_ok($$SELECT t.sig(t.id(34), t.wp(62), '__operator_only__')$$, '22023', NULL, 'names beginning with __ are refused (behaviour/suspension §C.1)');

-- 36. effect recorded = effect returned; one event per accepted delivery
SELECT is((SELECT count(*)::int FROM ff.signal g WHERE g.observed_effect <> 'buffered_for_pending_waitpoint'
           AND NOT EXISTS (SELECT 1 FROM ff.signal_event v WHERE v.signal_id = g.signal_id AND v.effect = g.observed_effect)
           AND g.waitpoint_id NOT IN (t.wp(40), t.wp(41), t.wp(42))), 0, '36. every delivered signal has exactly its event (replayed buffered ones have none)');
SELECT is((SELECT count(*)::int FROM ff.signal_event v WHERE NOT EXISTS (SELECT 1 FROM ff.signal g WHERE g.signal_id = v.signal_id)), 0,
          '36. no event without a signal');
SELECT is((SELECT count(*)::int FROM ff.signal_event GROUP BY signal_id ORDER BY 1 DESC LIMIT 1), 1, '36. at most one event per signal');
SELECT is((SELECT namespace || '/' || instance_tag FROM ff.signal_event WHERE execution_id = t.exec_uuid(t.id(1)) LIMIT 1), NULL,
          'no event for an execution never signalled');

-- 37. buffer on an active waitpoint is a full delivery
SELECT is(t.buf(t.id(1), t.wp(1), 'approve')->>'effect', 'resume_condition_satisfied', '37. buffer on an active waitpoint delivers');
SELECT is((SELECT instance_tag FROM ff.signal_event WHERE execution_id = t.exec_uuid(t.id(1))), 'i-7', 'events carry the instance tag');
SELECT t.invariants('signals');

-- 38-41. tokens
SELECT t.new(38);
SELECT t.sus(t.id(38), t.wp(70)) AS s38 \gset
SELECT t.new(39);
SELECT t.sus(t.id(39), t.wp(71));
SELECT t.snapshot() AS snap38 \gset
SELECT is(array_agg(ff.deliver_signal(t.id(38), t.wp(70), gen_random_uuid(), 'x', tok)->>'error' ORDER BY n),
          ARRAY['missing_token', 'invalid_token', 'invalid_token', 'invalid_token', 'invalid_token', 'invalid_token',
                'invalid_token', 'invalid_token', 'invalid_token', 'invalid_token'], '38. every malformed or wrong token')
FROM (VALUES (1, ''), (2, 'k1'), (3, ':' || repeat('a', 40)), (4, 'k1:'), (5, 'k1:' || repeat('a', 39)), (6, 'k1:' || repeat('a', 41)),
             (7, 'k1:' || translate(split_part(:'s38'::jsonb->>'waitpoint_token', ':', 2), '0123456789abcdef', '123456789abcdef0')),
             (8, upper(:'s38'::jsonb->>'waitpoint_token')), (9, 'k9:' || split_part(:'s38'::jsonb->>'waitpoint_token', ':', 2)),
             (10, ff.read_waitpoint_token(t.id(39), t.wp(71)))) v(n, tok);
SELECT is((t.row(t.id(38))).last_hmac_validation_failed_at, 1000000002000::bigint, '39. failures stamp the execution');
SELECT is((SELECT count(*)::int FROM ff.signal WHERE execution_id = t.exec_uuid(t.id(38))) + (SELECT count(*)::int FROM ff.signal_event WHERE execution_id = t.exec_uuid(t.id(38))),
          0, '39. and write nothing else');
SELECT is(ff.deliver_signal(t.id(38), t.wp(79), gen_random_uuid(), 'x', :'s38'::jsonb->>'waitpoint_token')->>'error', 'invalid_token',
          '40. unknown waitpoint -> invalid_token');
UPDATE ff.execution SET last_hmac_validation_failed_at = NULL WHERE execution_id = t.exec_uuid(t.id(38));
SELECT ff.deliver_signal(t.id(38), t.wp(79), gen_random_uuid(), 'x', :'s38'::jsonb->>'waitpoint_token');
SELECT is((t.row(t.id(38))).last_hmac_validation_failed_at, NULL, '40. no stamp for an unknown waitpoint');
SELECT t.new(40);
SELECT t.sus(t.id(40), t.wp(72), t.composite('{"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "a"}, {"kind": "Single", "waitpoint_key": "b"}]}'),
             key => 'a', extra_ids => ARRAY[t.wp(73)], extra_keys => ARRAY['b']) AS s40 \gset
SELECT is(ff.deliver_signal(t.id(40), t.wp(73), gen_random_uuid(), 'x', :'s40'::jsonb->>'waitpoint_token')->>'error', 'invalid_token',
          '41. A''s token for B of the same execution');

-- 47. the behaviour/suspension §5.9 vectors through the primitive and through minting
SELECT is(ff._hmac_sha1_hex(decode(repeat('0b', 20), 'hex'), 'Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00', '47. RFC 2202 #1');
SELECT is(ff._hmac_sha1_hex(decode(repeat('ab', 80), 'hex'), '550e8400-e29b-41d4-a716-446655440000|approval|1700000000123'),
          '5c2227f132750cc6a994843d64ba4b0ac0ab4b34', '47. an 80-byte key is hashed first');
SELECT ff.rotate_waitpoint_hmac_secret('kv', '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 0);
SELECT t.at(1700000000000);
SELECT ff.create_execution('{fp:0}:00000000-0000-4000-8000-000000000470');
SELECT t.claim('{fp:0}:00000000-0000-4000-8000-000000000470');
SELECT is(t.sus('{fp:0}:00000000-0000-4000-8000-000000000470', '550e8400-e29b-41d4-a716-446655440000')->>'waitpoint_token',
          'kv:5acf9d65cdda012c0a7de2fbd99cf504a64e9a8d', '47. the vector through suspend');
SELECT ff.create_execution('{fp:0}:00000000-0000-4000-8000-000000000471');
SELECT t.claim('{fp:0}:00000000-0000-4000-8000-000000000471');
UPDATE ff.waitpoint SET waitpoint_id = gen_random_uuid() WHERE waitpoint_id = '550e8400-e29b-41d4-a716-446655440000';
UPDATE ff.suspension SET primary_waitpoint_id = (SELECT waitpoint_id FROM ff.waitpoint WHERE execution_id = t.exec_uuid('{fp:0}:00000000-0000-4000-8000-000000000470'))
 WHERE execution_id = t.exec_uuid('{fp:0}:00000000-0000-4000-8000-000000000470');
UPDATE ff.execution SET current_waitpoint_id = (SELECT waitpoint_id FROM ff.waitpoint WHERE execution_id = t.exec_uuid('{fp:0}:00000000-0000-4000-8000-000000000470'))
 WHERE execution_id = t.exec_uuid('{fp:0}:00000000-0000-4000-8000-000000000470');
SELECT throws_ok($$SELECT t.pend('{fp:0}:00000000-0000-4000-8000-000000000471', '550e8400-e29b-41d4-a716-446655440000', key => E'a\tb')$$,
                 '22023', NULL, 'keys with control characters are misuse');
SELECT t.at(1000000002000);

-- 42-45. rotation (secrets are 32 bytes: t.secret(x) repeats the hex byte x 32 times)
CREATE FUNCTION t.secret(x text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT repeat(x, 32) $$;
DELETE FROM ff.waitpoint_hmac_key;
SELECT is(ff.seed_waitpoint_hmac_secret('k1', t.secret('aa')), '{"ok": true, "kid": "k1", "status": "OK", "result": "seeded"}', 'seed an empty keystore');
SELECT is(ff.seed_waitpoint_hmac_secret('k1', t.secret('AA')), '{"ok": true, "kid": "k1", "status": "OK", "result": "already_seeded", "same_secret": true}',
          'seeding again is idempotent (bytes compared)');
SELECT is(ff.seed_waitpoint_hmac_secret('k0', t.secret('aa'))->>'error', 'invalid_input', 'seeding another kid -> invalid_input');
SELECT t.new(42);
SELECT t.sus(t.id(42), t.wp(80), t.byname('x')) AS k1tok \gset
SELECT is(ff.rotate_waitpoint_hmac_secret('k2', t.secret('bb'), 60000) - 'status', '{"ok": true, "result": "rotated", "new_kid": "k2", "gc_count": 0, "previous_kid": "k1"}',
          '42. rotate k1 -> k2');
SELECT t.new(43);
SELECT ok((t.sus(t.id(43), t.wp(81), t.byname('x'))->>'waitpoint_token') LIKE 'k2:%', '42. new waitpoints get k2 tokens');
-- a token verifies only under the kid its waitpoint was minted with: during the
-- grace both kids verify, but a correct MAC under the other one opens nothing
CREATE FUNCTION t.mac(kid text, wp uuid) RETURNS text LANGUAGE sql AS $$
    SELECT k.kid || ':' || ff._hmac_sha1_hex(k.secret, convert_to(w.waitpoint_id || '|' || w.waitpoint_key || '|' || w.created_at, 'UTF8'))
    FROM ff.waitpoint_hmac_key k, ff.waitpoint w WHERE k.kid = $1 AND w.waitpoint_id = $2
$$;
SELECT is(t.mac('k1', t.wp(80)), :'k1tok'::jsonb->>'waitpoint_token', 'kid binding: t.mac computes the minted token');
SELECT is(t.mac('k2', t.wp(81)), ff.read_waitpoint_token(t.id(43), t.wp(81)), 'kid binding: and the k2 one');
SELECT is(ff.deliver_signal(t.id(42), t.wp(80), gen_random_uuid(), 'y', t.mac('k2', t.wp(80)))->>'error', 'invalid_token',
          'kid binding: a MAC under the new kid does not open a waitpoint minted under the old one');
SELECT is(ff.deliver_signal(t.id(43), t.wp(81), gen_random_uuid(), 'y', t.mac('k1', t.wp(81)))->>'error', 'invalid_token',
          'kid binding: nor a MAC under the old kid (in grace) one minted under the new one');
SELECT is(ff.buffer_signal_for_pending_waitpoint(t.id(43), t.wp(81), gen_random_uuid(), 'y', t.mac('k1', t.wp(81)))->>'error', 'invalid_token',
          'kid binding: buffer_signal_for_pending_waitpoint too');
SELECT is((SELECT count(*)::int FROM ff.signal WHERE waitpoint_id IN (t.wp(80), t.wp(81))), 0, 'kid binding: no signal recorded');
SELECT t.at(1000000002000 + 60000);
SELECT is(ff.deliver_signal(t.id(42), t.wp(80), gen_random_uuid(), 'y', :'k1tok'::jsonb->>'waitpoint_token')->>'effect', 'no_op',
          '44. k1 verifies at now = its expiry');
SELECT t.at(1000000002000 + 60001);
SELECT is(ff.deliver_signal(t.id(42), t.wp(80), gen_random_uuid(), 'y', :'k1tok'::jsonb->>'waitpoint_token')->>'error', 'token_expired',
          '42/44. k1 after its grace -> token_expired');
SELECT is(ff.list_waitpoint_hmac_kids(), '{"ok": true, "kids": [], "status": "OK", "current_kid": "k2"}', 'list kids omits expired ones');
SELECT t.at(1000000002000 + 60000);
SELECT is(ff.rotate_waitpoint_hmac_secret('k3', t.secret('cc'), 1000)->>'gc_count', '0', '44. rotation at now = T keeps k1');
SELECT is(ff.list_waitpoint_hmac_kids()->'kids', '[{"kid": "k1", "expires_at": 1000000062000}, {"kid": "k2", "expires_at": 1000000063000}]',
          '43. every kid in grace is listed');
SELECT t.new(44);
SELECT t.sus(t.id(44), t.wp(82), t.byname('x')) AS k3tok \gset
SELECT is(t.sig(t.id(43), t.wp(81), 'y')->>'effect', 'no_op', '43. k2 tokens verify inside their grace');
SELECT is(t.sig(t.id(44), t.wp(82), 'y')->>'effect', 'no_op', '43. k3 tokens verify');
SELECT is(ff.deliver_signal(t.id(42), t.wp(80), gen_random_uuid(), 'y', :'k1tok'::jsonb->>'waitpoint_token')->>'effect', 'no_op',
          '43. k1 still verifies after k2 -> k3');
SELECT t.at(1000000002000 + 60001);
SELECT is(ff.rotate_waitpoint_hmac_secret('k4', t.secret('dd'), 1000)->>'gc_count', '1', '44. rotation at T+1 collects k1');
SELECT is(ff.deliver_signal(t.id(42), t.wp(80), gen_random_uuid(), 'y', :'k1tok'::jsonb->>'waitpoint_token')->>'error', 'invalid_token',
          '42. a collected kid -> invalid_token');
SELECT is(array_agg(ff.rotate_waitpoint_hmac_secret(k, s, g)->>'error' ORDER BY n),
          ARRAY['invalid_kid', 'invalid_kid', 'invalid_secret_hex', 'invalid_secret_hex', 'invalid_secret_hex', 'invalid_grace_ms',
                'invalid_grace_ms', 'invalid_grace_ms', 'rotation_conflict', 'rotation_conflict'], '45. rotation input checks')
FROM (VALUES (1, '', t.secret('aa'), 0::numeric), (2, 'a:b', t.secret('aa'), 0), (3, 'k9', '', 0), (4, 'k9', 'abc', 0), (5, 'k9', 'zz', 0),
             (6, 'k9', t.secret('aa'), -1), (7, 'k9', t.secret('aa'), 1.5), (8, 'k9', t.secret('aa'), 9007199254740992), (9, 'k4', t.secret('ee'), 0),
             (10, 'k3', t.secret('ee'), 0)) v(n, k, s, g);
SELECT is(ff.rotate_waitpoint_hmac_secret('k4', t.secret('DD'), 0) - 'status', '{"ok": true, "kid": "k4", "result": "noop"}', '45. same kid, same secret -> noop');
SELECT is(ff.rotate_waitpoint_hmac_secret('k4', t.secret('de'), 0)->>'error', 'rotation_conflict', '45. same kid, other secret -> rotation_conflict');
-- a secret under 32 bytes is misuse (every MAC input is public): nothing written
SELECT (SELECT string_agg(k::text, ',' ORDER BY k.kid) FROM ff.waitpoint_hmac_key k) AS keys45 \gset
SELECT throws_ok($$SELECT ff.rotate_waitpoint_hmac_secret('k9', repeat('ab', 31), 0)$$, '22023', NULL, 'rotate: a 31-byte secret is refused');
SELECT throws_ok($$SELECT ff.rotate_waitpoint_hmac_secret('k9', 'ab', 0)$$, '22023', NULL, 'rotate: a 1-byte secret is refused');
SELECT throws_ok($$SELECT ff.rotate_waitpoint_hmac_secret('k4', 'dd', 0)$$, '22023', NULL, 'rotate: even as a same-kid noop');
SELECT throws_ok($$SELECT ff.seed_waitpoint_hmac_secret('k4', 'dd')$$, '22023', NULL, 'seed: a 1-byte secret is refused');
SELECT is((SELECT string_agg(k::text, ',' ORDER BY k.kid) FROM ff.waitpoint_hmac_key k), :'keys45', 'short secrets: the keystore is unchanged');
CREATE TABLE t.keys45 AS SELECT * FROM ff.waitpoint_hmac_key;
DELETE FROM ff.waitpoint_hmac_key;
SELECT throws_ok($$SELECT ff.seed_waitpoint_hmac_secret('k1', repeat('ab', 31))$$, '22023', NULL, 'seed: a 31-byte secret is refused on an empty keystore');
SELECT is((SELECT count(*)::int FROM ff.waitpoint_hmac_key), 0, 'short secrets: nothing seeded');
INSERT INTO ff.waitpoint_hmac_key SELECT * FROM t.keys45;

-- 46. empty keystore / unusable secret: nothing written
SELECT t.new(46);
SELECT t.pend(t.id(46), t.wp(84));
CREATE TABLE t.saved_keys AS SELECT * FROM ff.waitpoint_hmac_key;
DELETE FROM ff.waitpoint_hmac_key;
SELECT t.snapshot() AS snap46 \gset
SELECT is(t.sus(t.id(46), t.wp(83))->>'error', 'hmac_secret_not_initialized', '46. suspend with an empty keystore');
SELECT is(t.pend(t.id(46), t.wp(83))->>'error', 'hmac_secret_not_initialized', '46. create_pending with an empty keystore');
SELECT is(t.snapshot(), :'snap46', '46. nothing written');
SELECT is(t.buf(t.id(46), t.wp(84), 'x')->>'error', 'hmac_secret_not_initialized', '46. verification with an empty keystore');
INSERT INTO ff.waitpoint_hmac_key VALUES ('kbad', '', true, NULL, 1);
SELECT is(t.sus(t.id(46), t.wp(83))->>'error', 'invalid_secret', '46. an unusable stored secret -> invalid_secret');
DELETE FROM ff.waitpoint_hmac_key;
INSERT INTO ff.waitpoint_hmac_key SELECT * FROM t.saved_keys;
SELECT t.at(1000000002000);

-- 48. AllOf of two singles
SELECT t.new(48);
SELECT t.sus(t.id(48), t.wp(90), t.composite('{"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "A", "matcher": {"kind": "Wildcard"}},
                                                {"kind": "Single", "waitpoint_key": "B", "matcher": null}]}'),
             key => 'A', extra_ids => ARRAY[t.wp(91)], extra_keys => ARRAY['B']);
SELECT is(t.sig(t.id(48), t.wp(90), 'a1')->>'effect', 'appended_to_waitpoint', '48. A -> appended');
SELECT is(t.sig(t.id(48), t.wp(90), 'a2')->>'effect', 'appended_to_waitpoint_duplicate', '48. A again -> duplicate');
SELECT is(t.sig(t.id(48), t.wp(91), 'b1')->>'effect', 'resume_condition_satisfied', '48. B -> satisfied');
SELECT is((SELECT array_agg(state || '/' || cond_closed_reason ORDER BY waitpoint_id) FROM ff.waitpoint WHERE execution_id = t.exec_uuid(t.id(48))),
          ARRAY['closed/satisfied', 'closed/satisfied'], '48. both waitpoints and conditions closed');
SELECT t.claim(t.id(48));
SELECT is((SELECT array_agg(signal_name ORDER BY signal_name) FROM ff.observe_signals(t.id(48), 0)), ARRAY['a1', 'b1'], '48. observe_signals: both satisfiers');
SELECT is((t.s(t.id(48))).closer_signal_id, (SELECT signal_id FROM ff.signal WHERE signal_name = 'b1'), '48. the closer is recorded');
SELECT is((SELECT count(*)::int FROM ff.suspension_token WHERE execution_id = t.exec_uuid(t.id(48))), 0, '48. composite state cleaned');

-- 49. Count DistinctSignals
SELECT t.new(49);
SELECT t.sus(t.id(49), t.wp(92), t.composite('{"kind": "Count", "n": 2, "count_kind": "DistinctSignals", "waitpoints": ["k"]}'), key => 'k');
SELECT t.sig(t.id(49), t.wp(92), 's', sid => t.wp(1000));
SELECT throws_ok($$SELECT t.sig(t.id(49), t.wp(92), 's', sid => t.wp(1000))$$, '23505', NULL, '49. the same signal id twice is refused');
SELECT is((t.row(t.id(49))).public_state::text, 'suspended', '49. and counts once');
SELECT is(t.sig(t.id(49), t.wp(92), 's')->>'effect', 'resume_condition_satisfied', '49. a second signal resumes');

-- 50. Count DistinctSources
SELECT t.new(50);
SELECT t.sus(t.id(50), t.wp(93), t.composite('{"kind": "Count", "n": 2, "count_kind": "DistinctSources", "waitpoints": ["k"]}'), key => 'k');
SELECT t.sig(t.id(50), t.wp(93), 'v', 'user', 'alice');
SELECT is(t.sig(t.id(50), t.wp(93), 'v', 'user', 'alice')->>'effect', 'appended_to_waitpoint_duplicate', '50. same source twice: no progress');
SELECT is(t.sig(t.id(50), t.wp(93), 'v', 'user', 'bob')->>'effect', 'resume_condition_satisfied', '50. a second source resumes');

-- 51. Count DistinctWaitpoints
SELECT t.new(51);
SELECT t.sus(t.id(51), t.wp(94), t.composite('{"kind": "Count", "n": 2, "waitpoints": ["a", "b", "c"]}'), key => 'a',
             extra_ids => ARRAY[t.wp(95), t.wp(96)], extra_keys => ARRAY['b', 'c']);
SELECT t.sig(t.id(51), t.wp(94), 'x');
SELECT is(t.sig(t.id(51), t.wp(94), 'y')->>'effect', 'appended_to_waitpoint_duplicate', '51. a, a -> not resumed');
SELECT is(t.sig(t.id(51), t.wp(96), 'z')->>'effect', 'resume_condition_satisfied', '51. then c -> resumed');
SELECT is((SELECT count(*)::int FROM ff.waitpoint WHERE execution_id = t.exec_uuid(t.id(51)) AND state = 'closed'), 3,
          '51. every waitpoint closed, including the one never signalled (behaviour/suspension §C.6)');

-- 52-53. ignored signals
SELECT t.new(52);
SELECT throws_ok($$SELECT t.sus(t.id(52), t.wp(97), t.composite('{"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "k"}]}'), key => 'k',
                 extra_ids => ARRAY[t.wp(98)], extra_keys => ARRAY['unref'])$$, '22023',
                 'invalid suspension: extra_binding_not_referenced_by_condition: unref', '53. an unreferenced extra binding is misuse');
SELECT t.sus(t.id(52), t.wp(97), t.composite('{"kind": "AllOf", "members": [{"kind": "Count", "n": 1, "waitpoints": ["k"], "matcher": {"kind": "ByName", "name": "ok"}},
                                              {"kind": "NeverBySignal"}]}'), key => 'k');
SELECT is(t.sig(t.id(52), t.wp(97), 'no')->>'effect', 'signal_ignored_matcher_failed', '52. ByName mismatch -> signal_ignored_matcher_failed');
SELECT is((SELECT count(*)::int FROM ff.signal WHERE execution_id = t.exec_uuid(t.id(52))), 1, '52. recorded and counted');
SELECT is(t.sig(t.id(52), t.wp(97), 'ok')->>'effect', 'appended_to_waitpoint', '52. NeverBySignal keeps it suspended');
UPDATE ff.waitpoint SET waitpoint_key = 'elsewhere' WHERE waitpoint_id = t.wp(97);
UPDATE ff.waitpoint SET token = (SELECT k.kid || ':' || ff._hmac_sha1_hex(k.secret, convert_to(t.wp(97) || '|elsewhere|' || w.created_at, 'UTF8'))
                                 FROM ff.waitpoint_hmac_key k, ff.waitpoint w WHERE k.is_current AND w.waitpoint_id = t.wp(97))
 WHERE waitpoint_id = t.wp(97);
SELECT is(t.sig(t.id(52), t.wp(97), 'ok')->>'effect', 'signal_ignored_not_in_condition', '53. a key no node references');

-- 54. nested AllOf with a Count (fixed), and sibling Counts do not share progress
SELECT t.new(54);
SELECT t.sus(t.id(54), t.wp(110), t.composite('{"kind": "AllOf", "members": [{"kind": "AllOf", "members": [{"kind": "Count", "n": 1, "waitpoints": ["a"]}]},
                                               {"kind": "Single", "waitpoint_key": "b"}]}'),
             key => 'a', extra_ids => ARRAY[t.wp(111)], extra_keys => ARRAY['b']);
SELECT t.sig(t.id(54), t.wp(110), 'x');
SELECT is(t.sig(t.id(54), t.wp(111), 'y')->>'effect', 'resume_condition_satisfied', '54. AllOf[AllOf[Count[a]], Single(b)] resumes');
SELECT t.new(55);
SELECT t.sus(t.id(55), t.wp(112), t.composite('{"kind": "AllOf", "members": [{"kind": "Count", "n": 2, "count_kind": "DistinctSignals", "waitpoints": ["a"]},
                                               {"kind": "Count", "n": 2, "count_kind": "DistinctSignals", "waitpoints": ["b"]}]}'),
             key => 'a', extra_ids => ARRAY[t.wp(113)], extra_keys => ARRAY['b']);
SELECT t.sig(t.id(55), t.wp(112), 'x');
SELECT t.sig(t.id(55), t.wp(112), 'x');
SELECT is(t.sig(t.id(55), t.wp(113), 'y')->>'effect', 'appended_to_waitpoint', '54. two on a and one on b: the b node has its own count');
SELECT is(t.sig(t.id(55), t.wp(113), 'y')->>'effect', 'resume_condition_satisfied', '54. the second on b resumes');
SELECT t.invariants('composite');

-- 55. operator resume
SELECT t.new(56);
SELECT t.sus(t.id(56), t.wp(120), t.byname('x'));
SELECT is(ff.resume_execution(t.id(56)), '{"ok": true, "status": "OK", "public_state": "waiting"}', '55. resume -> waiting');
SELECT is(((t.w(t.wp(120))).cond_closed, (t.w(t.wp(120))).cond_closed_reason)::text, '(t,resumed)', '55. primary condition closed (Required)');
SELECT is(ff.resume_execution(t.id(56))->>'error', 'execution_not_suspended', '55. on a runnable execution');
SELECT t.claim(t.id(56));
SELECT t.sus(t.id(56), t.wp(121));
SELECT is(ff.resume_execution(t.id(56), resume_delay_ms => 100)->>'public_state', 'delayed', '55. with a delay -> delayed');
SELECT is(ff.resume_execution(t.id(99))->>'error', 'execution_not_found', 'resume of a missing execution');

-- 56-58. timeouts
SELECT t.new(57);
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at) VALUES (0, t.exec_uuid(t.id(57)), 0, 1);
SELECT t.sus(t.id(57), t.wp(130), timeout_at => 1000000010000, behavior => 'fail');
SELECT t.new(58);
SELECT t.sus(t.id(58), t.wp(131), timeout_at => 1000000010000, behavior => 'cancel');
SELECT t.new(59);
SELECT t.sus(t.id(59), t.wp(132), timeout_at => 1000000010000, behavior => 'expire');
SELECT t.new(60);
SELECT t.sus(t.id(60), t.wp(133), timeout_at => 1000000010000, behavior => 'auto_resume_with_timeout_signal');
SELECT t.new(61);
SELECT t.sus(t.id(61), t.wp(134), t.byname('go'), timeout_at => 1000000010000, behavior => 'escalate');
-- 60. before the timeout nothing happens
SELECT is(ff.scan_suspension_timeouts()->>'processed', '0', '60. scan before timeout_at -> nothing');
SELECT is(ff.expire_suspension(t.id(57))->>'result', 'not_yet_due', '60. not_yet_due');
SELECT is(ff.expire_suspension(t.id(5))->>'result', 'not_suspended_cleaned', '60. runnable -> not_suspended_cleaned');
SELECT is(ff.expire_suspension(t.id(98))->>'result', 'not_found_cleaned', '60. missing -> not_found_cleaned');
SELECT t.at(1000000010000);
SELECT is(ff.scan_suspension_timeouts()->>'processed', '5', 'one scan handles every due suspension');
SELECT is(ARRAY[e.public_state::text, e.failure_reason, e.terminal_outcome::text], ARRAY['failed', 'suspension_timeout:fail', 'failed'],
          '56. fail -> terminal failed') FROM t.row(t.id(57)) e;
SELECT is((SELECT attempt_state::text FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(57))), 'ended_failure', '56. attempt ended_failure');
SELECT is((SELECT closed_reason FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(57))), 'suspension_timeout', '56. stream closed');
SELECT is(((t.w(t.wp(130))).close_reason, (t.w(t.wp(130))).cond_closed_reason, (t.s(t.id(57))).close_reason)::text,
          '(timed_out_fail,timed_out_fail,timed_out_fail)', '56. all closed timed_out_fail');
SELECT is((SELECT outcome::text FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.id(57))), 'failed', '56. completion event');
SELECT is((t.row(t.id(57))).purge_after IS NOT NULL, true, '56. in TERMINAL (retention clock)');
SELECT is(ARRAY[e.public_state::text, e.cancellation_reason, e.cancelled_by], ARRAY['cancelled', 'suspension_timeout', 'system_timeout_policy'],
          '57. cancel -> cancelled with reason (Required)') FROM t.row(t.id(58)) e;
SELECT is((SELECT attempt_state::text FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(58))), 'ended_cancelled', '57. attempt ended_cancelled');
SELECT is((t.row(t.id(59))).public_state::text, 'expired', '57. expire -> expired');
SELECT is((SELECT attempt_state::text FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(59))), 'ended_failure', '57. attempt ended_failure');
SELECT is(t.vec(t.id(60)), ARRAY['runnable', 'unowned', 'eligible_now', 'waiting_for_worker', 'attempt_interrupted', 'waiting'], '58. auto_resume -> waiting');
SELECT is(((t.s(t.id(60))).close_reason, (t.s(t.id(60))).satisfied_at)::text, '(timed_out_auto_resume,)', '58. closed timed_out_auto_resume');
SELECT t.claim(t.id(60));
SELECT is((SELECT count(*)::int FROM ff.observe_signals(t.id(60), 0)), 0, '58. observe_signals after the resumed claim -> []');
SELECT is(ARRAY[e.public_state::text, e.blocking_reason::text, e.blocking_detail], ARRAY['suspended', 'paused_by_operator', 'suspension escalated: timeout at 1000000010000'],
          '59. escalate -> still suspended, paused_by_operator') FROM t.row(t.id(61)) e;
SELECT is(((t.s(t.id(61))).reason_code, (t.s(t.id(61))).timeout_at)::text, '(waiting_for_operator_review,)', '59. review, no timeout');
SELECT is(ff.scan_suspension_timeouts()->>'processed', '0', '59. a second scan does nothing');
SELECT is(t.sig(t.id(61), t.wp(134), 'go')->>'effect', 'resume_condition_satisfied', '59. a matching signal still resumes it');
SELECT t.invariants('timeouts');

-- 62. cancel of a suspended execution; pending waitpoints close too
SELECT t.new(62);
SELECT t.pend(t.id(62), t.wp(140));
SELECT t.sus(t.id(62), t.wp(141), t.composite('{"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "a"}, {"kind": "Single", "waitpoint_key": "b"}]}'),
             key => 'a', extra_ids => ARRAY[t.wp(142)], extra_keys => ARRAY['b'], timeout_at => 1000000090000);
SELECT t.sig(t.id(62), t.wp(141), 'one');
SELECT ff.read_waitpoint_token(t.id(62), t.wp(142)) AS tok62 \gset
SELECT is(ff.cancel_execution(t.id(62), 'no longer needed', 'operator_override')->>'result', 'cancelled', '62. cancel');
SELECT is((SELECT attempt_state::text || '/' || failure_reason FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(62))),
          'ended_cancelled/cancelled: no longer needed', '62. attempt ended_cancelled');
SELECT is((SELECT array_agg(waitpoint_id::text || '=' || state || '/' || close_reason ORDER BY waitpoint_id) FROM ff.waitpoint WHERE execution_id = t.exec_uuid(t.id(62))),
          ARRAY[t.wp(140) || '=closed/cancelled', t.wp(141) || '=closed/cancelled', t.wp(142) || '=closed/cancelled'],
          '62. primary, extra and pending waitpoints closed cancelled');
SELECT is(((t.s(t.id(62))).close_reason), 'cancelled', '62. suspension closed cancelled');
SELECT is((SELECT count(*)::int FROM ff.suspension_token WHERE execution_id = t.exec_uuid(t.id(62))), 0, '62. composite state cleaned');
SELECT is(ff.deliver_signal(t.id(62), t.wp(142), gen_random_uuid(), 'x', :'tok62')->>'error', 'target_not_signalable', '62. later signal -> target_not_signalable');

-- replay of an execution that ended while suspended (behaviour/execution §3.22): nothing of the suspension is reset
SELECT is(ff.replay_execution(t.id(31))->>'status', 'OK', 'replay of an execution cancelled while suspended');
SELECT is(((t.s(t.id(31))).close_reason, (t.w(t.wp(58))).state)::text, '(cancelled,closed)', 'its suspension and waitpoint stay closed');
SELECT t.claim(t.id(31));
SELECT is(t.sus(t.id(31), t.wp(200))->>'status', 'OK', 'the replay attempt suspends afresh');
SELECT is((t.s(t.id(31))).attempt_index, 1, 'the new suspension belongs to the replay attempt');

-- 63. execution deadline while suspended
SELECT t.new(63);
SELECT t.sus(t.id(63), t.wp(143));
UPDATE ff.execution SET execution_deadline_at = 1000000010000 WHERE execution_id = t.exec_uuid(t.id(63));
SELECT is(ff.scan_execution_deadlines()->>'processed', '1', '63. the deadline scanner takes it');
SELECT is((t.row(t.id(63))).public_state::text, 'expired', '63. expired');
SELECT is(((t.s(t.id(63))).close_reason, (t.w(t.wp(143))).state, (t.w(t.wp(143))).cond_closed_reason)::text,
          '(expired:execution_deadline,closed,expired:execution_deadline)', '63. suspension, waitpoint, condition closed (Required)');
SELECT t.invariants('cancel and expire');

-- 64. resumed claim
SELECT t.new(64);
SELECT t.row(t.id(64)) AS b64 \gset
SELECT t.sus(t.id(64), t.wp(150));
SELECT t.sig(t.id(64), t.wp(150), 'go');
SELECT is(ff.issue_claim_grant(t.id(64), 'w2', 'w2-1', 'default')->>'status', 'OK', '64. grant');
SELECT is(ff.claim_execution(t.id(64), 'w2', 'w2-1', 'default')->>'error', 'use_claim_resumed_execution', '64. claim_execution refused');
SELECT is(ff.claim_resumed_execution(t.id(64), 'w2', 'w2-1', 'default')->>'status', 'OK', '64. claim_resumed_execution');
SELECT is(ARRAY[e.current_attempt_index::text, e.current_attempt_id::text, e.current_lease_epoch::text],
          ARRAY['0', (:'b64'::ff.executions).current_attempt_id::text, ((:'b64'::ff.executions).current_lease_epoch + 1)::text],
          '64. same attempt, epoch + 1') FROM t.row(t.id(64)) e;
SELECT is((SELECT (attempt_state, resumed_at, suspended_at, suspension_id)::text FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(64))),
          '(started,1000000010000,,)', '64. attempt started again, resumed_at set, suspension cleared');
SELECT is((SELECT event || ':' || reason FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(64)) ORDER BY seq DESC LIMIT 1),
          'acquired:claim_resumed', '64. history acquired/claim_resumed');

-- 65. a resumed execution keeps its place (original created_at)
SELECT t.at(1000000020000);
SELECT ff.create_execution(t.id(65), lane_id => 'order', priority => 5);
SELECT t.claim(t.id(65));
SELECT t.at(1000000021000);
SELECT ff.create_execution(t.id(66), lane_id => 'order', priority => 5);
SELECT t.sus(t.id(65), t.wp(151));
SELECT t.sig(t.id(65), t.wp(151), 'go');
SELECT is((SELECT claim->>'execution_id' FROM ff.claim_next('order', 'w9', 'w9-1')), t.id(65), '65. the resumed, older execution is claimed first');

-- 66. observe_signals
SELECT t.new(67);
SELECT t.sus(t.id(67), t.wp(152), '{"required_signal_names": ["a", "b"], "signal_match_mode": "all"}');
SELECT t.sig(t.id(67), t.wp(152), 'zzz', payload => 'ignored');
SELECT t.sig(t.id(67), t.wp(152), 'b', payload => 'B');
SELECT t.sig(t.id(67), t.wp(152), 'a', payload => 'A');
SELECT is((SELECT array_agg(signal_name || '=' || convert_from(payload, 'UTF8')) FROM ff.observe_signals(t.id(67), 0)),
          ARRAY['a=A', 'b=B'], '66. the satisfiers in matcher order, with payloads');
SELECT is((SELECT count(*)::int FROM ff.observe_signals(t.id(67), 1)), 0, '66. another attempt -> []');

-- 67. list_pending_waitpoints
SELECT t.new(68);
SELECT t.pend(t.id(68), t.wp(160));
SELECT t.pend(t.id(68), t.wp(161));
SELECT t.sus(t.id(68), t.wp(162), t.byname('x', 'y'));
SELECT ff.list_pending_waitpoints(t.id(68), "limit" => 2) AS l68 \gset
SELECT is(jsonb_array_length(:'l68'::jsonb->'waitpoints'), 2, '67. a page of 2');
SELECT is(:'l68'::jsonb->>'next_cursor', t.wp(161)::text, '67. next_cursor = the last id');
SELECT is(:'l68'::jsonb->'waitpoints'->0 ? 'waitpoint_token', false, '67. never the token');
SELECT is(length(:'l68'::jsonb->'waitpoints'->0->>'token_fingerprint'), 16, '67. a 16-char fingerprint');
SELECT is(:'l68'::jsonb->'waitpoints'->0->>'token_kid', 'k4', '67. the kid (k4 is current since the rotation tests)');
SELECT is((ff.list_pending_waitpoints(t.id(68), after => t.wp(161))->'waitpoints'->0) - 'created_at' - 'token_fingerprint' - 'activated_at',
          jsonb_build_object('waitpoint_id', t.wp(162), 'waitpoint_key', 'wpk:' || t.wp(162), 'state', 'active',
                             'required_signal_names', '["x", "y"]'::jsonb, 'execution_id', t.id(68), 'token_kid', 'k4'),
          '67. the active one, after the cursor');
SELECT is(ff.list_pending_waitpoints(t.id(97)), '{"ok": false, "error": "execution_not_found"}', '67. missing execution');

-- 68. list_suspended by suspension created_at
SELECT is((SELECT array_agg(execution_id ORDER BY suspended_at, execution_id) = array_agg(execution_id) FROM ff.list_suspended()), true,
          '68. ordered by suspended_at');
SELECT is((SELECT suspended_at FROM ff.list_suspended() WHERE execution_id = t.id(68)), 1000000021000::bigint, '68. reports the suspension''s created_at');
SELECT is((SELECT count(*)::int FROM ff.list_suspended(2)), 2, '68. limit');

-- 69-72. invariants over everything written in this suite
SELECT t.invariants('the whole suite');
SELECT is((SELECT count(*)::int FROM ff.execution e WHERE (e.lifecycle_phase = 'suspended') <>
           EXISTS (SELECT 1 FROM ff.suspension s WHERE s.execution_id = e.execution_id AND s.closed_at IS NULL AND s.timeout_at IS NOT NULL)
           AND EXISTS (SELECT 1 FROM ff.suspension s WHERE s.execution_id = e.execution_id AND s.closed_at IS NULL AND s.timeout_at IS NOT NULL)), 0,
          '71. SUSPENSION_TIMEOUT membership only while suspended');
SELECT is((SELECT count(*)::int FROM ff.execution e WHERE (SELECT count(*) FROM ff.signal g WHERE g.execution_id = e.execution_id) > 10000), 0,
          '72. no execution over the default limit (the cap at the limit itself: item 29 with the setting at 5)');

-- 74. retention (the scanner, at the policy's retention_ttl_ms) deletes
-- every suspension record of an execution: first one that has them all
SELECT ff.create_execution(t.id(901), policy_json => '{"stream_policy": {"retention_ttl_ms": 1000}}');
SELECT t.claim(t.id(901));
SELECT t.pend(t.id(901), t.wp(901));
SELECT t.buf(t.id(901), t.wp(901), 'early', idem => 'b1');
SELECT t.sus(t.id(901), t.wp(902), t.composite('{"kind": "AllOf", "members": [{"kind": "Single", "waitpoint_key": "a"}, {"kind": "Single", "waitpoint_key": "b"}]}'),
             key => 'a', extra_ids => ARRAY[t.wp(903)], extra_keys => ARRAY['b'], idem => 's1', timeout_at => 1000000090000);
SELECT t.sig(t.id(901), t.wp(902), 'one', idem => 'k1', payload => '\x01');
CREATE FUNCTION t.susp_rows(id text) RETURNS integer[] LANGUAGE sql AS $$
    SELECT ARRAY[(SELECT count(*)::int FROM ff.suspension WHERE execution_id = t.exec_uuid(id)),
                 (SELECT count(*)::int FROM ff.waitpoint WHERE execution_id = t.exec_uuid(id)),
                 (SELECT count(*)::int FROM ff.waitpoint WHERE execution_id = t.exec_uuid(id) AND cond_kind IS NOT NULL),
                 (SELECT count(*)::int FROM ff.signal WHERE execution_id = t.exec_uuid(id)),
                 (SELECT count(*)::int FROM ff.signal WHERE execution_id = t.exec_uuid(id) AND payload IS NOT NULL),
                 (SELECT count(*)::int FROM ff.signal_dedup WHERE execution_id = t.exec_uuid(id)),
                 (SELECT count(*)::int FROM ff.suspend_dedup WHERE execution_id = t.exec_uuid(id)),
                 (SELECT count(*)::int FROM ff.suspension_token WHERE execution_id = t.exec_uuid(id))]
$$;
SELECT is(t.susp_rows(t.id(901)), ARRAY[1, 3, 2, 2, 1, 2, 1, 1],
          '74. (before: a suspension, three waitpoints one never activated, two conditions, signals with a payload, dedup rows, composite progress)');
SELECT ff.cancel_execution(t.id(901), 'done');
SELECT ff.now_ms() AS now74 \gset
SELECT is((t.row(t.id(901))).purge_after, :now74::bigint + 1000, '74. (due at the policy''s retention_ttl_ms)');
SELECT t.at(:now74::bigint + 999);
SELECT ff.trim_retention(1000);
SELECT is(t.susp_rows(t.id(901)), ARRAY[1, 3, 2, 2, 1, 2, 1, 0], '74. (nothing purged before it is due; the composite state went with the cancel)');
SELECT t.at(:now74::bigint + 1000);
SELECT ff.trim_retention(1000);
SELECT t.at(:now74);
SELECT is((t.row(t.id(901))).id, NULL, '74. the retention scanner purged the execution past its retention_ttl_ms');
SELECT is(t.susp_rows(t.id(901)), ARRAY[0, 0, 0, 0, 0, 0, 0, 0],
          '74. and with it its suspension, all waitpoints (the pending one too), conditions, signals, payloads, dedup rows, composite state');
SELECT ff.purge_execution(t.id(62));
SELECT is((SELECT count(*)::int FROM ff.waitpoint WHERE execution_id = t.exec_uuid(t.id(62)))
        + (SELECT count(*)::int FROM ff.signal WHERE execution_id = t.exec_uuid(t.id(62)))
        + (SELECT count(*)::int FROM ff.suspension WHERE execution_id = t.exec_uuid(t.id(62)))
        + (SELECT count(*)::int FROM ff.signal_dedup WHERE execution_id = t.exec_uuid(t.id(62))), 0,
          '74. suspension, all waitpoints (pending too), signals and guards deleted');

-- approval convenience
SELECT t.new(75);
SELECT t.sus(t.id(75), t.wp(170), t.byname('approved'), 'waiting_for_approval');
SELECT is(ff.deliver_approval_signal(t.id(75), 'other', t.wp(170), 'approved', 'x')->>'error', 'invalid_input', 'approval: lane mismatch');
SELECT is(ff.deliver_approval_signal(t.id(75), 'default', t.wp(179), 'approved', 'x')->>'error', 'waitpoint_not_found', 'approval: unknown waitpoint');
SELECT is(ff.deliver_approval_signal(t.id(75), 'default', t.wp(170), 'approved', 'x')->>'effect', 'resume_condition_satisfied', 'approval resumes');
SELECT is((SELECT signal_category || '/' || source_type || '/' || idempotency_key FROM ff.signal WHERE waitpoint_id = t.wp(170)),
          'approval/operator/approval:approved:x', 'approval signal fields');

-- bad input of signals: misuse raises, nothing written
SELECT t.snapshot() AS snapbad \gset
SELECT throws_ok($$SELECT ff.deliver_signal(t.id(75), NULL, gen_random_uuid(), 'x', 'k1:x')$$, '22004', NULL, 'NULL waitpoint_id');
SELECT throws_ok($$SELECT ff.deliver_signal(t.id(75), t.wp(170), NULL, 'x', 'k1:x')$$, '22004', NULL, 'NULL signal_id');
SELECT throws_ok($$SELECT ff.deliver_signal(t.id(75), t.wp(170), gen_random_uuid(), NULL, 'k1:x')$$, '22004', NULL, 'NULL signal_name');
SELECT throws_ok($$SELECT ff.deliver_signal(t.id(75), t.wp(170), gen_random_uuid(), repeat('n', 257), 'k1:x')$$, '22001', NULL, 'signal name too long');
SELECT throws_ok($$SELECT ff.deliver_signal(t.id(75), t.wp(170), gen_random_uuid(), 'x', 'k1:x', resume_delay_ms => -1)$$, '22023', NULL, 'negative delay');
SELECT throws_ok($$SELECT ff.deliver_signal('{fp:0}:zz', t.wp(170), gen_random_uuid(), 'x', 'k1:x')$$, '22P02', NULL, 'bad execution id');
SELECT is(t.snapshot(), :'snapbad', 'bad input wrote nothing');

SELECT * FROM finish();
ROLLBACK;
