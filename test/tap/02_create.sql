-- create_execution: behaviour/execution §3.1, checklist 3-8.
BEGIN;
\ir helpers.psql

-- 3. priority clamp and claim order
SELECT ff.create_execution(t.id(1), priority => 10000);
SELECT ff.create_execution(t.id(2), priority => -5);
SELECT ff.create_execution(t.id(3), priority => 50);
SELECT is((t.row(t.id(1))).priority, 9000, 'priority 10000 stored as 9000');
SELECT is((t.row(t.id(2))).priority, 0, 'priority -5 stored as 0');
SELECT is((t.row(t.id(3))).priority, 50, 'priority 50 stored as 50');
SELECT t.at(1000000000001);
SELECT ff.create_execution(t.id(4), priority => 50);
SELECT is(array_agg(c.claim->>'execution_id' ORDER BY ord),
          ARRAY[t.id(1), t.id(3), t.id(4), t.id(2)],
          'higher priority first, equal priority by created_at')
  FROM ff.claim_next('default', 'w1', 'w1-1', max_count => 10) WITH ORDINALITY AS c(claim, payload, ord);
SELECT t.invariants('claims in priority order');

-- 4. future delay_until -> delayed; past -> waiting (and eligible, not delayed)
SELECT is(ff.create_execution(t.id(5), delay_until => 1000000005000)->>'public_state', 'delayed', 'future delay_until gives delayed');
SELECT is((t.row(t.id(5))).delay_until, 1000000005000::bigint, 'delayed at that time');
SELECT is((t.row(t.id(5))).blocking_reason, 'waiting_for_delay', 'blocking reason waiting_for_delay');
SELECT is((t.row(t.id(5))).blocking_detail, 'delayed until 1000000005000', 'blocking detail');
SELECT is(ff.create_execution(t.id(6), delay_until => 999999999000)->>'public_state', 'waiting', 'past delay_until gives waiting');
SELECT is((t.row(t.id(6))).eligibility_state, 'eligible_now', 'past delay: eligible_now');
SELECT is((t.row(t.id(6))).delay_until, NULL, 'past delay: no delay_until (not in DELAYED)');
SELECT is((SELECT count(*)::int FROM ff.claim_next('default', 'w1', 'w1-1', max_count => 10)), 1,
          'only the past-delay execution is claimable');
SELECT t.invariants('create with delays');

-- 5. the same id twice -> DUPLICATE, nothing changed
SELECT ff.create_execution(t.id(7), execution_kind => 'first', input_payload => 'one');
SELECT t.snapshot() AS before \gset
SELECT is(ff.create_execution(t.id(7), execution_kind => 'second', input_payload => 'two'),
          jsonb_build_object('ok', true, 'status', 'DUPLICATE', 'execution_id', t.id(7)), 'same id -> DUPLICATE with that id');
SELECT is(t.snapshot(), :'before', 'duplicate changed nothing');
SELECT is((ff.read_execution_context(t.id(7))).input_payload, 'one'::bytea, 'first payload kept');

-- 6. idempotency key: same namespace -> first id; other namespace -> new; after TTL -> new
SELECT ff.create_execution(t.id(8), idempotency_key => 'k1', dedup_ttl_ms => 1000);
SELECT is(ff.create_execution(t.id(9), idempotency_key => 'k1'),
          jsonb_build_object('ok', true, 'status', 'DUPLICATE', 'execution_id', t.id(8)), 'same key -> DUPLICATE carrying the first id');
SELECT is((SELECT count(*)::int FROM ff.executions WHERE id = t.id(9)), 0, 'no second execution');
SELECT is(ff.create_execution(t.id(10), namespace => 'other', idempotency_key => 'k1')->>'status', 'OK', 'different namespace -> new execution');
SELECT t.at(1000000001002);
SELECT is(ff.create_execution(t.id(11), idempotency_key => 'k1')->>'status', 'OK', 'after TTL expiry -> new execution');
SELECT is(ff.create_execution(t.id(12), idempotency_key => 'k1')->>'execution_id', t.id(11), 'the key now maps to the new execution');
SELECT ff.create_execution(t.id(13), idempotency_key => 'k0', dedup_ttl_ms => 0);
SELECT is(ff.create_execution(t.id(14), idempotency_key => 'k0')->>'status', 'OK', 'dedup_ttl_ms 0 records nothing');

-- 7. a duplicate wins over an invalid policy
SELECT is(ff.create_execution(t.id(7), policy_json => '{not json')->>'status', 'DUPLICATE', 'duplicate id wins over invalid policy');
SELECT is(ff.create_execution(t.id(15), idempotency_key => 'k1', policy_json => '{"routing_requirements": 5}')->>'status',
          'DUPLICATE', 'duplicate key wins over invalid policy');

-- 8. policy validation, no partial record on any error
SELECT t.snapshot() AS before \gset
CREATE TEMP TABLE bad_policy(policy text, code text, detail text);
INSERT INTO bad_policy VALUES
  ('{not json', 'invalid_policy_json', 'malformed'),
  ('{"routing_requirements": 5}', 'invalid_policy_json', 'routing_requirements:not_object'),
  ('{"routing_requirements": null}', 'invalid_policy_json', 'routing_requirements:not_object'),
  ('{"routing_requirements": {"required_capabilities": "gpu"}}', 'invalid_capabilities', 'required:not_array'),
  ('{"routing_requirements": {"required_capabilities": null}}', 'invalid_capabilities', 'required:not_array'),
  ('{"routing_requirements": {"required_capabilities": {"gpu": true}}}', 'invalid_capabilities', 'required:not_array'),
  ('{"routing_requirements": {"required_capabilities": ["gpu", null]}}', 'invalid_capabilities', 'required:non_string_token'),
  ('{"routing_requirements": {"required_capabilities": ["gpu", 5]}}', 'invalid_capabilities', 'required:non_string_token'),
  ('{"routing_requirements": {"required_capabilities": [""]}}', 'invalid_capabilities', 'required:empty_token'),
  ('{"routing_requirements": {"required_capabilities": ["a,b"]}}', 'invalid_capabilities', 'required:comma_in_token'),
  ('{"routing_requirements": {"required_capabilities": ["gpu "]}}', 'invalid_capabilities', 'required:control_or_whitespace'),
  ('{"routing_requirements": {"required_capabilities": ["a\n"]}}', 'invalid_capabilities', 'required:control_or_whitespace'),
  ('{"routing_requirements": {"required_capabilities": ["\u007f"]}}', 'invalid_capabilities', 'required:control_or_whitespace'),
  ((SELECT jsonb_build_object('routing_requirements', jsonb_build_object('required_capabilities',
       (SELECT jsonb_agg('c' || g) FROM generate_series(1, 257) g)))::text), 'invalid_capabilities', 'required:too_many_tokens'),
  ((SELECT jsonb_build_object('routing_requirements', jsonb_build_object('required_capabilities',
       jsonb_build_array(repeat('a', 2048), repeat('b', 2048))))::text), 'invalid_capabilities', 'required:too_many_bytes');
SELECT is(ff.create_execution(t.id(20), policy_json => b.policy),
          jsonb_build_object('ok', false, 'error', b.code, 'detail', b.detail),
          format('policy %s -> %s/%s', left(b.policy, 60), b.code, b.detail))
  FROM bad_policy b;
SELECT is(t.snapshot(), :'before', 'no partial record left by any invalid policy');

SELECT is(ff.create_execution(t.id(21), policy_json => '{"routing_requirements": {"required_capabilities": ["东京-gpu"]}}')->>'status',
          'OK', 'UTF-8 token accepted');
SELECT is(ff.create_execution(t.id(22), policy_json => (SELECT jsonb_build_object('routing_requirements', jsonb_build_object('required_capabilities',
       (SELECT jsonb_agg('c' || g) FROM generate_series(1, 256) g)))::text))->>'status', 'OK', '256 tokens accepted');
SELECT is(ff.create_execution(t.id(23), policy_json => (SELECT jsonb_build_object('routing_requirements', jsonb_build_object('required_capabilities',
       jsonb_build_array(repeat('a', 2047), repeat('b', 2048))))::text))->>'status', 'OK', 'CSV of exactly 4096 bytes accepted');
SELECT ff.create_execution(t.id(24), policy_json => '{"routing_requirements": {"required_capabilities": ["zeta", "alpha", "mid"]}}');
SELECT is((t.row(t.id(24))).required_capabilities, ARRAY['alpha', 'mid', 'zeta'], 'required capabilities stored sorted');
SELECT is(ff.create_execution(t.id(25), policy_json => '42')->>'status', 'OK', 'a scalar policy is accepted and stored');
SELECT is(ff.create_execution(t.id(26), policy_json => '{}')->>'status', 'OK', 'empty policy accepted');

-- initial record (behaviour/execution §3.1 step 6)
SELECT ff.create_execution(t.id(30), namespace => 'ns', lane_id => 'lane-a', execution_kind => 'k',
                           creator_identity => 'me', input_payload => '\x00ff', tags => '{"a.b": "x", "n.m": 5}',
                           execution_deadline_at => 1000000009000);
SELECT is(ARRAY[e.lifecycle_phase::text, e.ownership_state::text, e.eligibility_state::text, e.blocking_reason::text,
                e.terminal_outcome::text, e.attempt_state::text, e.public_state::text],
          ARRAY['runnable', 'unowned', 'eligible_now', 'waiting_for_worker', 'none', 'pending_first_attempt', 'waiting'],
          'initial state vector') FROM t.row(t.id(30)) e;
SELECT is(ARRAY[e.total_attempt_count, e.retry_count, e.replay_count, e.lease_reclaim_count, e.current_lease_epoch::int],
          ARRAY[0, 0, 0, 0, 0], 'initial counters') FROM t.row(t.id(30)) e;
SELECT is(ARRAY[e.created_at, e.last_transition_at, e.last_mutation_at], ARRAY[1000000001002, 1000000001002, 1000000001002]::bigint[],
          'created/transition/mutation times = now') FROM t.row(t.id(30)) e;
SELECT is((t.row(t.id(30))).execution_deadline_at, 1000000009000::bigint, 'execution deadline recorded');
SELECT is((t.row(t.id(30))).current_lane, 'lane-a', 'current_lane = lane_id');
SELECT is(ff.read_execution_context(t.id(30)), ROW('\x00ff'::bytea, 'k'::text, '{"a.b": "x", "n.m": "5"}'::jsonb)::record,
          'payload stored verbatim, tags stringified');
-- tags already all strings are stored as given; no tags are {}; every kind of value is stringified
SELECT ff.create_execution(t.id(31), tags => '{"z": "1", "a": "x y", "e": ""}');
SELECT ff.create_execution(t.id(32));
SELECT ff.create_execution(t.id(33), tags => '{"o": {"k": [1, true]}, "b": false, "n": null, "d": 1.50, "s": "s"}');
SELECT ff.create_execution(t.id(34), tags => '{}');
SELECT is(array_agg((ff.read_execution_context(t.id(i))).tags ORDER BY i),
          ARRAY['{"z": "1", "a": "x y", "e": ""}', '{}',
                '{"o": "{\"k\": [1, true]}", "b": "false", "n": null, "d": "1.50", "s": "s"}', '{}']::jsonb[],
          'tags: strings kept, none is {}, objects, booleans, numbers as text, null stays null')
  FROM generate_series(31, 34) i;
SELECT t.invariants('creates');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
