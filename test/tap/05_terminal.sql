-- Terminal operations: behaviour/execution §3.8-§3.10, §3.32, checklist 33-43.
BEGIN;
-- these checks read the event rows of executions outside flows too
SET LOCAL ff_engine.completion_events = 'all';
\ir helpers.psql

-- 33. complete
SELECT ff.create_execution(t.id(1), execution_deadline_at => 1000000099000);
SELECT ff.claim_execution(t.id(1), 'w1', 'w1-1', 'default') FROM ff.issue_claim_grant(t.id(1), 'w1', 'w1-1', 'default');
SELECT ff.issue_grant_and_claim(t.id(1), 'w1', 'w1-1', 'default') WHERE false;
UPDATE ff.execution SET attempt_timeout_at = 1000000050000 WHERE execution_id = (ff.parse_execution_id(t.id(1))).execution_uuid;
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at) VALUES (0, (ff.parse_execution_id(t.id(1))).execution_uuid, 0, 1);
SELECT t.row(t.id(1)) AS leased \gset
SELECT t.at(1000000001000);
SELECT is(t.complete(t.id(1), 'done'), '{"ok": true, "result": "completed", "status": "OK"}', 'complete');
SELECT is(ff.get_execution_result(t.id(1)), 'done'::bytea, 'result stored');
SELECT is((SELECT attempt_state::text || '@' || ended_at FROM ff.attempt WHERE attempt_index = 0), 'ended_success@1000000001000', 'attempt ended_success');
SELECT is((SELECT closed_reason FROM ff.stream_meta), 'attempt_success', 'stream closed attempt_success');
SELECT is(ARRAY[e.lifecycle_phase::text, e.ownership_state::text, e.eligibility_state::text, e.blocking_reason::text,
                e.terminal_outcome::text, e.attempt_state::text, e.public_state::text],
          ARRAY['terminal', 'unowned', 'not_applicable', 'none', 'success', 'attempt_terminal', 'completed'], 'terminal success vector') FROM t.row(t.id(1)) e;
SELECT is(ARRAY[e.current_lease_id::text, e.current_worker_id, e.lease_expires_at::text, e.attempt_timeout_at::text, e.execution_deadline_at::text],
          ARRAY[NULL, NULL, NULL, NULL, NULL]::text[], 'lease released; attempt timeout and deadline cleared') FROM t.row(t.id(1)) e;
SELECT is(ARRAY[e.current_attempt_id::text, e.current_lease_epoch::text, e.completed_at::text],
          ARRAY[(:'leased'::ff.executions).current_attempt_id::text, '1', '1000000001000'], 'attempt id and epoch kept; completed_at') FROM t.row(t.id(1)) e;
SELECT is((SELECT event || ':' || reason FROM ff.lease_history ORDER BY seq DESC LIMIT 1), 'released:completed', 'history released/completed');
SELECT is((SELECT outcome::text FROM ff.completion_event WHERE execution_id = (ff.parse_execution_id(t.id(1))).execution_uuid), 'success', 'completion event written');
SELECT is((t.row(t.id(1))).purge_after, 1000000001000 + 86400000::bigint, 'retention clock started (24 h default)');
SELECT t.invariants('complete');

-- 34. complete twice with the same fence -> execution_not_active with the reconciliation details
SELECT is(ff.complete_execution(t.id(1), (:'leased'::ff.executions).current_lease_id, 1, (:'leased'::ff.executions).current_attempt_id),
          jsonb_build_object('ok', false, 'error', 'execution_not_active', 'terminal_outcome', 'success', 'current_lease_epoch', 1,
                             'lifecycle_phase', 'terminal', 'current_attempt_id', (:'leased'::ff.executions).current_attempt_id),
          'second complete -> execution_not_active [success, epoch, terminal, attempt_id]');
SELECT is((SELECT count(*)::int FROM ff.completion_event), 1, 'no second completion event');

-- 35. operator override
SELECT ff.create_execution(t.id(2));
SELECT t.claim(t.id(2));
SELECT is(ff.complete_execution(t.id(2)), '{"ok": false, "error": "fence_required"}', 'empty fence without override -> fence_required');
SELECT is(ff.complete_execution(t.id(2), source => 'operator_override')->>'result', 'completed', 'override completes a leased execution');
SELECT ff.create_execution(t.id(3));
SELECT t.claim(t.id(3), ttl => 1000);
SELECT t.at(1000000002000);
SELECT is(ff.complete_execution(t.id(3), source => 'operator_override'), '{"ok": false, "error": "lease_expired"}', 'override on an expired lease -> lease_expired');
SELECT is(ff.complete_execution(t.id(3), lease_id => gen_random_uuid(), source => 'operator_override')->>'error', 'partial_fence_triple',
          'a partial fence is refused even with override');

-- 36-37. fail and the retry policy
SELECT ff.create_execution(t.id(4));
SELECT t.claim(t.id(4));
SELECT is(t.fail(t.id(4)), '{"ok": true, "result": "terminal_failed", "status": "OK"}', 'no retry policy -> terminal_failed');
SELECT is(ARRAY[e.public_state::text, e.failure_reason, e.terminal_outcome::text], ARRAY['failed', 'boom', 'failed'], 'terminal failed with reason') FROM t.row(t.id(4)) e;
SELECT is((SELECT attempt_state::text || '/' || failure_reason || '/' || failure_category FROM ff.attempt
           WHERE execution_id = (ff.parse_execution_id(t.id(4))).execution_uuid), 'ended_failure/boom/transient', 'attempt ended_failure with category');
SELECT is((SELECT outcome::text FROM ff.completion_event WHERE execution_id = (ff.parse_execution_id(t.id(4))).execution_uuid), 'failed', 'completion event for failed');
SELECT ff.create_execution(t.id(5), policy_json => '{"retry_policy": {"max_retries": 0}}');
SELECT t.claim(t.id(5));
SELECT is(t.fail(t.id(5))->>'result', 'terminal_failed', 'max_retries 0 -> terminal');

SELECT ff.create_execution(t.id(6), policy_json => '{"retry_policy": {"max_retries": 2, "backoff": {"type": "exponential", "initial_delay_ms": 1000, "multiplier": 2, "max_delay_ms": 60000}}}',
                           execution_deadline_at => 1000009000000);
CREATE TEMP TABLE fails(n int, res jsonb, retry_count int);
DO $$
DECLARE i int; r jsonb;
BEGIN
  FOR i IN 1..3 LOOP
    PERFORM t.at(1000000010000 + i * 100000);
    PERFORM ff.promote_delayed(t.id(6));
    PERFORM t.claim(t.id(6));
    r := t.fail(t.id(6), 'attempt ' || i);
    INSERT INTO fails VALUES (i, r, (t.row(t.id(6))).retry_count);
  END LOOP;
END $$;
SELECT is((SELECT array_agg(res->>'result' ORDER BY n) FROM fails), ARRAY['retry_scheduled', 'retry_scheduled', 'terminal_failed'],
          'max_retries 2: two retries, then terminal');
SELECT is((SELECT array_agg(retry_count ORDER BY n) FROM fails), ARRAY[1, 2, 2], 'retry_count 0 -> 1 -> 2');
SELECT is((SELECT array_agg((res->>'delay_until')::bigint - (1000000010000 + n * 100000) ORDER BY n) FROM fails WHERE n < 3),
          ARRAY[1000, 2000]::bigint[], 'exponential backoff 1000, 2000');
SELECT is((SELECT array_agg(attempt_type::text || ':' || coalesce(retry_reason, '-') || ':' || coalesce(previous_attempt_index::text, '-') ORDER BY attempt_index)
           FROM ff.attempt WHERE execution_id = (ff.parse_execution_id(t.id(6))).execution_uuid),
          ARRAY['initial:-:-', 'retry:attempt 1:0', 'retry:attempt 2:1'], '38. retry attempts carry lineage');
SELECT t.invariants('retries');

-- 37. backoff shapes, observed through the delay each first failure schedules
CREATE TEMP TABLE backoff(n int, policy text, want bigint);
INSERT INTO backoff VALUES
  (10, '{"retry_policy": {"max_retries": 20, "backoff": {"type": "exponential", "initial_delay_ms": 1000, "multiplier": 2, "max_delay_ms": 60000}}}', 1000),
  (11, '{"retry_policy": {"max_retries": 20, "backoff": {"type": "fixed", "delay_ms": 2500}}}', 2500),
  (12, '{"retry_policy": {"max_retries": 20, "backoff": {"type": "linear-ish"}}}', 1000),
  (13, '{"retry_policy": {"max_retries": 20, "backoff": {"type": "exponential", "initial_delay_ms": 100, "multiplier": 1.5}}}', 100),
  (14, '{"retry_policy": {}}', 1000);
SELECT t.at(1000000500000);
SELECT ff.create_execution(t.id(b.n), policy_json => b.policy) FROM backoff b;
SELECT t.claim(t.id(b.n)) FROM backoff b;
SELECT is((t.fail(t.id(b.n))->>'delay_until')::bigint - 1000000500000, b.want, 'first backoff for ' || b.policy) FROM backoff b;
-- the exponential series caps at max_delay_ms and floors fractional products
CREATE TEMP TABLE series(k int, d bigint);
DO $$
DECLARE k int;
BEGIN
  FOR k IN 1..8 LOOP
    PERFORM t.at(1000000600000 + k * 1000000);
    PERFORM ff.promote_delayed(t.id(10));
    PERFORM ff.promote_delayed(t.id(13));
    PERFORM t.claim(t.id(10));
    PERFORM t.claim(t.id(13));
    INSERT INTO series VALUES (k, (t.fail(t.id(10))->>'delay_until')::bigint - (1000000600000 + k * 1000000));
    INSERT INTO series VALUES (100 + k, (t.fail(t.id(13))->>'delay_until')::bigint - (1000000600000 + k * 1000000));
  END LOOP;
END $$;
SELECT is((SELECT array_agg(d ORDER BY k) FROM series WHERE k < 100), ARRAY[2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]::bigint[],
          'exponential delays double and cap at 60000');
SELECT is((SELECT array_agg(d ORDER BY k) FROM series WHERE k > 100 AND k < 104), ARRAY[150, 225, 337]::bigint[], 'fractional products floored');

-- 39. a lost reply to a retry-scheduled fail
SELECT ff.create_execution(t.id(7), policy_json => '{"retry_policy": {"max_retries": 3}}');
SELECT t.claim(t.id(7));
SELECT t.row(t.id(7)) AS l7 \gset
SELECT t.fail(t.id(7));
SELECT is(ff.fail_execution(t.id(7), (:'l7'::ff.executions).current_lease_id, 1, (:'l7'::ff.executions).current_attempt_id) - 'current_attempt_id',
          '{"ok": false, "error": "execution_not_active", "lifecycle_phase": "runnable", "terminal_outcome": "none", "current_lease_epoch": 1}',
          'second fail after retry scheduling -> execution_not_active with phase runnable');
SELECT is((t.row(t.id(7))).current_attempt_id, NULL, 'retry scheduling clears current_attempt_id');
SELECT is((t.row(t.id(7))).execution_deadline_at, NULL, 'no deadline was set');
SELECT is((t.row(t.id(6))).execution_deadline_at, NULL, 'deadline removed once terminal');

-- 40-41. cancel
SELECT ff.create_execution(t.id(20));
SELECT ff.issue_claim_grant(t.id(20), 'w1', 'w1-1', 'default');
SELECT is(ff.cancel_execution(t.id(20), 'no longer needed'), '{"ok": true, "result": "cancelled", "status": "OK", "cancelled_from": "runnable"}',
          'cancel of a waiting execution');
SELECT is(ARRAY[e.public_state::text, e.attempt_state::text, e.cancellation_reason, e.cancelled_by],
          ARRAY['cancelled', 'pending_first_attempt', 'no longer needed', 'operator_override'], 'attempt_state stays pending_first_attempt') FROM t.row(t.id(20)) e;
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = (ff.parse_execution_id(t.id(20))).execution_uuid), 0, 'outstanding grant deleted');

SELECT ff.create_execution(t.id(21));
SELECT t.claim(t.id(21));
SELECT is(ff.cancel_execution(t.id(21), 'stop', 'operator_override')->>'cancelled_from', 'active', 'operator cancels an active execution without a fence');
SELECT is((SELECT attempt_state::text || '/' || failure_reason FROM ff.attempt WHERE execution_id = (ff.parse_execution_id(t.id(21))).execution_uuid),
          'ended_cancelled/cancelled: stop', 'attempt ended_cancelled with reason');
SELECT is((SELECT reason FROM ff.lease_history WHERE execution_id = (ff.parse_execution_id(t.id(21))).execution_uuid ORDER BY seq DESC LIMIT 1), 'cancelled', 'history released/cancelled');

SELECT ff.create_execution(t.id(22));
SELECT t.claim(t.id(22));
SELECT is(ff.cancel_execution(t.id(22), 'x', 'lease_holder', gen_random_uuid(), 1)->>'error', 'stale_lease', 'lease holder with a wrong lease id -> stale_lease');
SELECT is(ff.cancel_execution(t.id(22), 'x', 'lease_holder')->>'error', 'fence_required', 'non-operator cancel of an active execution needs the lease');
SELECT is(ff.cancel_execution(e.id, 'x', 'lease_holder', e.current_lease_id, e.current_lease_epoch)->>'result', 'cancelled', 'lease holder cancels with its lease')
  FROM t.row(t.id(22)) e;
SELECT is((t.row(t.id(22))).cancelled_by, 'lease_holder', 'cancelled_by = source');
SELECT is(ff.cancel_execution(t.id(22)) - 'current_attempt_id',
          '{"ok": false, "error": "execution_not_active", "lifecycle_phase": "terminal", "terminal_outcome": "cancelled", "current_lease_epoch": 1}',
          'cancel of a terminal execution -> execution_not_active with phase terminal');
SELECT ff.create_execution(t.id(23));
SELECT ff.cancel_execution(t.id(23), 'x', '');
SELECT is((t.row(t.id(23))).cancelled_by, t.id(23), 'empty source: cancelled_by is the execution id');
SELECT ff.create_execution(t.id(24));
SELECT ff.cancel_execution(t.id(24), 'cascade', 'flow_cascade');
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE execution_id = (ff.parse_execution_id(t.id(24))).execution_uuid), 0,
          'no completion event for source flow_cascade');
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE execution_id = (ff.parse_execution_id(t.id(23))).execution_uuid), 1,
          'completion event for other sources');
-- cancel of a delayed, interrupted execution ends its parked attempt (behaviour/execution §C.5)
SELECT ff.create_execution(t.id(25));
SELECT t.claim(t.id(25));
SELECT ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 1000009999999) FROM t.row(t.id(25)) e;
SELECT ff.cancel_execution(t.id(25), 'late');
SELECT is((SELECT attempt_state::text FROM ff.attempt WHERE execution_id = (ff.parse_execution_id(t.id(25))).execution_uuid), 'ended_cancelled',
          'parked attempt ended on cancel');
SELECT is((t.row(t.id(25))).delay_until, NULL, 'delay cleared on cancel');
SELECT t.invariants('cancels');

-- 43. every terminal execution: completed_at, last_transition_at, in TERMINAL only
SELECT is_empty($$SELECT id FROM ff.executions WHERE lifecycle_phase = 'terminal'
    AND (completed_at IS NULL OR last_transition_at <> completed_at OR eligibility_state <> 'not_applicable'
         OR ownership_state <> 'unowned' OR delay_until IS NOT NULL OR lease_expires_at IS NOT NULL)$$,
    'terminal executions are in no runnable/active index and carry completed_at = last_transition_at');
-- I6: a terminal execution cannot be claimed, failed, delayed, renewed or re-prioritised
SELECT is(ff.issue_grant_and_claim(t.id(1), 'w', 'w-1', 'default')->>'error', 'execution_not_eligible', 'I6: no claim of a terminal execution');
SELECT is(ff.renew_lease(t.id(1), 0, l.current_attempt_id, l.current_lease_id, 1)->>'error', 'execution_not_active',
          'I6: renew with the old lease of a terminal execution -> execution_not_active') FROM (SELECT (:'leased'::ff.executions).*) l;
SELECT is(ff.change_priority(t.id(1), 5)->>'error', 'execution_not_eligible', 'I6: no re-prioritising a terminal execution');
SELECT is((t.row(t.id(1))).lifecycle_phase, 'terminal', 'I6: still terminal');

-- the failure's category (a reference defect: it ignores it): permanent is
-- never retried, and retryable_categories limits retries to those named
CREATE FUNCTION t.fail_as(id text, category text) RETURNS text LANGUAGE sql AS $$
    SELECT ff.fail_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 'x', category) ->> 'result'
    FROM t.row(id) e
$$;
SELECT ff.create_execution(t.id(90), policy_json => '{"retry_policy": {"max_retries": 3}}');
SELECT t.claim(t.id(90));
SELECT is(t.fail_as(t.id(90), 'permanent'), 'terminal_failed', 'a permanent failure is not retried, retries left or not');
SELECT is((t.row(t.id(90))).retry_count, 0, 'no retry counted');
SELECT ff.create_execution(t.id(91), policy_json => '{"retry_policy": {"max_retries": 3, "retryable_categories": ["timeout"]}}');
SELECT t.claim(t.id(91));
SELECT is(t.fail_as(t.id(91), 'timeout'), 'retry_scheduled', 'a category named in retryable_categories is retried');
SELECT ff.create_execution(t.id(92), policy_json => '{"retry_policy": {"max_retries": 3, "retryable_categories": ["timeout"]}}');
SELECT t.claim(t.id(92));
SELECT is(t.fail_as(t.id(92), 'transient'), 'terminal_failed', 'one not named is not');
SELECT ff.create_execution(t.id(93), policy_json => '{"retry_policy": {"max_retries": 3}}');
SELECT t.claim(t.id(93));
SELECT is(t.fail_as(t.id(93), 'transient'), 'retry_scheduled', 'without retryable_categories any other category is retried');

-- behaviour/execution §3.32 with ff_engine.completion_events = flows (the default): only a flow
-- member's transition leaves a row; the others are still announced, with an
-- event id taken from the rows' sequence
SET LOCAL ff_engine.completion_events = DEFAULT;
SELECT is(current_setting('ff_engine.completion_events'), 'flows', 'completion_events defaults to flows');
SELECT last_value AS seq0 FROM ff.completion_event_event_id_seq \gset
SELECT ff.create_execution(t.id(120));
SELECT t.claim(t.id(120)), t.complete(t.id(120));
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.id(120))), 0,
          'flows: no event row for an execution outside any flow');
SELECT is((SELECT last_value FROM ff.completion_event_event_id_seq), :seq0 + 1::bigint, 'flows: its announcement took an event id');
SELECT ff.create_flow('f1200000-0000-4000-8000-000000000001');
SELECT t.member('f1200000-0000-4000-8000-000000000001', 'ce1');
SELECT t.claim(t.m('ce1')), t.complete(t.m('ce1'));
SELECT is((SELECT outcome::text || ':' || (event_id = :seq0 + 2) FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.m('ce1'))),
          'success:true', 'flows: a flow member''s transition has its row, next in the sequence');
SET LOCAL ff_engine.notify_completions = off;
SELECT ff.create_execution(t.id(121));
SELECT t.claim(t.id(121)), t.complete(t.id(121));
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.id(121))), 0,
          'flows, notify_completions off: no row');
SELECT is((SELECT last_value FROM ff.completion_event_event_id_seq), :seq0 + 2::bigint, 'flows, notify_completions off: nothing announced, no id taken');
RESET ff_engine.notify_completions;
SELECT ff.create_execution(t.id(122));
SELECT t.claim(t.id(122)), t.complete(t.id(122));
SET LOCAL ff_engine.completion_events = 'all';
SELECT ff.create_execution(t.id(123));
SELECT t.claim(t.id(123)), t.complete(t.id(123));
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE execution_id IN (t.exec_uuid(t.id(122)), t.exec_uuid(t.id(123)))), 1,
          'all: the row is written again');
SELECT throws_ok($$SET ff_engine.completion_events = 'some'$$, '22023', NULL, 'completion_events takes flows or all');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
