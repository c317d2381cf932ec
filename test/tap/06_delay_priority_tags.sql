-- Delay, wait-children, promotion, priority, tags and read models:
-- behaviour/execution §3.11-§3.13, §3.16, §3.23, §3.31, checklist 44-47, 50, 66-68.
BEGIN;
\ir helpers.psql

-- 44. delay parks the attempt; promotion; the next claim resumes the same attempt
SELECT ff.create_execution(t.id(1));
SELECT t.claim(t.id(1));
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at) VALUES (0, (ff.parse_execution_id(t.id(1))).execution_uuid, 0, 1);
SELECT is(ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 1000000005000),
          '{"ok": true, "status": "OK", "delay_until": 1000000005000}', 'delay returns delay_until') FROM t.row(t.id(1)) e;
SELECT is(ARRAY[e.public_state::text, e.blocking_reason::text, e.blocking_detail, e.attempt_state::text, e.ownership_state::text],
          ARRAY['delayed', 'waiting_for_delay', 'delayed until 1000000005000', 'attempt_interrupted', 'unowned'], 'delayed vector') FROM t.row(t.id(1)) e;
SELECT is((SELECT attempt_state::text || '/' || suspension_id FROM ff.attempt), 'suspended/worker_delay', 'attempt suspended worker_delay');
SELECT is((t.row(t.id(1))).current_lease_id, NULL, 'lease released');
SELECT is((SELECT closed_at FROM ff.stream_meta), NULL, 'stream still open');
SELECT is((SELECT event || ':' || reason FROM ff.lease_history ORDER BY seq DESC LIMIT 1), 'released:worker_delay', 'history released/worker_delay');
SELECT t.invariants('delay');
-- 45. promote before the time, and stale promotions
SELECT is((ff.promote_delayed(t.id(1), 1000000004999))->>'result', 'not_yet_due', 'promote before the time -> not_yet_due');
SELECT is((t.row(t.id(1))).public_state, 'delayed', 'no change');
SELECT is((ff.promote_delayed(t.id(1), 1000000005000))->>'result', 'promoted', 'promote at the time');
SELECT is(ARRAY[e.public_state::text, e.attempt_state::text, e.delay_until::text, e.last_transition_at::text],
          ARRAY['waiting', 'attempt_interrupted', NULL, '1000000005000'], 'promoted: waiting, attempt_interrupted kept') FROM t.row(t.id(1)) e;
SELECT is((ff.promote_delayed(t.id(1)))->>'result', 'not_delayed_cleaned', 'promote of a non-delayed execution -> not_delayed_cleaned');
SELECT is((ff.promote_delayed(t.id(99)))->>'result', 'not_found_cleaned', 'promote of a missing execution -> not_found_cleaned');
SELECT is((t.claim(t.id(1)))->>'attempt_type', 'resumed', 'next claim resumes');
SELECT is((ff.promote_delayed(t.id(1)))->>'result', 'not_runnable_cleaned', 'promote of an active execution -> not_runnable_cleaned');
SELECT is(ARRAY[e.current_attempt_index, e.total_attempt_count::bigint], ARRAY[0, 1]::bigint[], 'same attempt index') FROM t.row(t.id(1)) e;
SELECT t.invariants('promotion');

-- 46. promotion preserves attempt_state of each pending kind
SELECT ff.create_execution(t.id(2), delay_until => 1000000001000);
SELECT ff.create_execution(t.id(3), policy_json => '{"retry_policy": {"max_retries": 1}}');
SELECT t.claim(t.id(3));
SELECT t.fail(t.id(3));
SELECT ff.promote_delayed(t.id(2), 1000000999999), ff.promote_delayed(t.id(3), 1000000999999);
SELECT is((t.row(t.id(2))).attempt_state, 'pending_first_attempt', 'pending_first kept');
SELECT is((t.row(t.id(3))).attempt_state, 'pending_retry_attempt', 'pending_retry kept');
UPDATE ff.execution SET attempt_state = 'pending_replay_attempt', eligibility_state = 'not_eligible_until_time',
       blocking_reason = 'waiting_for_delay', public_state = 'delayed', delay_until = 1 WHERE execution_id = (ff.parse_execution_id(t.id(2))).execution_uuid;
SELECT ff.promote_delayed(t.id(2), 2);
SELECT is((t.row(t.id(2))).attempt_state, 'pending_replay_attempt', 'pending_replay kept');

-- 47. wait-children
SELECT ff.create_execution(t.id(4));
SELECT t.at(1000000002000);
SELECT t.claim(t.id(4));
SELECT is(ff.move_to_waiting_children(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id), '{"ok": true, "status": "OK"}',
          'move_to_waiting_children') FROM t.row(t.id(4)) e;
SELECT is(ARRAY[e.public_state::text, e.eligibility_state::text, e.blocking_reason::text, e.blocking_detail, e.attempt_state::text],
          ARRAY['waiting_children', 'blocked_by_dependencies', 'waiting_for_children', 'waiting for child executions to complete', 'attempt_interrupted'],
          'waiting_children vector') FROM t.row(t.id(4)) e;
SELECT is((SELECT suspension_id FROM ff.attempt WHERE execution_id = (ff.parse_execution_id(t.id(4))).execution_uuid), 'waiting_children', 'attempt suspended waiting_children');
SELECT is((SELECT count(*)::int FROM ff.claim_next('default', 'w', 'w-1', max_count => 100) c WHERE c.claim->>'execution_id' = t.id(4)), 0,
          'not claimable while waiting for children');
SELECT t.invariants('wait-children');

-- 50. change_priority
SELECT ff.create_execution(t.id(5), priority => 10);
SELECT is(ff.change_priority(t.id(5), 20000), '{"ok": true, "status": "OK", "new_priority": 9000, "old_priority": 10}', 'change_priority clamps, returns old and new');
SELECT is((t.row(t.id(5))).last_transition_at, 1000000002000::bigint, 'transition time untouched');
SELECT ff.create_execution(t.id(6), delay_until => 1000009999999);
SELECT is(ff.change_priority(t.id(6), 1)->>'error', 'execution_not_eligible', 'delayed -> execution_not_eligible');
SELECT is(ff.change_priority(t.id(1), 1)->>'error', 'execution_not_eligible', 'active -> execution_not_eligible');
SELECT is(ff.change_priority(t.id(4), 1)->>'error', 'execution_not_eligible', 'blocked -> execution_not_eligible');
SELECT ff.create_execution(t.id(7), lane_id => 'prio', priority => 5);
SELECT t.at(1000000002001);
SELECT ff.create_execution(t.id(8), lane_id => 'prio', priority => 5);
SELECT ff.change_priority(t.id(8), 6);
SELECT is((SELECT claim->>'execution_id' FROM ff.claim_next('prio', 'w', 'w-1')), t.id(8), 're-scored: the raised execution is claimed first');
SELECT ff.change_priority(t.id(7), 0);
SELECT is((ff.change_priority(t.id(7), -3))->>'new_priority', '0', 'negative clamps to 0');

-- 66. tags
SELECT ff.create_execution(t.id(9));
SELECT is(ff.set_execution_tags(t.id(9), 'a.x', '1', 'b.y'), '{"ok": false, "error": "invalid_input", "detail": "tags must be non-empty even-length key/value pairs"}',
          'odd pair count -> invalid_input');
SELECT is(ff.set_execution_tags(t.id(9), VARIADIC '{}'::text[])->>'error', 'invalid_input', 'no pairs -> invalid_input');
SELECT t.snapshot() AS before \gset
SELECT is(ff.set_execution_tags(t.id(9), 'good.key', 'v', k, 'v'), jsonb_build_object('ok', false, 'error', 'invalid_tag_key', 'detail', k),
          'key ' || k || ' -> invalid_tag_key') FROM unnest(ARRAY['Cairn.x', 'cairn', 'cairn.', 'cairn..x', '1a.b', 'a.B', 'a-b.c']) k;
SELECT is(t.snapshot(), :'before', 'nothing written when any key is invalid');
SELECT t.at(1000000003000);
SELECT is(ff.set_execution_tags(t.id(9), 'cairn.task_id', 't1', 'a.x', 'y', 'app.sub.field', 'z'), '{"ok": true, "count": 3, "status": "OK"}',
          'valid keys accepted, count returned');
SELECT is(ff.get_execution_tag(t.id(9), 'app.sub.field'), 'z', 'tag readable');
SELECT is(ff.get_execution_tag(t.id(9), 'nope.x'), NULL, 'missing tag is NULL');
SELECT is((t.row(t.id(9))).last_mutation_at, 1000000003000::bigint, 'tags bump last_mutation_at');
SELECT is(ff.set_execution_tags(t.id(3), 'a.x', 'on-retry')->>'status', 'OK', 'tags allowed on a runnable execution waiting for its retry');
SELECT ff.create_execution(t.id(41));
SELECT t.claim(t.id(41));
SELECT t.complete(t.id(41));
SELECT is((t.row(t.id(41))).public_state::text, 'completed', 'a terminal execution');
SELECT is(ff.set_execution_tags(t.id(41), 'a.x', 'on-terminal')->>'status', 'OK', 'tags allowed on a terminal execution too');
SELECT is(ff.get_execution_tag(t.id(41), 'a.x'), 'on-terminal', 'and stored');
SELECT is(ff.set_execution_tags(t.id(99), 'a.x', 'y')->>'error', 'execution_not_found', 'tags on a missing execution');

-- 67. describe: no attempt/lease before a claim; attempt but no lease after complete
SELECT ff.create_execution(t.id(10));
SELECT is((ff.describe_execution(t.id(10)))->'current_attempt', 'null', 'never claimed: no current attempt');
SELECT is((ff.describe_execution(t.id(10)))->'current_lease', 'null', 'never claimed: no lease');
SELECT t.claim(t.id(10));
SELECT is((ff.describe_execution(t.id(10)))->'current_lease'->>'worker_id', 'w1', 'leased: lease shown');
SELECT t.complete(t.id(10));
SELECT is((ff.describe_execution(t.id(10)))->'current_attempt'->>'attempt_index', '0', 'completed: current attempt shown');
SELECT is((ff.describe_execution(t.id(10)))->'current_lease', 'null', 'completed: no lease');
SELECT is(ff.describe_execution(t.id(98)), '{"ok": false, "error": "execution_not_found"}', 'describe of a missing execution');
SELECT is(ff.read_execution_state(t.id(10)), '{"ok": true, "status": "OK", "public_state": "completed"}', 'read_execution_state');
SELECT is((ff.read_execution_info(t.id(10)))->>'terminal_outcome', 'success', 'read_execution_info has the vector');
-- list_executions pages ascending with a cursor
SELECT is(jsonb_array_length((ff.list_executions(0::smallint, page_limit => 4))->'executions'), 4, 'first page of 4');
SELECT is((ff.list_executions(0::smallint, (ff.list_executions(0::smallint, page_limit => 4))->>'next_cursor', 1000))->'executions'->>0, t.id(5),
          'the cursor continues after the last id');
SELECT is((ff.list_executions(0::smallint, page_limit => 1000))->'next_cursor', 'null', 'no cursor on the last page');
SELECT throws_ok($$SELECT ff.list_executions(0::smallint, page_limit => 1001)$$, '22023', NULL, 'page limit capped at 1000');

-- 68. public_state always equals the derivation (the consistency view checks every row)
SELECT t.invariants('every operation of this suite');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
