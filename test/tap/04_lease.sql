-- Leases: behaviour/execution §3.6, §3.7, §3.17, §4, checklist 21-25.
BEGIN;
\ir helpers.psql

SELECT ff.create_execution(t.id(1));
SELECT t.claim(t.id(1), ttl => 10000);
SELECT t.row(t.id(1)) AS before \gset

-- 21. renew extends to now + ttl, keeps lease id and epoch, no history
SELECT t.at(1000000004000);
SELECT is(t.renew(t.id(1), 20000), '{"ok": true, "status": "OK", "lease_expires_at": 1000000024000}', 'renew returns the new expiry');
SELECT is(ARRAY[e.lease_expires_at, e.lease_last_renewed_at, e.lease_renewal_deadline, e.last_mutation_at],
          ARRAY[1000000024000, 1000000004000, 1000000004000 + 13333, 1000000004000]::bigint[], 'renew writes expiry, renewal time, deadline') FROM t.row(t.id(1)) e;
SELECT is((t.row(t.id(1))).current_lease_id, (:'before'::ff.executions).current_lease_id, 'lease id unchanged');
SELECT is((t.row(t.id(1))).current_lease_epoch, 1::bigint, 'epoch unchanged');
SELECT is((t.row(t.id(1))).last_transition_at, 1000000000000::bigint, 'last_transition_at untouched');
SELECT is((SELECT count(*)::int FROM ff.lease_history WHERE event <> 'acquired'), 0, 'renew appends no history');

-- 22. fence rules on renew
SELECT is(ff.renew_lease(t.id(1), 0, NULL, NULL, NULL), '{"ok": false, "error": "fence_required"}', 'empty fence -> fence_required');
SELECT is(ff.renew_lease(e.id, 0, e.current_attempt_id, e.current_lease_id, NULL), '{"ok": false, "error": "partial_fence_triple"}',
          '2 of 3 fence fields -> partial_fence_triple') FROM t.row(t.id(1)) e;
SELECT is(ff.renew_lease(e.id, 1, e.current_attempt_id, e.current_lease_id, e.current_lease_epoch)->>'error', 'stale_lease',
          'wrong attempt index -> stale_lease') FROM t.row(t.id(1)) e;
SELECT is(ff.renew_lease(e.id, 0, e.current_attempt_id, gen_random_uuid(), e.current_lease_epoch)->>'error', 'stale_lease',
          'wrong lease id -> stale_lease') FROM t.row(t.id(1)) e;
SELECT is(ff.renew_lease(e.id, 0, e.current_attempt_id, e.current_lease_id, 7)->>'error', 'stale_lease',
          'wrong epoch -> stale_lease') FROM t.row(t.id(1)) e;
SELECT is(ff.renew_lease(e.id, 0, gen_random_uuid(), e.current_lease_id, e.current_lease_epoch)->>'error', 'stale_lease',
          'wrong attempt id -> stale_lease') FROM t.row(t.id(1)) e;
SELECT is(ff.renew_lease(t.id(99), 0, gen_random_uuid(), gen_random_uuid(), 1)->>'error', 'execution_not_found', 'renew of a missing execution');

-- progress (lite lease check)
SELECT is(ff.update_progress(e.id, e.current_lease_id, e.current_lease_epoch, 40, 'halfway'), '{"ok": true, "status": "OK"}', 'progress accepted')
  FROM t.row(t.id(1)) e;
SELECT is(ARRAY[e.progress_pct::text, e.progress_message, e.progress_updated_at::text], ARRAY['40', 'halfway', '1000000004000'], 'progress stored')
  FROM t.row(t.id(1)) e;
SELECT is(ff.update_progress(e.id, gen_random_uuid(), e.current_lease_epoch, 50)->>'error', 'stale_lease', 'progress with a wrong lease -> stale_lease')
  FROM t.row(t.id(1)) e;
SELECT t.invariants('renew and progress');

-- 23. renew / complete after expiry (no scanner): marked, history once, stream closed, lease_expired
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at)
    SELECT partition, execution_id, 0, 1 FROM ff.execution WHERE execution_id = (ff.parse_execution_id(t.id(1))).execution_uuid;
SELECT t.at(1000000024000);
SELECT is(ff.update_progress(e.id, e.current_lease_id, e.current_lease_epoch, 60)->>'error', 'lease_expired', 'progress at expiry -> lease_expired')
  FROM t.row(t.id(1)) e;
SELECT is((t.row(t.id(1))).ownership_state, 'leased', 'progress does not mark the expiry');
SELECT is(t.renew(t.id(1)), '{"ok": false, "error": "lease_expired"}', 'renew at expiry -> lease_expired');
SELECT is(ARRAY[e.ownership_state::text, e.public_state::text, e.attempt_state::text, e.blocking_reason::text, e.blocking_detail, e.lease_expired_at::text],
          ARRAY['lease_expired_reclaimable', 'active', 'attempt_interrupted', 'waiting_for_worker', 'lease expired, awaiting reclaim', '1000000024000'],
          'marked expired, public state still active') FROM t.row(t.id(1)) e;
SELECT is((SELECT count(*)::int FROM ff.lease_history WHERE event = 'expired'), 1, 'one expired event');
SELECT is((SELECT closed_reason FROM ff.stream_meta), 'lease_expired', 'attempt stream closed with lease_expired');
SELECT is((SELECT attempt_state::text FROM ff.attempt), 'started', 'attempt record untouched by expiry');
SELECT is(t.complete(t.id(1)), '{"ok": false, "error": "lease_expired"}', 'complete after expiry -> lease_expired');
SELECT is(t.renew(t.id(1)), '{"ok": false, "error": "lease_expired"}', 'second renew -> lease_expired');
SELECT is((SELECT count(*)::int FROM ff.lease_history WHERE event = 'expired'), 1, 'still one expired event');
SELECT is(ff.update_progress(e.id, e.current_lease_id, e.current_lease_epoch, 60)->>'error', 'lease_expired', 'progress on a marked lease -> lease_expired')
  FROM t.row(t.id(1)) e;
SELECT t.invariants('lazy expiry');

-- 24. a caller with a wrong fence still triggers the marking (expiry before identity)
SELECT ff.create_execution(t.id(2));
SELECT t.claim(t.id(2), ttl => 1000);
SELECT t.at(1000000025000);
SELECT is(ff.complete_execution(t.id(2), gen_random_uuid(), 99, gen_random_uuid())->>'error', 'lease_expired', 'wrong fence past expiry -> lease_expired');
SELECT is((t.row(t.id(2))).ownership_state, 'lease_expired_reclaimable', 'the wrong caller marked it');
SELECT is(ff.fail_execution(t.id(2), gen_random_uuid(), 99, gen_random_uuid())->>'error', 'lease_expired', 'fail on a marked lease -> lease_expired');

-- 25. the scanner step: only due leases; a renewed lease is not_yet_expired
SELECT ff.create_execution(t.id(3));
SELECT t.claim(t.id(3), ttl => 5000);
SELECT is(ff.mark_lease_expired_if_due(t.id(3)), '{"ok": true, "reason": "not_yet_expired", "status": "ALREADY_SATISFIED"}', 'not due -> not_yet_expired');
SELECT t.at(1000000029000);
SELECT t.renew(t.id(3), 1001);
SELECT t.at(1000000030000);
SELECT is((ff.mark_lease_expired_if_due(t.id(3)))->>'reason', 'not_yet_expired', 'lease renewed past the old expiry -> not_yet_expired');
SELECT is((t.row(t.id(3))).ownership_state, 'leased', 'and unchanged');
SELECT t.at(1000000030001);
SELECT is(ff.mark_lease_expired_if_due(t.id(3)), '{"ok": true, "result": "marked_expired", "status": "OK"}', 'due -> marked_expired');
SELECT is((ff.mark_lease_expired_if_due(t.id(3)))->>'reason', 'already_expired', 'again -> already_expired');
SELECT t.at(1000000029500);
SELECT is(t.renew(t.id(3)), '{"ok": false, "error": "lease_expired"}', 'a marked lease is never renewed, even by a clock reading earlier');
SELECT is(t.complete(t.id(3)), '{"ok": false, "error": "lease_expired"}', 'nor completed');
SELECT is((t.row(t.id(3))).ownership_state, 'lease_expired_reclaimable', 'still expired');
SELECT t.at(1000000030001);
SELECT is((ff.mark_lease_expired_if_due(t.id(99)))->>'reason', 'execution_not_found', 'missing -> execution_not_found');
SELECT ff.create_execution(t.id(4));
SELECT is((ff.mark_lease_expired_if_due(t.id(4)))->>'reason', 'not_active', 'runnable -> not_active');
SELECT t.invariants('scanner marking');

-- behaviour/execution §4.6 storage: one ff.lease_log row per lease; the view unfolds its events
-- (a claim through issue_grant_and_claim writes its rows at once)
SELECT ff.create_execution(t.id(400));
SELECT ff.issue_grant_and_claim(t.id(400), 'w1', 'w1-1', 'default'), t.complete(t.id(400));
SELECT is((SELECT count(*)::int FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(400))), 1,
          'a claimed and completed execution has one lease row');
SELECT is((SELECT event || '/' || end_event || ':' || end_reason || '/' || (end_seq = seq + 1) FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(400))),
          'acquired/released:completed/true', 'the lease row holds its acquisition and its end, each with its own seq');
SELECT is((SELECT array_agg(event || ':' || coalesce(reason, '') || ':' || lease_epoch ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(400))),
          ARRAY['acquired:issue_grant_and_claim:1', 'released:completed:1'], 'ff.lease_history shows the two events');
-- a plain claim's first attempt and lease are held on the execution row
SELECT ff.create_execution(t.id(404));
SELECT t.claim(t.id(404)) AS held_claim \gset
SELECT is((SELECT count(*)::int FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(404)))
          + (SELECT count(*)::int FROM ff.attempt_record WHERE execution_id = t.exec_uuid(t.id(404))), 0,
          'held: a plain claim writes no attempt or lease row');
SELECT is((SELECT attempt_state || ':' || attempt_type || ':' || (lease_id = (:'held_claim'::jsonb->>'lease_id')::uuid) || ':' || worker_id || ':' || lease_epoch
           FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(404))), 'started:initial:true:w1:1', 'held: ff.attempt shows the running attempt');
SELECT is((SELECT array_agg(event || ':' || worker_instance_id ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(404))),
          ARRAY['acquired:w1-1'], 'held: ff.lease_history shows the acquisition');
SELECT t.at(ff.now_ms() + 7);
SELECT t.complete(t.id(404));
SELECT is((SELECT count(*)::int FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(404)))
          + (SELECT count(*)::int FROM ff.attempt_record WHERE execution_id = t.exec_uuid(t.id(404))), 0,
          'held: its completion writes none either');
SELECT is((SELECT attempt_state || ':' || (ended_at - started_at) || ':' || (lease_id = (:'held_claim'::jsonb->>'lease_id')::uuid) || ':' || worker_instance_id
           FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(404))), 'ended_success:7:true:w1-1', 'held: ff.attempt shows it ended, with its lease');
SELECT is((SELECT array_agg(event || ':' || coalesce(reason, '') || ':' || seq ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(404))),
          ARRAY['acquired::1', 'released:completed:2'], 'held: ff.lease_history shows acquired and released');
SELECT is((SELECT current_lease_id::text || current_worker_id FROM ff.executions WHERE id = t.id(404)), NULL, 'held: the lease is released on the execution');
-- a replay writes the held attempt and lease out as rows first
SELECT ff.replay_execution(t.id(404));
SELECT is((SELECT array_agg(attempt_index || ':' || attempt_state ORDER BY attempt_index) FROM ff.attempt_record WHERE execution_id = t.exec_uuid(t.id(404))),
          ARRAY['0:ended_success'], 'replay: the held attempt is written out, ended');
SELECT is((SELECT array_agg(event ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(404))),
          ARRAY['acquired', 'released', 'replay_initiated'], 'replay: the history reads on, in order');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE held_attempt_seq IS NOT NULL AND execution_id = t.exec_uuid(t.id(404))), 0, 'replay: nothing held any more');
SELECT ff.create_execution(t.id(401));
SELECT t.claim(t.id(401), ttl => 1000);
SELECT t.at(ff.now_ms() + 5000);
SELECT ff.mark_lease_expired_if_due(t.id(401));
SELECT ok((SELECT expired_seq IS NOT NULL AND end_seq IS NULL FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(401))),
          'an expiry is marked in the lease row, which stays open');
SELECT ff.cancel_execution(t.id(401), 'stop', 'operator_override');
SELECT is((SELECT array_agg(event ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(401))),
          ARRAY['acquired', 'expired', 'released'], 'acquired, expired, released: three events of one row');
SELECT is((SELECT count(*)::int FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(401))), 1, 'still one row');
SELECT ff.create_execution(t.id(403));
SELECT t.claim(t.id(403));
SELECT ff.revoke_lease(t.id(403));
SELECT is((SELECT event || '/' || end_event FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(403))), 'acquired/revoked',
          'a revoke ends the lease in its row');
-- a 0.1.0 event row (one per event) for the held lease takes the end in place
SELECT ff.create_execution(t.id(402));
SELECT ff.issue_grant_and_claim(t.id(402), 'w1', 'w1-1', 'default');
UPDATE ff.lease_log SET lease_epoch = 0 WHERE execution_id = t.exec_uuid(t.id(402));
SELECT t.complete(t.id(402));
SELECT is((SELECT array_agg(event ORDER BY seq) FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(402))),
          ARRAY['acquired', 'released'], 'an end whose lease has no row of its own gets an event row');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
