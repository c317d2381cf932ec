-- Bad input: every operation raises a clear error with a proper SQLSTATE
-- for misuse, and writes nothing (behaviour/execution §0.4, behaviour/README §3).
BEGIN;
\ir helpers.psql

SELECT ff.create_execution(t.id(1));
SELECT ff.create_execution(t.id(2));
SELECT t.claim(t.id(2));
SELECT t.snapshot() AS before \gset

CREATE TEMP TABLE bad(sql text, state text, what text);
INSERT INTO bad VALUES
  -- malformed ids
  ($$SELECT ff.create_execution('nope')$$, '22P02', 'create: malformed id'),
  ($$SELECT ff.create_execution('{fp:1}:zzzzzzzz-e29b-41d4-a716-446655440000')$$, '22P02', 'create: non-hex uuid'),
  ($$SELECT ff.claim_execution('{fp:1}', 'w', 'w-1', 'default')$$, '22P02', 'claim: malformed id'),
  ($$SELECT ff.complete_execution('x')$$, '22P02', 'complete: malformed id'),
  ($$SELECT ff.fail_execution('x')$$, '22P02', 'fail: malformed id'),
  ($$SELECT ff.cancel_execution('')$$, '22P02', 'cancel: empty id'),
  ($$SELECT ff.renew_lease('x', 0, gen_random_uuid(), gen_random_uuid(), 1)$$, '22P02', 'renew: malformed id'),
  ($$SELECT ff.promote_delayed('{fp:1}:')$$, '22P02', 'promote: malformed id'),
  ($$SELECT ff.change_priority('x', 1)$$, '22P02', 'change_priority: malformed id'),
  ($$SELECT ff.set_execution_tags('x', 'a.b', 'c')$$, '22P02', 'tags: malformed id'),
  ($$SELECT ff.issue_claim_grant('x', 'w', 'w-1', 'default')$$, '22P02', 'grant: malformed id'),
  ($$SELECT ff.describe_execution('x')$$, '22P02', 'describe: malformed id'),
  ($$SELECT ff.complete_execution(t.id(2), 'not-a-uuid', 1, gen_random_uuid())$$, '22P02', 'complete: malformed lease id'),
  -- NULLs where a value is required
  ($$SELECT ff.create_execution(NULL)$$, '22004', 'create: NULL id'),
  ($$SELECT ff.create_execution(t.id(3), namespace => NULL)$$, '22004', 'create: NULL namespace'),
  ($$SELECT ff.create_execution(t.id(3), lane_id => NULL)$$, '22004', 'create: NULL lane'),
  ($$SELECT ff.claim_execution(t.id(1), NULL, 'w-1', 'default')$$, '22004', 'claim: NULL worker'),
  ($$SELECT ff.claim_next(NULL, 'w', 'w-1')$$, '22004', 'claim_next: NULL lane'),
  ($$SELECT ff.claim_next('default', 'w', NULL)$$, '22004', 'claim_next: NULL instance'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', ARRAY['a', NULL])$$, '22004', 'claim_next: NULL capability'),
  ($$SELECT ff.renew_lease(t.id(2), NULL, gen_random_uuid(), gen_random_uuid(), 1)$$, '22004', 'renew: NULL attempt index'),
  ($$SELECT ff.renew_lease(t.id(2), 0, gen_random_uuid(), gen_random_uuid(), 1, NULL)$$, '22004', 'renew: NULL ttl'),
  ($$SELECT ff.delay_execution(t.id(2), gen_random_uuid(), 1, gen_random_uuid(), NULL)$$, '22004', 'delay: NULL delay_until'),
  ($$SELECT ff.change_priority(t.id(1), NULL)$$, '22004', 'change_priority: NULL'),
  ($$SELECT ff.issue_claim_grant(t.id(1), 'w', 'w-1', 'default', grant_ttl_ms => NULL)$$, '22004', 'grant: NULL ttl'),
  ($$SELECT ff.update_progress(t.id(2), NULL, NULL)$$, '22004', 'progress: NULL lease'),
  ($$SELECT ff.set_execution_tags(t.id(1), 'a.b', NULL)$$, '22004', 'tags: NULL value'),
  ($$SELECT ff.set_partition_config(NULL)$$, '22004', 'partition config: NULL'),
  -- out-of-range numbers and identifiers
  ($$SELECT ff.claim_execution(t.id(1), 'w', 'w-1', 'default', lease_ttl_ms => -1)$$, '22023', 'claim: negative ttl'),
  ($$SELECT ff.claim_execution(t.id(1), 'w', 'w-1', 'default', lease_ttl_ms => 0)$$, '22023', 'claim: zero ttl'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', lease_ttl_ms => -5)$$, '22023', 'claim_next: negative ttl'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', max_count => 0)$$, '22023', 'claim_next: zero batch'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', max_count => 1001)$$, '22023', 'claim_next: batch over 1000'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', attempt_timeout_ms => -1)$$, '22023', 'claim_next: negative attempt timeout'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', ARRAY['a b'])$$, '22023', 'claim_next: capability with a space'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', ARRAY['a,b'])$$, '22023', 'claim_next: capability with a comma'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', (SELECT array_agg('c' || g) FROM generate_series(1, 257) g))$$, '54000', 'claim_next: 257 capabilities'),
  ($$SELECT ff.claim_next('default', 'w w', 'w-1')$$, '22023', 'claim_next: worker id with whitespace'),
  ($$SELECT ff.claim_next('default', '', 'w-1')$$, '22023', 'claim_next: empty worker id'),
  ($$SELECT ff.claim_next('default', repeat('w', 257), 'w-1')$$, '22001', 'claim_next: worker id over 256 bytes'),
  ($$SELECT ff.claim_next(repeat('l', 65), 'w', 'w-1')$$, '22023', 'claim_next: lane over 64 bytes'),
  ($$SELECT ff.renew_lease(t.id(2), 0, gen_random_uuid(), gen_random_uuid(), 1, -1)$$, '22023', 'renew: negative ttl'),
  ($$SELECT ff.renew_lease(t.id(2), 0, gen_random_uuid(), gen_random_uuid(), 1, 1000, -1)$$, '22023', 'renew: negative grace'),
  ($$SELECT ff.issue_claim_grant(t.id(1), 'w', 'w-1', 'default', grant_ttl_ms => 0)$$, '22023', 'grant: zero ttl'),
  ($$SELECT ff.delay_execution(t.id(2), gen_random_uuid(), 1, gen_random_uuid(), -1)$$, '22023', 'delay: negative time'),
  ($$SELECT ff.update_progress(t.id(2), gen_random_uuid(), 1, 101)$$, '22023', 'progress: pct over 100'),
  ($$SELECT ff.create_execution(t.id(3), lane_id => '')$$, '22023', 'create: empty lane'),
  ($$SELECT ff.create_execution(t.id(3), lane_id => E'la\nne')$$, '22023', 'create: lane with newline'),
  ($$SELECT ff.create_execution(t.id(3), namespace => repeat('n', 300))$$, '22001', 'create: namespace over 256 bytes'),
  ($$SELECT ff.create_execution(t.id(3), tags => '[1, 2]')$$, '22023', 'create: tags not an object'),
  ($$SELECT ff.create_execution(t.id(3), tags => 'not json')$$, '22P02', 'create: tags not JSON'),
  ($$SELECT ff.create_execution(t.id(3), priority => 'high')$$, '22P02', 'create: non-numeric priority'),
  ($$SELECT ff.create_execution(t.id(3), input_payload => decode(repeat('ab', 1048577), 'hex'))$$, '54000', 'create: payload over 1 MiB'),
  ($$SELECT ff.complete_execution(t.id(2), result_payload => decode(repeat('ab', 1048577), 'hex'), source => 'operator_override')$$, '54000', 'complete: result over 1 MiB'),
  ($$SELECT ff.claim_execution(t.id(1), 'w', 'w-1', 'default', attempt_policy_json => '[1]')$$, '22023', 'claim: attempt policy not an object'),
  ($$SELECT ff.claim_execution(t.id(1), 'w', 'w-1', 'default', attempt_policy_json => '{bad')$$, '22023', 'claim: attempt policy malformed'),
  ($$SELECT ff.cancel_execution(t.id(2), 'x', 'lease_holder', gen_random_uuid(), NULL)$$, '22023', 'cancel: lease id without epoch'),
  ($$SELECT ff.set_execution_tags(t.id(1), VARIADIC ARRAY[['a.b', 'c'], ['d.e', 'f']])$$, '2202E', 'tags: two-dimensional pairs'),
  ($$SELECT ff.format_execution_id(-1::smallint, gen_random_uuid())$$, '22023', 'format: negative partition'),
  ($$SELECT ff.revoke_lease('x')$$, '22P02', 'revoke: malformed id'),
  ($$SELECT ff.revoke_lease(NULL)$$, '22004', 'revoke: NULL id'),
  ($$SELECT ff.revoke_lease(t.id(2), 'nope')$$, '22P02', 'revoke: malformed expected lease id'),
  ($$SELECT ff.revoke_lease(t.id(2), NULL, repeat('r', 1025))$$, '22001', 'revoke: reason over 1024 bytes'),
  ($$SELECT ff.issue_reclaim_grant(t.id(2), 'w', 'w-1', 'default', grant_ttl_ms => -1)$$, '22023', 'reclaim grant: negative ttl'),
  ($$SELECT ff.issue_reclaim_grant(t.id(2), NULL, 'w-1', 'default')$$, '22004', 'reclaim grant: NULL worker'),
  ($$SELECT ff.reclaim_execution(t.id(2), 'w', 'w-1', 'default', lease_ttl_ms => 0)$$, '22023', 'reclaim: zero ttl'),
  ($$SELECT ff.reclaim_execution(t.id(2), 'w', 'w-1', 'default', default_max_reclaim_count => -1)$$, '22023', 'reclaim: negative cap'),
  ($$SELECT ff.reclaim_execution(t.id(2), 'w', 'w-1', 'default', attempt_policy_json => '"x"')$$, '22023', 'reclaim: attempt policy not an object'),
  ($$SELECT ff.reclaim_execution('{fp:1}:x', 'w', 'w-1', 'default')$$, '22P02', 'reclaim: malformed id'),
  ($$SELECT ff.expire_execution(t.id(2), 'because')$$, '22023', 'expire: unknown reason'),
  ($$SELECT ff.expire_execution(NULL)$$, '22004', 'expire: NULL id'),
  ($$SELECT ff.replay_execution('nope')$$, '22P02', 'replay: malformed id'),
  ($$SELECT ff.replay_execution(t.id(1), repeat('x', 300))$$, '22001', 'replay: requested_by over 256 bytes'),
  ($$SELECT ff.block_execution_for_admission(t.id(1), NULL)$$, '22004', 'block: NULL reason'),
  ($$SELECT ff.block_execution_for_admission('x', 'waiting_for_budget')$$, '22P02', 'block: malformed id'),
  ($$SELECT ff.unblock_execution(t.id(1), expected_blocking_reason => 'whatever')$$, '22023', 'unblock: unknown reason'),
  ($$SELECT ff.claim_next('default', 'w', 'w-1', reclaim => true, lease_ttl_ms => -1)$$, '22023', 'claim_next reclaim: negative ttl'),
  ($$SET ff_engine.test_clock_ms = 'yesterday'$$, '22023', 'test clock: not a number'),
  ($$SET ff_engine.test_clock_ms = '-5'$$, '22023', 'test clock: negative');
SELECT throws_ok(b.sql, b.state, NULL, b.what) FROM bad b;
SELECT is(t.snapshot(), :'before', 'no bad call wrote anything');

-- domain refusals of the recovery operations write nothing either
SELECT is(ff.issue_reclaim_grant(t.id(2), 'w', 'w-1', 'default')->>'error', 'execution_not_reclaimable', 'reclaim grant on a healthy lease');
SELECT is(ff.reclaim_execution(t.id(2), 'w', 'w-1', 'default')->>'error', 'execution_not_reclaimable', 'reclaim of a healthy lease');
SELECT is(ff.replay_execution(t.id(1))->>'error', 'execution_not_terminal', 'replay of a waiting execution');
SELECT is(ff.block_execution_for_admission(t.id(1), 'waiting_for_signal')->>'error', 'invalid_blocking_reason', 'block with a non-admission reason');
SELECT is(ff.unblock_execution(t.id(1))->>'error', 'execution_not_eligible', 'unblock of an unblocked execution');
SELECT is(t.snapshot(), :'before', 'refusals wrote nothing');

-- the test clock is superuser-only
CREATE ROLE ff_bad_input_probe;
SET LOCAL ROLE ff_bad_input_probe;
SELECT throws_ok($$SET ff_engine.test_clock_ms = '5'$$, '42501', NULL, 'test clock: only a superuser may set it');
RESET ROLE;

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
