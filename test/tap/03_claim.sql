-- Grants and claims: behaviour/execution §3.2-§3.5, §5, checklist 10-20, and ff.claim_next.
BEGIN;
\ir helpers.psql

SELECT ff.create_execution(t.id(1));
SELECT ff.create_execution(t.id(2), delay_until => 1000000005000);

-- 10. grants
SELECT is(ff.issue_claim_grant(t.id(2), 'w1', 'w1-1', 'default'), '{"ok": false, "error": "execution_not_eligible"}',
          'grant on a delayed execution -> execution_not_eligible');
SELECT is(ff.issue_claim_grant(t.id(1), 'w1', 'w1-1', 'default', grant_ttl_ms => 1000),
          jsonb_build_object('ok', true, 'status', 'OK', 'execution_id', t.id(1), 'grant_expires_at', 1000000001000),
          'grant issued with its expiry');
SELECT is(ff.issue_claim_grant(t.id(1), 'w2', 'w2-1', 'default')->>'error', 'grant_already_exists', 'second live grant refused');
-- 11. the grant leaves the execution eligible; it expires and a new one succeeds
SELECT is((t.row(t.id(1))).eligibility_state, 'eligible_now', 'granted execution stays eligible');
SELECT is((SELECT count(*)::int FROM ff.claim_next('default', 'w2', 'w2-1')), 0, 'claim_next does not take an execution reserved by a live grant');
SELECT t.at(1000000001000);
SELECT is(ff.issue_claim_grant(t.id(1), 'w2', 'w2-1', 'default')->>'error', 'grant_already_exists', 'grant live while now <= expiry');
SELECT t.at(1000000001001);
SELECT is(ff.issue_claim_grant(t.id(1), 'w2', 'w2-1', 'default', grant_ttl_ms => 1000)->>'status', 'OK', 'after expiry a new grant succeeds');
SELECT is(ff.issue_claim_grant(t.id(1), 'w3', 'w3-1', 'other-lane')->>'error', 'grant_already_exists', 'live grant checked before lane');
SELECT t.at(1000000003000);
SELECT is(ff.issue_claim_grant(t.id(1), 'w3', 'w3-1', 'other-lane')->>'error', 'execution_not_in_eligible_set', 'wrong lane -> not in eligible set');
SELECT is(ff.issue_claim_grant(t.id(99), 'w3', 'w3-1', 'default')->>'error', 'execution_not_found', 'grant on a missing execution');

-- 12. capability mismatch is reported with the missing tokens and stamps the execution
SELECT ff.create_execution(t.id(3), policy_json => '{"routing_requirements": {"required_capabilities": ["gpu", "cuda", "avx"]}}');
SELECT is(ff.issue_claim_grant(t.id(3), 'w1', 'w1-1', 'default', worker_capabilities_csv => 'gpu,ssd'),
          '{"ok": false, "error": "capability_mismatch", "missing": "avx,cuda"}', 'mismatch lists the sorted missing tokens');
SELECT is((t.row(t.id(3))).last_capability_mismatch_at, 1000000003000::bigint, 'last_capability_mismatch_at set despite the error');
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = (ff.parse_execution_id(t.id(3))).execution_uuid), 0, 'no grant written on mismatch');
SELECT is(ff.issue_claim_grant(t.id(3), 'w1', 'w1-1', 'default', worker_capabilities_csv => 'GPU,cuda,avx')->>'error',
          'capability_mismatch', 'matching is case-sensitive');
SELECT is(ff.issue_claim_grant(t.id(3), 'w1', 'w1-1', 'default', worker_capabilities_csv => 'avx,,cuda,gpu,x')->>'status',
          'OK', 'superset of the requirement (empty tokens skipped) gets a grant');
SELECT is(ff.issue_claim_grant(t.id(1), 'w1', 'w1-1', 'default', worker_capabilities_csv => repeat('a', 4097))->>'error',
          'invalid_capabilities', 'worker CSV over 4096 bytes -> invalid_capabilities');

-- 13-15. claiming with grants
SELECT is(ff.claim_execution(t.id(3), 'w9', 'w9-1', 'default')->>'error', 'invalid_claim_grant', 'grant of another worker_id -> invalid_claim_grant');
SELECT is(ff.claim_execution(t.id(3), 'w1', 'other-instance', 'default', lease_ttl_ms => 5000)->>'status', 'OK',
          'same worker_id, different instance -> claims');
SELECT is(ff.claim_execution(t.id(1), 'w1', 'w1-1', 'default')->>'error', 'invalid_claim_grant', 'no grant -> invalid_claim_grant');
SELECT ff.create_execution(t.id(4));
SELECT ff.issue_claim_grant(t.id(4), 'w1', 'w1-1', 'default', grant_ttl_ms => 100);
SELECT t.at(1000000003101);
SELECT is(ff.claim_execution(t.id(4), 'w1', 'w1-1', 'default')->>'error', 'claim_grant_expired', 'expired grant -> claim_grant_expired');
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = (ff.parse_execution_id(t.id(4))).execution_uuid), 1, 'expired grant left in place');
SELECT ff.issue_claim_grant(t.id(4), 'w1', 'w1-1', 'default');
SELECT is(ff.claim_execution(t.id(4), 'w1', 'w1-1', 'default')->>'status', 'OK', 'claim consumes the grant');
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = (ff.parse_execution_id(t.id(4))).execution_uuid), 0, 'grant consumed');
SELECT t.invariants('grant claims');

-- 16. first claim: index 0, type initial, epoch 1, started_at, total 1, history acquired
SELECT ff.create_execution(t.id(5));
SELECT ff.issue_claim_grant(t.id(5), 'w1', 'w1-1', 'default');
SELECT ff.claim_execution(t.id(5), 'w1', 'w1-1', 'default', lease_id => 'aaaaaaaa-0000-4000-8000-000000000001',
                          attempt_id => 'bbbbbbbb-0000-4000-8000-000000000001', lease_ttl_ms => 9000) AS c \gset
SELECT is(:'c'::jsonb, jsonb_build_object('ok', true, 'status', 'OK', 'execution_id', t.id(5),
          'lease_id', 'aaaaaaaa-0000-4000-8000-000000000001', 'lease_epoch', 1, 'lease_expires_at', 1000000012101,
          'attempt_id', 'bbbbbbbb-0000-4000-8000-000000000001', 'attempt_index', 0, 'attempt_type', 'initial',
          'namespace', 'default', 'execution_kind', ''), 'claim result (with the kind and namespace a worker dispatches on)');
SELECT is(ARRAY[e.lifecycle_phase::text, e.ownership_state::text, e.eligibility_state::text, e.blocking_reason::text,
                e.attempt_state::text, e.public_state::text],
          ARRAY['active', 'leased', 'not_applicable', 'none', 'running_attempt', 'active'], 'claimed state vector') FROM t.row(t.id(5)) e;
SELECT is(ARRAY[e.total_attempt_count::bigint, e.current_attempt_index, e.started_at, e.lease_renewal_deadline],
          ARRAY[1, 0, 1000000003101, 1000000003101 + 6000]::bigint[], 'counters, started_at, renewal deadline = 2/3 ttl') FROM t.row(t.id(5)) e;
SELECT is((SELECT array_agg(event || ':' || lease_epoch || ':' || attempt_index) FROM ff.lease_history
           WHERE execution_id = (ff.parse_execution_id(t.id(5))).execution_uuid), ARRAY['acquired:1:0'], 'history: acquired');
SELECT is((SELECT attempt_type::text || '/' || attempt_state FROM ff.attempt WHERE execution_id = (ff.parse_execution_id(t.id(5))).execution_uuid),
          'initial/started', 'attempt record created started');

-- 19. claim on an active execution
SELECT ff.issue_claim_grant(t.id(1), 'w1', 'w1-1', 'default');
SELECT ff.claim_execution(t.id(1), 'w1', 'w1-1', 'default');
SELECT is(ff.claim_execution(t.id(1), 'w1', 'w1-1', 'default')->>'error', 'execution_not_leaseable', 'claim on active -> execution_not_leaseable');
SELECT is(ff.issue_claim_grant(t.id(1), 'w1', 'w1-1', 'default')->>'error', 'execution_not_eligible', 'grant on active -> execution_not_eligible');

-- 17-18. interrupted attempts need the resumed claim, which keeps the attempt
SELECT ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 1000000003101) FROM t.row(t.id(5)) e;
SELECT is((ff.promote_delayed(t.id(5)))->>'result', 'promoted', 'promoted after delay');
SELECT ff.issue_claim_grant(t.id(5), 'w2', 'w2-1', 'default');
SELECT is(ff.claim_execution(t.id(5), 'w2', 'w2-1', 'default')->>'error', 'use_claim_resumed_execution', 'fresh claim of interrupted -> use_claim_resumed_execution');
SELECT is(ff.claim_resumed_execution(t.id(4), 'w2', 'w2-1', 'default')->>'error', 'execution_not_leaseable', 'resumed claim of active -> not leaseable');
SELECT ff.create_execution(t.id(6));
SELECT is(ff.claim_resumed_execution(t.id(6), 'w2', 'w2-1', 'default')->>'error', 'not_a_resumed_execution', 'resumed claim of a fresh execution -> not_a_resumed_execution');
SELECT t.at(1000000004000);
SELECT ff.claim_resumed_execution(t.id(5), 'w2', 'w2-2', 'default', lease_ttl_ms => 3000) AS r \gset
SELECT is(:'r'::jsonb - 'lease_id', jsonb_build_object('ok', true, 'status', 'OK', 'execution_id', t.id(5), 'lease_epoch', 2,
          'lease_expires_at', 1000000007000, 'attempt_id', 'bbbbbbbb-0000-4000-8000-000000000001', 'attempt_index', 0,
          'attempt_type', 'resumed', 'namespace', 'default', 'execution_kind', ''), 'resumed claim keeps attempt index and id, bumps the epoch');
SELECT is(ARRAY[e.total_attempt_count::bigint, e.started_at], ARRAY[1, 1000000003101]::bigint[], 'total_attempt_count and started_at unchanged') FROM t.row(t.id(5)) e;
SELECT is((SELECT ARRAY[attempt_state::text, resumed_at::text, worker_instance_id, suspension_id] FROM ff.attempt WHERE execution_id = (ff.parse_execution_id(t.id(5))).execution_uuid),
          ARRAY['started', '1000000004000', 'w2-2', NULL], 'attempt resumed');
SELECT is((SELECT reason FROM ff.lease_history WHERE execution_id = (ff.parse_execution_id(t.id(5))).execution_uuid ORDER BY seq DESC LIMIT 1),
          'claim_resumed', 'history acquired with reason claim_resumed');
SELECT t.invariants('resumed claim');

-- 20. issue_grant_and_claim: no capability check, three fields, no grant left, refuses a live grant
SELECT ff.create_execution(t.id(7), policy_json => '{"routing_requirements": {"required_capabilities": ["quantum"]}}');
SELECT is(ff.issue_grant_and_claim(t.id(7), 'op', 'op-1', 'default', lease_id => 'aaaaaaaa-0000-4000-8000-000000000007'),
          '{"ok": true, "status": "OK", "lease_id": "aaaaaaaa-0000-4000-8000-000000000007", "lease_epoch": 1, "attempt_index": 0}',
          'grant-and-claim ignores capabilities and returns three fields');
SELECT is((SELECT reason FROM ff.lease_history WHERE execution_id = (ff.parse_execution_id(t.id(7))).execution_uuid),
          'issue_grant_and_claim', 'history reason issue_grant_and_claim');
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = (ff.parse_execution_id(t.id(7))).execution_uuid), 0, 'no grant left after success');
SELECT is(ff.issue_grant_and_claim(t.id(7), 'op', 'op-1', 'default')->>'error', 'execution_not_eligible', 'grant-and-claim on an active execution -> execution_not_eligible (phase is checked first)');
SELECT ff.create_execution(t.id(8));
SELECT ff.issue_claim_grant(t.id(8), 'w1', 'w1-1', 'default');
SELECT is(ff.issue_grant_and_claim(t.id(8), 'op', 'op-1', 'default')->>'error', 'grant_already_exists', 'refuses while a grant exists');
SELECT is(ff.issue_grant_and_claim(t.id(2), 'op', 'op-1', 'default')->>'error', 'execution_not_eligible', 'refuses a delayed execution');
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = (ff.parse_execution_id(t.id(2))).execution_uuid), 0, 'no grant left after a refusal');

-- claim_next: capabilities, batches, resumes, payloads
SELECT ff.create_execution(t.id(40), lane_id => 'caps', policy_json => '{"routing_requirements": {"required_capabilities": ["gpu"]}}', priority => 9);
SELECT ff.create_execution(t.id(41), lane_id => 'caps', input_payload => 'hello');
SELECT is((SELECT array_agg(claim->>'execution_id') FROM ff.claim_next('caps', 'cpu', 'cpu-1', '{cpu}', max_count => 5)),
          ARRAY[t.id(41)], 'a worker without the capability skips the gpu execution');
SELECT is((SELECT input_payload FROM ff.claim_next('caps', 'gpu', 'gpu-1', '{gpu,cpu}')), NULL, 'capable worker claims it (no payload stored)');
SELECT is((SELECT count(*)::int FROM ff.claim_next('caps', 'gpu', 'gpu-1', '{gpu}')), 0, 'no row when there is no work');
SELECT ff.create_execution(t.id(42), lane_id => 'pay', input_payload => '\x010203');
SELECT is((SELECT input_payload FROM ff.claim_next('pay', 'w', 'w-1')), '\x010203'::bytea, 'claim_next returns the payload');
SELECT ff.create_execution(t.id(50 + g), lane_id => 'batch') FROM generate_series(0, 9) g;
SELECT is((SELECT count(DISTINCT claim->>'lease_id')::int FROM ff.claim_next('batch', 'w', 'w-1', max_count => 7)), 7, 'a batch claims each execution with its own lease');
SELECT is((SELECT count(*)::int FROM ff.claim_next('batch', 'w', 'w-1', max_count => 7)), 3, 'the rest of the lane');
SELECT is((SELECT count(*)::int FROM ff.attempt WHERE execution_id IN (SELECT (ff.parse_execution_id(t.id(50 + g))).execution_uuid FROM generate_series(0, 9) g)),
          10, 'one attempt per batch claim');
SELECT ff.create_execution(t.id(60), lane_id => 'resume');
SELECT ff.claim_next('resume', 'w', 'w-1');
SELECT ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 0) FROM t.row(t.id(60)) e;
SELECT ff.promote_delayed(t.id(60));
SELECT is((SELECT claim->>'attempt_type' || '/' || (claim->>'attempt_index') || '/' || (claim->>'lease_epoch') FROM ff.claim_next('resume', 'w', 'w-2')),
          'resumed/0/2', 'claim_next resumes an interrupted execution on its attempt');
SELECT t.invariants('claim_next');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
-- a claim carries what a worker dispatches on: the kind and the namespace
SELECT ff.create_execution(t.id(70), namespace => 'mailns', lane_id => 'kinds', execution_kind => 'send_mail');
SELECT is((SELECT claim ->> 'execution_kind' || ' ' || (claim ->> 'namespace') FROM ff.claim_next('kinds', 'wk', 'wk-1')),
          'send_mail mailns', 'claim_next''s claim names the execution''s kind and namespace');
SELECT * FROM finish();
ROLLBACK;
