-- Lease recovery, expiry, replay and admission: behaviour/execution §3.14-§3.22, §4.5,
-- checklist 26-32a, 42, 48-49, 52-54.
BEGIN;
-- these checks read the event rows of executions outside flows too
SET LOCAL ff_engine.completion_events = 'all';
\ir helpers.psql


-- 26. revoke
SELECT ff.create_execution(t.id(1));
SELECT t.claim(t.id(1));
SELECT t.row(t.id(1)) AS old1 \gset
SELECT is(ff.revoke_lease(t.id(1), gen_random_uuid())->>'error', 'stale_lease', 'revoke with a wrong expected lease id -> stale_lease');
SELECT matches(ff.revoke_lease(t.id(1), gen_random_uuid())->>'detail', '^expected .* but current is .*$', 'stale_lease names both leases');
SELECT is(ff.revoke_lease(t.id(1), (:'old1'::ff.executions).current_lease_id, 'worker wedged'),
          jsonb_build_object('ok', true, 'status', 'OK', 'result', 'revoked', 'lease_id', (:'old1'::ff.executions).current_lease_id, 'lease_epoch', 1),
          'revoke returns the revoked lease');
SELECT is(ARRAY[e.ownership_state::text, e.public_state::text, e.attempt_state::text, e.blocking_detail, e.lease_revoke_reason],
          ARRAY['lease_revoked', 'active', 'attempt_interrupted', 'lease revoked: worker wedged', 'worker wedged'], 'revoked vector') FROM t.row(t.id(1)) e;
SELECT is((SELECT count(*)::int FROM ff.execution WHERE ownership_state = 'leased' AND execution_id = t.exec_uuid(t.id(1))), 0,
          'no longer in LEASE_EXPIRY or WORKER_LEASES (both derive from leased)');
SELECT is((t.row(t.id(1))).current_lease_id, (:'old1'::ff.executions).current_lease_id, 'lease mirror keeps the revoked lease');
SELECT is((SELECT event || ':' || reason FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(1)) ORDER BY seq DESC LIMIT 1),
          'revoked:worker wedged', 'history revoked');
SELECT is((ff.revoke_lease(t.id(1)))->>'reason', 'already_revoked', 'revoking again -> already_revoked');
SELECT ff.create_execution(t.id(2));
SELECT t.claim(t.id(2), ttl => 1000);
SELECT t.at(1000000001000);
SELECT ff.mark_lease_expired_if_due(t.id(2));
SELECT is((ff.revoke_lease(t.id(2)))->>'reason', 'already_expired', 'revoking an expired lease -> already_expired');
SELECT ff.create_execution(t.id(3));
SELECT is((ff.revoke_lease(t.id(3)))->>'error', 'execution_not_active', 'revoke on runnable -> execution_not_active');
SELECT t.invariants('revoke');

-- 27. behaviour/execution §4.5, revoked: the old holder gets lease_revoked everywhere (append comes with streams)
SELECT is(ff.complete_execution(t.id(1), o.current_lease_id, 1, o.current_attempt_id)->>'error', 'lease_revoked', 'complete after revoke -> lease_revoked')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.fail_execution(t.id(1), o.current_lease_id, 1, o.current_attempt_id)->>'error', 'lease_revoked', 'fail after revoke -> lease_revoked')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.renew_lease(t.id(1), 0, o.current_attempt_id, o.current_lease_id, 1)->>'error', 'lease_revoked', 'renew after revoke -> lease_revoked')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.update_progress(t.id(1), o.current_lease_id, 1, 5)->>'error', 'lease_revoked', 'progress after revoke -> lease_revoked')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.delay_execution(t.id(1), o.current_lease_id, 1, o.current_attempt_id, 0)->>'error', 'lease_revoked', 'delay after revoke -> lease_revoked')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.cancel_execution(t.id(1), 'x', 'worker', o.current_lease_id, 1)->>'error', 'lease_revoked', 'holder cancel after revoke -> lease_revoked')
  FROM (SELECT (:'old1'::ff.executions).*) o;

-- 28. reclaim of a healthy lease is refused
SELECT ff.create_execution(t.id(4));
SELECT t.claim(t.id(4));
SELECT is(ff.issue_reclaim_grant(t.id(4), 'w2', 'w2-1', 'default')->>'error', 'execution_not_reclaimable', 'reclaim grant on a healthy lease -> not reclaimable');
SELECT is(ff.reclaim_execution(t.id(4), 'w2', 'w2-1', 'default')->>'error', 'execution_not_reclaimable', 'reclaim of a healthy lease -> not reclaimable');
SELECT is(ff.issue_reclaim_grant(t.id(3), 'w2', 'w2-1', 'default')->>'error', 'execution_not_reclaimable', 'reclaim grant on runnable -> not reclaimable');

-- 29. reclaim
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at) VALUES (0, t.exec_uuid(t.id(1)), 0, 1);
SELECT is(ff.reclaim_execution(t.id(1), 'w2', 'w2-1', 'default')->>'error', 'invalid_claim_grant', 'reclaim without a grant -> invalid_claim_grant');
SELECT is(ff.issue_reclaim_grant(t.id(1), 'w2', 'w2-1', 'default', worker_capabilities_csv => 'x')->>'status', 'OK', 'reclaim grant on a revoked lease');
SELECT is(ff.issue_reclaim_grant(t.id(1), 'w3', 'w3-1', 'default')->>'error', 'grant_already_exists', 'one grant at a time');
SELECT is(ff.reclaim_execution(t.id(1), 'w3', 'w3-1', 'default')->>'error', 'invalid_claim_grant', 'grant of another worker -> invalid_claim_grant');
SELECT ff.reclaim_execution(t.id(1), 'w2', 'w2-9', 'default', attempt_policy_json => '{"k": 1}') AS rc \gset
SELECT is(ARRAY[(:'rc'::jsonb)->>'attempt_index', (:'rc'::jsonb)->>'attempt_type', (:'rc'::jsonb)->>'lease_epoch'], ARRAY['1', 'reclaim', '2'],
          'new attempt index = previous total, type reclaim, epoch + 1');
SELECT is((SELECT array_agg(attempt_state::text || '/' || coalesce(failure_reason, '-') ORDER BY attempt_index) FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(1))),
          ARRAY['interrupted_reclaimed/lease_revoked', 'started/-'], 'old attempt interrupted_reclaimed');
SELECT is((SELECT reclaim_reason || '/' || previous_attempt_index || '/' || policy::text FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(1)) AND attempt_index = 1),
          'lease_revoked/0/{"k": 1}', 'reclaim lineage and attempt policy stored');
SELECT is((SELECT closed_reason FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(1))), 'reclaimed', 'old stream closed reclaimed');
SELECT is(ARRAY[e.lease_reclaim_count::text, e.current_worker_instance_id, e.ownership_state::text, e.lease_revoked_at::text],
          ARRAY['1', 'w2-9', 'leased', NULL], 'reclaim count + 1, new holder, markers cleared') FROM t.row(t.id(1)) e;
SELECT is((SELECT count(*)::int FROM ff.execution WHERE ownership_state = 'leased' AND current_worker_instance_id = 'w1-1' AND execution_id = t.exec_uuid(t.id(1))), 0,
          'removed from the old instance''s leases');
SELECT is((SELECT event || ':' || (detail->>'old_lease_epoch') FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(1)) ORDER BY seq DESC LIMIT 1),
          'reclaimed:1', 'history reclaimed with the old epoch');
SELECT is((SELECT count(*)::int FROM ff.claim_grant), 0, 'reclaim grant consumed');
SELECT t.invariants('reclaim');

-- 30. the old holder after reclaim: stale_lease (epoch fencing)
SELECT is(ff.complete_execution(t.id(1), o.current_lease_id, 1, o.current_attempt_id)->>'error', 'stale_lease', 'old holder complete -> stale_lease')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.renew_lease(t.id(1), 0, o.current_attempt_id, o.current_lease_id, 1)->>'error', 'stale_lease', 'old holder renew -> stale_lease')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.update_progress(t.id(1), o.current_lease_id, 1)->>'error', 'stale_lease', 'old holder progress -> stale_lease')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.cancel_execution(t.id(1), 'x', 'worker', o.current_lease_id, 1)->>'error', 'stale_lease', 'old holder cancel -> stale_lease')
  FROM (SELECT (:'old1'::ff.executions).*) o;
SELECT is(ff.complete_execution(t.id(1), e.current_lease_id, 2, e.current_attempt_id)->>'result', 'completed', 'the new holder completes')
  FROM t.row(t.id(1)) e;
SELECT is(ff.complete_execution(t.id(1), o.current_lease_id, 1, o.current_attempt_id)->>'error', 'execution_not_active', 'old holder on a terminal execution -> execution_not_active')
  FROM (SELECT (:'old1'::ff.executions).*) o;

-- 31. the reclaim cap, policy over the caller's default; committed terminal failure
SELECT ff.create_execution(t.id(5), policy_json => '{"max_reclaim_count": 1}');
SELECT t.claim(t.id(5));
DO $$ BEGIN PERFORM ff.revoke_lease(t.id(5)); PERFORM ff.issue_reclaim_grant(t.id(5), 'w2', 'w2-1', 'default');
             PERFORM ff.reclaim_execution(t.id(5), 'w2', 'w2-1', 'default', default_max_reclaim_count => 50);
             PERFORM ff.revoke_lease(t.id(5)); PERFORM ff.issue_reclaim_grant(t.id(5), 'w2', 'w2-1', 'default'); END $$;
SELECT is(ff.reclaim_execution(t.id(5), 'w2', 'w2-1', 'default', default_max_reclaim_count => 50),
          '{"ok": false, "error": "max_retries_exhausted", "max_reclaim_count": 1}', 'over the cap -> max_retries_exhausted(1): the policy wins');
SELECT is(ARRAY[e.public_state::text, e.failure_reason, e.lease_reclaim_count::text], ARRAY['failed', 'max_reclaims_exceeded', '1'],
          'and the execution is terminal failed') FROM t.row(t.id(5)) e;
SELECT is((SELECT attempt_state::text FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(5)) ORDER BY attempt_index DESC LIMIT 1), 'ended_failure',
          'its attempt ended');
SELECT is((SELECT outcome::text FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.id(5))), 'failed', 'completion announced');
SELECT is((SELECT count(*)::int FROM ff.claim_grant), 0, 'grant consumed');
SELECT ff.create_execution(t.id(6));
SELECT t.claim(t.id(6));
SELECT ff.revoke_lease(t.id(6));
SELECT ff.issue_reclaim_grant(t.id(6), 'w2', 'w2-1', 'default');
SELECT is(ff.reclaim_execution(t.id(6), 'w2', 'w2-1', 'default', default_max_reclaim_count => 0)->>'max_reclaim_count', '0',
          'without a policy cap the caller''s default applies');
SELECT t.invariants('reclaim cap');

-- 32. epochs strictly increase across claim -> reclaim -> retry claim -> resume -> replay claim
SELECT ff.create_execution(t.id(7), policy_json => '{"retry_policy": {"max_retries": 5, "backoff": {"type": "fixed", "delay_ms": 0}}}');
CREATE TEMP TABLE epochs(step text, epoch bigint, ord serial);
INSERT INTO epochs(step, epoch) SELECT 'claim', (t.claim(t.id(7))->>'lease_epoch')::bigint;
SELECT ff.revoke_lease(t.id(7)), ff.issue_reclaim_grant(t.id(7), 'w2', 'w2-1', 'default');
INSERT INTO epochs(step, epoch) SELECT 'reclaim', (ff.reclaim_execution(t.id(7), 'w2', 'w2-1', 'default')->>'lease_epoch')::bigint;
SELECT t.fail(t.id(7)), ff.promote_delayed(t.id(7));
INSERT INTO epochs(step, epoch) SELECT 'retry', (t.claim(t.id(7))->>'lease_epoch')::bigint;
SELECT ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 0) FROM t.row(t.id(7)) e;
SELECT ff.promote_delayed(t.id(7));
INSERT INTO epochs(step, epoch) SELECT 'resume', (t.claim(t.id(7))->>'lease_epoch')::bigint;
SELECT t.complete(t.id(7)), ff.replay_execution(t.id(7));
INSERT INTO epochs(step, epoch) SELECT 'replay', (t.claim(t.id(7))->>'lease_epoch')::bigint;
SELECT is((SELECT array_agg(epoch ORDER BY ord) FROM epochs), ARRAY[1, 2, 3, 4, 5]::bigint[], 'epoch 1..5 across claim, reclaim, retry, resume, replay');
SELECT is((SELECT array_agg(attempt_type::text ORDER BY attempt_index) FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(7))),
          ARRAY['initial', 'reclaim', 'retry', 'replay'], 'attempt types along the way (resume reuses the retry attempt)');

-- 32a. revoke -> operator cancel -> replay -> claim -> renew succeeds (behaviour/execution §C.21)
SELECT ff.create_execution(t.id(8));
SELECT t.claim(t.id(8));
SELECT ff.revoke_lease(t.id(8));
SELECT ff.cancel_execution(t.id(8), 'stop');
SELECT is((ff.replay_execution(t.id(8)))->>'status', 'OK', 'replay of the cancelled execution');
SELECT t.claim(t.id(8));
SELECT is(t.renew(t.id(8))->>'status', 'OK', 'renew on the fresh lease succeeds');
SELECT t.invariants('32a');

-- 42. expire
SELECT ff.create_execution(t.id(9));
SELECT t.claim(t.id(9));
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at) VALUES (0, t.exec_uuid(t.id(9)), 0, 1);
SELECT is(ff.expire_execution(t.id(9)), '{"ok": true, "result": "expired", "status": "OK", "previous_phase": "active"}', 'expire an active execution');
SELECT is(ARRAY[e.public_state::text, e.failure_reason, e.current_lease_id::text], ARRAY['expired', 'attempt_timeout', NULL], 'terminal expired, lease released')
  FROM t.row(t.id(9)) e;
SELECT is((SELECT attempt_state::text || '/' || failure_reason FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(9))), 'ended_failure/attempt_timeout', 'attempt ended_failure');
SELECT is((SELECT closed_reason FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(9))), 'expired', 'stream closed expired');
SELECT is((SELECT reason FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(9)) ORDER BY seq DESC LIMIT 1), 'expired:attempt_timeout', 'history released expired:attempt_timeout');
SELECT is((SELECT outcome::text FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.id(9))), 'expired', 'completion announced');
SELECT ff.create_execution(t.id(10), delay_until => 1000009999999);
SELECT is((ff.expire_execution(t.id(10), 'execution_deadline'))->>'previous_phase', 'runnable', 'expire a delayed execution by deadline');
SELECT is(ARRAY[e.public_state::text, e.delay_until::text, e.attempt_state::text], ARRAY['expired', NULL, 'pending_first_attempt'],
          'removed from DELAYED; no attempt to end') FROM t.row(t.id(10)) e;
SELECT is((ff.expire_execution(t.id(10)))->>'result', 'already_terminal', 'expire of a terminal execution -> already_terminal');
SELECT is((ff.expire_execution(t.id(99)))->>'result', 'not_found_cleaned', 'expire of a missing execution -> not_found_cleaned');
SELECT throws_ok($$SELECT ff.expire_execution(t.id(9), 'bored')$$, '22023', NULL, 'unknown expire reason -> 22023');
SELECT t.invariants('expire');

-- 48-49. block and unblock
SELECT ff.create_execution(t.id(11), lane_id => 'adm');
SELECT t.at(1000000002000);
SELECT ff.create_execution(t.id(12), lane_id => 'adm');
SELECT is(ff.block_execution_for_admission(t.id(11), 'waiting_for_budget', 'budget b1: tokens 100/100'),
          '{"ok": true, "result": "blocked", "status": "OK", "public_state": "rate_limited"}', 'block for budget -> rate_limited');
SELECT is(ARRAY[e.eligibility_state::text, e.blocking_reason::text, e.blocking_detail], ARRAY['blocked_by_budget', 'waiting_for_budget', 'budget b1: tokens 100/100'],
          'mapped eligibility and detail') FROM t.row(t.id(11)) e;
SELECT is((SELECT claim->>'execution_id' FROM ff.claim_next('adm', 'w', 'w-1')), t.id(12), 'a blocked execution is not claimed');
CREATE TEMP TABLE blocks(n int, reason text, elig text, pub text);
INSERT INTO blocks VALUES (20, 'waiting_for_quota', 'blocked_by_quota', 'rate_limited'), (21, 'waiting_for_capable_worker', 'blocked_by_route', 'waiting'),
                          (22, 'paused_by_operator', 'blocked_by_operator', 'waiting'), (23, 'paused_by_policy', 'blocked_by_lane_state', 'waiting');
SELECT ff.create_execution(t.id(n), lane_id => 'blk') FROM blocks;
SELECT is(ff.block_execution_for_admission(t.id(n), reason)->>'public_state', pub, reason || ' -> ' || pub) FROM blocks;
SELECT is((t.row(t.id(n))).eligibility_state::text, elig, reason || ' -> ' || elig) FROM blocks;
SELECT ff.create_execution(t.id(24));
SELECT is(ff.block_execution_for_admission(t.id(24), 'waiting_for_signal'), '{"ok": false, "error": "invalid_blocking_reason", "detail": "waiting_for_signal"}',
          'a reason that is not an admission block -> invalid_blocking_reason');
SELECT is(ff.block_execution_for_admission(t.id(24), 'bogus')->>'error', 'invalid_blocking_reason', 'unknown reason -> invalid_blocking_reason');
SELECT is(ff.block_execution_for_admission(t.id(9), 'waiting_for_budget')->>'error', 'execution_not_active', 'block of a terminal execution -> execution_not_active');
SELECT is(ff.block_execution_for_admission(t.id(4), 'waiting_for_budget')->>'error', 'execution_not_eligible', 'block of an active execution -> execution_not_eligible');
SELECT is(ff.block_execution_for_admission(t.id(11), 'waiting_for_quota')->>'error', 'execution_not_eligible', 'block of a blocked execution -> execution_not_eligible');
SELECT is(ff.unblock_execution(t.id(11), expected_blocking_reason => 'waiting_for_quota')->>'error', 'execution_not_eligible', 'unblock with a mismatching reason');
SELECT is(ff.unblock_execution(t.id(23))->>'error', 'execution_not_eligible', 'lane-state blocks are not released by unblock');
SELECT is(ff.unblock_execution(t.id(24))->>'error', 'execution_not_eligible', 'unblock of an eligible execution');
SELECT is(ff.unblock_execution(t.id(11), expected_blocking_reason => 'waiting_for_budget'), '{"ok": true, "result": "unblocked", "status": "OK"}', 'unblock');
SELECT is(ARRAY[e.public_state::text, e.attempt_state::text], ARRAY['waiting', 'pending_first_attempt'], 'back to waiting, attempt_state kept') FROM t.row(t.id(11)) e;
SELECT ff.create_execution(t.id(13), lane_id => 'adm');
SELECT is((SELECT claim->>'execution_id' FROM ff.claim_next('adm', 'w', 'w-1')), t.id(11), 'unblocked keeps its original FIFO place (created_at)');
SELECT is(ff.unblock_execution(t.id(22))->>'status', 'OK', 'an operator hold is released by an explicit unblock');
SELECT throws_ok($$SELECT ff.unblock_execution(t.id(22), expected_blocking_reason => 'nope')$$, '22023', NULL, 'unknown expected reason -> 22023');
SELECT t.invariants('admission');

-- 52-54. replay
SELECT is(ff.replay_execution(t.id(4))->>'error', 'execution_not_terminal', 'replay of a non-terminal execution');
SELECT ff.create_execution(t.id(14), policy_json => '{"retry_policy": {"max_retries": 1}}');
SELECT t.claim(t.id(14));
SELECT t.fail(t.id(14)), ff.promote_delayed(t.id(14), 9999999999999);
SELECT t.claim(t.id(14));
SELECT t.complete(t.id(14), 'first');
SELECT t.at(1000000003000);
SELECT is(ff.replay_execution(t.id(14), 'ops', 'rerun'), '{"ok": true, "status": "OK", "replay_count": 1, "unsatisfied_dependencies": 0}', 'replay of a completed execution');
SELECT is(ARRAY[e.public_state::text, e.attempt_state::text, e.replay_count::text, e.completed_at::text, e.retry_count::text, e.purge_after::text],
          ARRAY['waiting', 'pending_replay_attempt', '1', NULL, '0', NULL], 'waiting, pending replay, completed_at cleared, retries reset') FROM t.row(t.id(14)) e;
SELECT is((SELECT event || ':' || (detail->>'replay_type') || ':' || (detail->>'replay_count') FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(14)) ORDER BY seq DESC LIMIT 1),
          'replay_initiated:normal:1', 'history replay_initiated normal');
SELECT is(ARRAY[c.claim->>'attempt_index', c.claim->>'attempt_type'], ARRAY['2', 'replay'], 'next claim: attempt total_attempt_count of type replay')
  FROM (SELECT t.claim(t.id(14)) AS claim) c;
SELECT is((SELECT replayed_from_attempt_index || '/' || replay_reason || '/' || replay_requested_by FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(14)) AND attempt_index = 2),
          '1/rerun/ops', 'replay lineage: replayed from the previous attempt');
SELECT is(ff.get_execution_result(t.id(14)), 'first'::bytea, 'the old result stays until a new complete');
SELECT ff.create_execution(t.id(15));
SELECT ff.cancel_execution(t.id(15));
DO $$ BEGIN FOR i IN 1..10 LOOP PERFORM ff.replay_execution(t.id(15)); PERFORM ff.cancel_execution(t.id(15)); END LOOP; END $$;
SELECT is((t.row(t.id(15))).replay_count, 10, 'ten replays');
SELECT is(ff.replay_execution(t.id(15)), '{"ok": false, "error": "max_replays_exhausted", "max_replay_count": 10}', 'the 11th replay -> max_replays_exhausted');
SELECT ff.create_execution(t.id(16), policy_json => '{"max_replay_count": 1}');
SELECT ff.cancel_execution(t.id(16));
SELECT ff.replay_execution(t.id(16)), ff.cancel_execution(t.id(16));
SELECT is(ff.replay_execution(t.id(16))->>'error', 'max_replays_exhausted', 'policy max_replay_count overrides');
SELECT t.invariants('replay');

-- claim_next recovers a dead worker's executions when asked to reclaim
SELECT ff.create_execution(t.id(30), lane_id => 'fleet');
SELECT ff.create_execution(t.id(31), lane_id => 'fleet');
SELECT ff.create_execution(t.id(32), lane_id => 'fleet');
SELECT count(*) FROM ff.claim_next('fleet', 'dead', 'dead-1', lease_ttl_ms => 1000, max_count => 2);
SELECT t.at(1000000004000);
SELECT is((SELECT array_agg(c.claim->>'attempt_type' ORDER BY c.claim->>'execution_id') FROM ff.claim_next('fleet', 'live', 'live-1', max_count => 10) c),
          ARRAY['initial'], 'without reclaim only eligible work is claimed');
SELECT ff.cancel_execution(t.id(32));
SELECT is((SELECT array_agg(c.claim->>'attempt_type' || '/' || (c.claim->>'lease_epoch') ORDER BY c.claim->>'execution_id') FROM ff.claim_next('fleet', 'live', 'live-1', max_count => 10, reclaim => true) c),
          ARRAY['reclaim/2', 'reclaim/2'], 'with reclaim the expired leases are taken over');
SELECT is((SELECT array_agg(event ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(30))), ARRAY['acquired', 'expired', 'reclaimed'],
          'marked expired, then reclaimed');
SELECT t.invariants('claim_next reclaim');

-- reclaim order: leases marked expired or revoked first, then leases past
-- their expiry not yet marked, each oldest first; only the asked lane
SELECT t.at(1000000010000);
SELECT ff.create_execution(t.id(n), lane_id => 'fleet2') FROM generate_series(40, 43) n;
SELECT ff.create_execution(t.id(44), lane_id => 'fleet3');
DO $$
BEGIN
  FOR n IN 0..3 LOOP   -- 40 .. 43, each lease 10 ms after the last
    PERFORM t.at(1000000010000 + 10 * n);
    PERFORM count(*) FROM ff.claim_next('fleet2', 'dead', 'dead-2', lease_ttl_ms => 1000);
  END LOOP;
END $$;
SELECT count(*) FROM ff.claim_next('fleet3', 'dead', 'dead-3', lease_ttl_ms => 1000);
SELECT t.at(1000000020000);
SELECT ff.mark_lease_expired_if_due(t.id(42)), ff.revoke_lease(t.id(43));
SELECT is((SELECT array_agg(c.claim->>'execution_id') FROM ff.claim_next('fleet2', 'live', 'live-2', max_count => 3, reclaim => true) c),
          ARRAY[t.id(42), t.id(43), t.id(40)], 'reclaim: marked expired, revoked, then the oldest lease past its expiry');
SELECT is((SELECT array_agg(c.claim->>'execution_id') FROM ff.claim_next('fleet2', 'live', 'live-2', max_count => 3, reclaim => true) c),
          ARRAY[t.id(41)], 'reclaim: the remaining lease past its expiry');
SELECT is((t.row(t.id(44))).ownership_state, 'leased'::ff.ownership_state, 'reclaim: another lane''s lost lease is left alone');
SELECT is((SELECT array_agg(x.execution_id ORDER BY x.execution_id) FROM ff.list_expired_leases(1000000020000) x WHERE x.execution_id LIKE '%00004_'),
          ARRAY[t.id(44)], 'list_expired_leases: the lease still past its expiry');
SELECT ff.mark_lease_expired_if_due(t.id(44));
SELECT is((SELECT array_agg(x.execution_id ORDER BY x.execution_id) FROM ff.list_expired_leases(1000000020000) x WHERE x.execution_id LIKE '%00004_'),
          ARRAY[t.id(44)], 'list_expired_leases: also once marked expired');
SELECT t.invariants('claim_next reclaim order');

-- lease history is capped near the newest 1000 events per execution (behaviour/execution §4.6)
SELECT ff.create_execution(t.id(70), lane_id => 'hist');
DO $$
BEGIN
  FOR i IN 1..560 LOOP
    PERFORM count(*) FROM ff.claim_next('hist', 'w', 'w-1');
    PERFORM ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 0) FROM t.row(t.id(70)) e;
    PERFORM ff.promote_delayed(t.id(70));
  END LOOP;
END $$;
SELECT is((t.row(t.id(70))).history_seq, 1120::bigint, '1120 lease events recorded');
SELECT cmp_ok((SELECT count(*) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(70))), '<=', 1020::bigint, 'history trimmed to about 1000');
SELECT cmp_ok((SELECT count(*) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(70))), '>=', 1000::bigint, 'the newest 1000 kept');
SELECT is((SELECT max(seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(70))), 1120::bigint, 'the newest event is kept');

-- behaviour/execution §C.7: a reclaimed attempt does not inherit the old attempt timeout
SELECT ff.create_execution(t.id(71));
SELECT ff.claim_execution(t.id(71), 'w1', 'w1-1', 'default', attempt_timeout_ms => 999) FROM ff.issue_claim_grant(t.id(71), 'w1', 'w1-1', 'default');
SELECT isnt((t.row(t.id(71))).attempt_timeout_at, NULL, 'the first attempt has a timeout');
SELECT ff.revoke_lease(t.id(71)), ff.issue_reclaim_grant(t.id(71), 'w2', 'w2-1', 'default');
SELECT ff.reclaim_execution(t.id(71), 'w2', 'w2-1', 'default');
SELECT is((t.row(t.id(71))).attempt_timeout_at, NULL, 'the reclaim attempt has none');

-- behaviour/execution §C.11: a resumed claim needs an unowned, eligible execution
SELECT ff.create_execution(t.id(72));
SELECT t.claim(t.id(72));
SELECT ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 9999999999999) FROM t.row(t.id(72)) e;
SELECT is(ff.claim_resumed_execution(t.id(72), 'w1', 'w1-1', 'default')->>'error', 'execution_not_leaseable',
          'resumed claim of a still-delayed interrupted execution -> execution_not_leaseable');
SELECT is(ff.issue_grant_and_claim(t.id(72), 'op', 'op-1', 'default')->>'error', 'execution_not_eligible',
          'grant-and-claim will not resume it out of its delay either');
SELECT is((t.row(t.id(72))).public_state, 'delayed', 'it stays delayed');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
