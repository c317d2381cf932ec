-- Lane controls and concurrency keys (issue 26): pause / resume, the lane
-- limit, concurrency keys (limit held, the slot freed on every way out of
-- a live lease, no head-of-line blocking, the fair rule), bad input and
-- who may call.
BEGIN;
\ir helpers.psql

-- the claims made so far, by execution (the fence of each)
CREATE TABLE t.claims (id text PRIMARY KEY, claim jsonb);
-- claim_next on a lane: the ids claimed, in order
CREATE FUNCTION t.cn(lane text, n integer DEFAULT 1, reclaim boolean DEFAULT false) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE r record; ids text[] := '{}';
BEGIN
    FOR r IN SELECT c.claim FROM ff.claim_next(lane, 'w', 'w-1', max_count => n, reclaim => reclaim) c LOOP
        ids := ids || (r.claim->>'execution_id');
        INSERT INTO t.claims VALUES (r.claim->>'execution_id', r.claim)
            ON CONFLICT (id) DO UPDATE SET claim = EXCLUDED.claim;
    END LOOP;
    RETURN ids;
END $$;
CREATE FUNCTION t.fence(id text) RETURNS jsonb LANGUAGE sql AS $$ SELECT claim FROM t.claims WHERE claims.id = $1 $$;
-- an execution of a lane with a concurrency key (NULL: none)
CREATE FUNCTION t.mk(n integer, lane text, key text DEFAULT NULL, lim integer DEFAULT 1,
                     ns text DEFAULT 'default', extra jsonb DEFAULT '{}') RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ff.create_execution(t.id(n), ns, lane, policy_json =>
        (extra || CASE WHEN key IS NULL THEN '{}'::jsonb
                       ELSE jsonb_build_object('concurrency', jsonb_build_object('key', key, 'limit', lim)) END)::text);
    RETURN t.id(n);
END $$;
CREATE FUNCTION t.lane_rows() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(l::text, ';' ORDER BY l.lane_id), '') FROM ff.lane l
$$;

-- ==== lane controls ====
SELECT t.mk(1, 'lp'), t.mk(2, 'lp');
SELECT is(ff.pause_lane('lp'), '{"ok": true, "paused": true, "status": "OK", "lane_id": "lp", "max_active": null}',
          'pause_lane answers the lane''s controls');
SELECT is(t.cn('lp', 5), '{}', 'a paused lane gives nothing to claim_next');
SELECT is(t.claim(t.id(1))->>'error', 'lane_paused', 'nor to a grant-consuming claim');
SELECT is(ff.create_execution(t.id(3), 'default', 'lp')->>'status', 'OK', 'creates go on on a paused lane');
SELECT is((SELECT paused FROM ff.lanes WHERE lane_id = 'lp'), true, 'ff.lanes shows the pause');
SELECT is((ff.resume_lane('lp'))->>'paused', 'false', 'resume_lane');
SELECT is(t.lane_rows(), '', 'a lane back to no controls keeps no row');
SELECT is(cardinality(t.cn('lp', 5)), 2, 'a resumed lane gives its work again (but the one its refused claimer''s grant still reserves)');
SELECT is(ff.claim_execution(t.id(1), 'w1', 'w1-1', 'lp')->>'status', 'OK', 'which its claimer now claims');
SELECT is((ff.resume_lane('lp'))->>'status', 'OK', 'resume of a lane never paused is a no-op');

-- lane limit
SELECT t.mk(10, 'll'), t.mk(11, 'll'), t.mk(12, 'll'), t.mk(13, 'll');
SELECT is(ff.set_lane_limit('ll', 2)->>'max_active', '2', 'set_lane_limit');
SELECT is(cardinality(t.cn('ll', 10)), 2, 'a batch claim takes at most the lane''s free slots');
SELECT is(t.cn('ll'), '{}', 'a full lane gives nothing');
SELECT is(t.claim(t.id(12))->>'error', 'lane_limit_reached', 'nor does a grant-consuming claim');
SELECT is((SELECT (max_active, active_leases)::text FROM ff.lanes WHERE lane_id = 'll'), '(2,2)', 'ff.lanes shows the limit and the leases held');
SELECT is(t.complete((SELECT id FROM t.claims WHERE id IN (t.id(10), t.id(11)) ORDER BY id LIMIT 1))->>'status', 'OK', 'one completes');
SELECT is(cardinality(t.cn('ll', 10)), 1, 'its slot is free again: one more');
SELECT is(ff.set_lane_limit('ll', NULL)->>'max_active', NULL, 'the limit lifted');
SELECT is(ff.claim_execution(t.id(12), 'w1', 'w1-1', 'll')->>'status', 'OK', 'then the rest: the one a grant reserves');
SELECT is(cardinality(t.cn('ll', 10)), 0, 'and no more');
SELECT is(t.lane_rows(), '', 'no row left for a lane without controls');
SELECT ff.pause_lane('lz'); SELECT ff.set_lane_limit('lz', 3);
SELECT is((SELECT (paused, max_active)::text FROM ff.lanes WHERE lane_id = 'lz'), '(t,3)', 'pause and limit together');
SELECT ff.resume_lane('lz');
SELECT is((SELECT (paused, max_active)::text FROM ff.lanes WHERE lane_id = 'lz'), '(f,3)', 'resume keeps the limit');

-- bad input writes nothing
SELECT t.lane_rows() AS before \gset
SELECT throws_ok($$SELECT ff.set_lane_limit('lz', 0)$$, '22023', NULL, 'a limit of 0 -> 22023');
SELECT throws_ok($$SELECT ff.set_lane_limit('lz', -1)$$, '22023', NULL, 'a negative limit -> 22023');
SELECT throws_ok($$SELECT ff.pause_lane('')$$, '22023', NULL, 'an empty lane -> 22023');
SELECT throws_ok($$SELECT ff.pause_lane(repeat('x', 65))$$, '22023', NULL, 'a lane id too long -> 22023');
SELECT is(t.lane_rows(), :'before', 'bad input wrote nothing');

-- who may call: administrators only (lanes are global)
CREATE ROLE lk_admin_a IN ROLE ff_admin;
SELECT ff.grant_namespace('lk_admin_a', 'a');
CREATE ROLE lk_worker_a IN ROLE ff_worker;
SELECT ff.grant_namespace('lk_worker_a', 'a');
GRANT USAGE ON SCHEMA t TO lk_worker_a, lk_admin_a;
SELECT is(t.as_role('ff_worker', $$SELECT ff.pause_lane('lz')$$), 'ERROR 42501', 'a worker may not pause a lane');
SELECT is(t.as_role('lk_worker_a', $$SELECT ff.set_lane_limit('lz', 1)$$), 'ERROR 42501', 'nor a tenant''s worker set a limit');
SELECT is(t.as_role('ff_submitter', $$SELECT ff.resume_lane('lz')$$), 'ERROR 42501', 'nor a submitter resume one');
SELECT is(t.as_role('ff_reader', $$SELECT count(*) FROM ff.lanes$$), 'ERROR 42501', 'ff.lanes is for administrators');
SELECT is(t.as_role('lk_admin_a', $$SELECT ff.pause_lane('lz')->>'status'$$), 'OK', 'an administrator bound to a namespace is still an administrator');
SELECT is(t.lane_rows(), '(lz,t,3,1000000000000,' || session_user || ')', 'only the administrator''s call wrote');
SELECT ff.resume_lane('lz'), ff.set_lane_limit('lz', NULL);

-- ==== concurrency keys ====
-- limit held; no head-of-line blocking
SELECT t.mk(20, 'k', 'c1'), t.mk(21, 'k', 'c1'), t.mk(22, 'k', 'c1'), t.mk(23, 'k', 'c2'), t.mk(24, 'k');
SELECT is(t.cn('k'), ARRAY[t.id(20)], 'the oldest claims first');
SELECT is(t.cn('k'), ARRAY[t.id(23)], 'then, key c1 being at its limit, the next key''s work: no head-of-line blocking');
SELECT is(t.cn('k'), ARRAY[t.id(24)], 'and work without a key');
SELECT is(t.cn('k', 10), '{}', 'nothing more: each key at its limit');
SELECT is(t.claim(t.id(21))->>'error', 'concurrency_limit_reached', 'a grant-consuming claim is refused too');
SELECT is((SELECT (concurrency_key, concurrency_limit)::text FROM t.row(t.id(21))), '(c1,1)', 'the key is on the execution''s row');
SELECT is(t.complete(t.id(20))->>'status', 'OK', 'c1''s running execution completes');
SELECT is(ff.claim_execution(t.id(21), 'w1', 'w1-1', 'k')->>'status', 'OK', 'the freed slot goes to the grant-consuming claim');
SELECT is(t.cn('k', 10), '{}', 'and no other of the key starts');
SELECT is(t.complete(t.id(21))->>'status', 'OK', 'which completes');
SELECT is(t.cn('k', 10), ARRAY[t.id(22)], 'its next one starts at once, only one');

-- a batch: one per key, the rest of the batch from other keys
SELECT t.mk(30, 'kb', 'x'), t.mk(31, 'kb', 'x'), t.mk(32, 'kb', 'x'), t.mk(33, 'kb', 'y', 2), t.mk(34, 'kb', 'y', 2),
       t.mk(35, 'kb', 'y', 2), t.mk(36, 'kb');
SELECT is(t.cn('kb', 10), ARRAY[t.id(30), t.id(33), t.id(34), t.id(36)], 'a batch takes each key up to its limit and goes on past it');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE concurrency_key = 'y' AND ownership_state = 'leased'), 2, 'limit 2 held');

-- the default limit is 1; a key is per namespace
SELECT ff.create_execution(t.id(40), 'a', 'kn', policy_json => '{"concurrency": {"key": "same"}}');
SELECT ff.create_execution(t.id(41), 'a', 'kn', policy_json => '{"concurrency": {"key": "same"}}');
SELECT ff.create_execution(t.id(42), 'b', 'kn', policy_json => '{"concurrency": {"key": "same"}}');
SELECT is(t.cn('kn', 10), ARRAY[t.id(40), t.id(42)], 'limit 1 by default; the same key in another namespace is another key');
SELECT is(t.as_role('lk_worker_a', $$SELECT count(*) FROM ff.claim_next('kn', 'w', 'w-1', max_count => 5)$$), '0',
          'a tenant''s worker sees its key full');

-- fairness: each key with eligible work is served before any key gets a second execution
SELECT t.mk(50, 'kf', 'a'), t.mk(51, 'kf', 'a'), t.mk(52, 'kf', 'a'), t.mk(53, 'kf', 'b'), t.mk(54, 'kf', 'b'), t.mk(55, 'kf', 'c');
SELECT is(t.cn('kf', 10), ARRAY[t.id(50), t.id(53), t.id(55)], 'one of each key, oldest first');
SELECT t.complete(t.id(50)), t.complete(t.id(53)), t.complete(t.id(55));
SELECT is(t.cn('kf', 10), ARRAY[t.id(51), t.id(54)], 'then the second of each key with work left');
SELECT t.complete(t.id(51)), t.complete(t.id(54));
SELECT is(t.cn('kf', 10), ARRAY[t.id(52)], 'then the third');

-- ==== the slot frees on every way out of a live lease ====
-- e<n>: A (key of its own, limit 1) claimed, B waiting behind it; after the
-- exit path, B is claimed.
CREATE FUNCTION t.exit_setup(n integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM t.mk(n, 'e' || n, 'ek' || n, 1, 'default',
                 '{"retry_policy": {"max_retries": 1, "backoff": {"type": "fixed", "initial_delay_ms": 1000}}}');
    PERFORM t.mk(n + 1, 'e' || n, 'ek' || n);
    PERFORM t.cn('e' || n);
END $$;
CREATE FUNCTION t.exit_check(n integer, how text) RETURNS text LANGUAGE sql AS $$
    SELECT is(t.cn('e' || n), ARRAY[t.id(n + 1)], 'the slot frees on ' || how)
$$;
SELECT t.exit_setup(100), t.exit_setup(110), t.exit_setup(120), t.exit_setup(130), t.exit_setup(140),
       t.exit_setup(150), t.exit_setup(160), t.exit_setup(170), t.exit_setup(180), t.exit_setup(190);
SELECT is(t.cn('e100'), '{}', 'while A holds the slot, B waits');

SELECT is(t.complete(t.id(100))->>'status', 'OK', 'complete');
SELECT t.exit_check(100, 'complete');
SELECT is(ff.fail_executions(ARRAY[t.fence(t.id(110))], ARRAY['boom'], 'permanent') -> 'results' -> 0 ->> 'status', 'OK', 'fail (terminal)');
SELECT t.exit_check(110, 'a terminal failure');
SELECT is(t.fail(t.id(120))->>'status', 'OK', 'fail with a retry scheduled');
SELECT is((t.row(t.id(120))).public_state::text, 'delayed', 'A waits for its retry');
SELECT t.exit_check(120, 'a failure that schedules a retry');
SELECT is(ff.cancel_execution(t.id(130), 'stop', 'operator_override')->>'status', 'OK', 'cancel');
SELECT t.exit_check(130, 'cancel');
SELECT is(ff.delay_execution(t.fence(t.id(140)), ff.now_ms() + 60000)->>'status', 'OK', 'delay');
SELECT t.exit_check(140, 'delay');
SELECT is(ff.suspend_execution(t.fence(t.id(150)), gen_random_uuid(), gen_random_uuid(), 'k', 'waiting_for_signal',
                               '{"required_signal_names": ["go"]}')->>'status', 'OK', 'suspend');
SELECT t.exit_check(150, 'suspend');
SELECT is(ff.move_to_waiting_children(t.fence(t.id(160)))->>'status', 'OK', 'wait for children');
SELECT t.exit_check(160, 'waiting for children');
SELECT is(ff.revoke_lease(t.id(170))->>'result', 'revoked', 'revoke');
SELECT t.exit_check(170, 'revoke');
-- a reclaim of a lease that lost its slot takes one again only when free
SELECT is(t.cn('e170', 5, true), '{}', 'the revoked A is not reclaimed while B holds the key');
SELECT t.complete(t.id(171));
SELECT is(t.cn('e170', 5, true), ARRAY[t.id(170)], 'once B leaves, A is reclaimed');
-- lease expiry, marked by the scanner (the test clock past the 30 s lease)
SELECT t.at(1000000031000);
SELECT is(t.cn('e180'), '{}', 'an expired lease not yet marked still holds its slot');
SELECT cmp_ok(((ff.scan_lease_expiry())->>'processed')::int, '>=', 1, 'the lease-expiry scanner marks it');
SELECT t.exit_check(180, 'lease expiry');
-- a reclaim of an expired lease not yet marked keeps its slot
SELECT t.at(1000000100000);
SELECT is(t.cn('e190', 5, true), ARRAY[t.id(190)], 'a reclaim of an expired, unmarked lease keeps its slot');
SELECT is(t.cn('e190', 5), '{}', 'and B still waits');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE concurrency_key = 'ek190' AND ownership_state = 'leased'), 1, 'one slot held');
SELECT t.at(1000000000000);

-- ==== bad input writes nothing ====
SELECT t.snapshot() AS snap \gset
-- one create per bad concurrency policy, in this order
SELECT throws_ok(format($$SELECT ff.create_execution(t.id(900), policy_json => %L)$$, policy), '22023', NULL, what)
FROM (VALUES (1, '{"concurrency": {"key": "k", "limit": 0}}', 'a limit of 0 -> 22023'),
             (2, '{"concurrency": {"key": "k", "limit": -3}}', 'a negative limit -> 22023'),
             (3, '{"concurrency": {"key": "k", "limit": 1.5}}', 'a fractional limit -> 22023'),
             (4, '{"concurrency": {"key": "k", "limit": "2"}}', 'a limit that is no number -> 22023'),
             (5, '{"concurrency": {"key": ""}}', 'an empty key -> 22023'),
             (6, '{"concurrency": {"limit": 2}}', 'no key -> 22023'),
             (7, '{"concurrency": {"key": 7}}', 'a key that is no string -> 22023'),
             (8, '{"concurrency": "k"}', 'concurrency that is no object -> 22023'),
             (9, format('{"concurrency": {"key": "%s"}}', repeat('k', 257)), 'a key too long -> 22023')) v(i, policy, what)
ORDER BY i;
SELECT throws_ok($$SELECT ff.create_executions(ARRAY[ff.execution_id('z'), ff.execution_id('z')],
                   policy_json => '{"concurrency": {"key": "k", "limit": 0}}')$$, '22023', NULL, 'the bulk create checks it too');
SELECT is(t.snapshot(), :'snap', 'bad input wrote nothing');
SELECT is(ff.create_executions(ARRAY[t.id(901), t.id(902)], lane_id => 'kbulk',
          policy_json => '{"concurrency": {"key": "bk", "limit": 1}}')->>'count', '2', 'a bulk create with a key');
SELECT is(t.cn('kbulk', 5), ARRAY[t.id(901)], 'whose executions share the key');

SELECT t.invariants('lanes and keys');
SELECT * FROM finish();
ROLLBACK;
