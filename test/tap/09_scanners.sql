-- The execution scanners: behaviour/execution §6, checklist 9, 69-71.  Time moves by the
-- test clock; no test waits.
BEGIN;
\ir helpers.psql


-- delayed promoter: due items promoted, not-yet-due untouched, batch limit holds
SELECT ff.create_execution(t.id(g), delay_until => 1000000000000 + g * 1000) FROM generate_series(1, 5) g;
SELECT t.at(1000000003000);
SELECT is(ff.scan_delayed(), '{"ok": true, "more": false, "errors": 0, "status": "OK", "scanner": "delayed", "processed": 3}', 'three due of five promoted');
SELECT is((SELECT array_agg(public_state::text ORDER BY id) FROM ff.executions WHERE id IN (t.id(1), t.id(2), t.id(3), t.id(4), t.id(5))),
          ARRAY['waiting', 'waiting', 'waiting', 'delayed', 'delayed'], 'not-yet-due stay delayed');
SELECT t.at(1000000009000);
SELECT is((ff.scan_delayed(batch_size => 1)) - 'ok' - 'status' - 'scanner', '{"more": true, "errors": 0, "processed": 1}',
          'batch limit holds, and a full batch says there may be more');
SELECT is((ff.scan_delayed())->>'processed', '1', 'the rest next time');
-- 71. idempotent
SELECT is((ff.scan_delayed())->>'processed', '0', 'running it again changes nothing');
SELECT t.invariants('delayed promoter');

-- lease expiry: only due leases; marked leases leave the index
SELECT ff.create_execution(t.id(10));
SELECT ff.create_execution(t.id(11));
SELECT t.claim(t.id(10), ttl => 1000);
SELECT t.claim(t.id(11), ttl => 5000);
SELECT t.at(1000000010000);
SELECT is((ff.scan_lease_expiry())->>'processed', '1', 'one lease due');
SELECT is((t.row(t.id(10))).ownership_state, 'lease_expired_reclaimable', 'due lease marked');
SELECT is((t.row(t.id(11))).ownership_state, 'leased', 'lease not due untouched');
SELECT is((ff.scan_lease_expiry())->>'processed', '0', 'a marked lease is not scanned again');
SELECT t.invariants('lease expiry');

-- attempt timeouts
SELECT ff.create_execution(t.id(20));
SELECT ff.claim_execution(t.id(20), 'w1', 'w1-1', 'default', attempt_timeout_ms => 500) FROM ff.issue_claim_grant(t.id(20), 'w1', 'w1-1', 'default');
SELECT is((t.row(t.id(20))).attempt_timeout_at, 1000000010500::bigint, 'claim sets the attempt deadline');
SELECT is((ff.scan_attempt_timeouts())->>'processed', '0', 'not before its attempt timeout');
SELECT t.at(1000000010500);
SELECT is((ff.scan_attempt_timeouts())->>'processed', '1', 'past its attempt timeout');
SELECT is(ARRAY[e.public_state::text, e.failure_reason], ARRAY['expired', 'attempt_timeout'], 'expired by attempt timeout') FROM t.row(t.id(20)) e;

-- 9. a deadline in the past at create expires on the next deadline scan, never claimed
SELECT ff.create_execution(t.id(21), execution_deadline_at => 1000000000001);
SELECT ff.create_execution(t.id(22), execution_deadline_at => 1000000099000);
SELECT is((ff.scan_execution_deadlines())->>'processed', '1', 'the past deadline is due');
SELECT is(ARRAY[e.public_state::text, e.terminal_outcome::text, e.failure_reason, e.eligibility_state::text],
          ARRAY['expired', 'expired', 'execution_deadline', 'not_applicable'], 'expired, out of ELIGIBLE') FROM t.row(t.id(21)) e;
SELECT is((t.row(t.id(22))).public_state, 'waiting', 'a future deadline waits');
SELECT t.invariants('timeouts and deadlines');

-- unblock: budget/quota cleared; route once a live worker of the namespace has the caps;
-- operator and lane-state holds never
SELECT ff.create_execution(t.id(30));
SELECT ff.create_execution(t.id(31), policy_json => '{"routing_requirements": {"required_capabilities": ["gpu", "cuda"]}}');
SELECT ff.create_execution(t.id(32));
SELECT ff.create_execution(t.id(33));
SELECT ff.block_execution_for_admission(t.id(30), 'waiting_for_budget');
SELECT ff.block_execution_for_admission(t.id(31), 'waiting_for_capable_worker');
SELECT ff.block_execution_for_admission(t.id(32), 'paused_by_operator');
SELECT ff.block_execution_for_admission(t.id(33), 'paused_by_policy');
SELECT is((ff.scan_unblock())->>'processed', '1', 'only the budget block clears (no budget attached)');
SELECT is((t.row(t.id(31))).public_state, 'waiting', 'route block waits for a capable worker');
SELECT is((t.row(t.id(31))).eligibility_state, 'blocked_by_route', '... still blocked');
SELECT ff.register_worker('gpu-1', 'gpu', capabilities => '{gpu}');
SELECT is((ff.scan_unblock())->>'processed', '0', 'one worker with gpu is not enough');
SELECT ff.register_worker('cuda-1', 'cuda', capabilities => '{cuda}', namespace => 'elsewhere');
SELECT is((ff.scan_unblock())->>'processed', '0', 'a worker of another namespace does not count');
SELECT ff.register_worker('cuda-2', 'cuda', capabilities => '{cuda}', ttl_ms => 1000);
SELECT is((ff.scan_unblock())->>'processed', '1', 'the union of two live workers covers gpu+cuda');
SELECT is((t.row(t.id(31))).eligibility_state, 'eligible_now', 'route block released');
SELECT is(ARRAY[(t.row(t.id(32))).eligibility_state::text, (t.row(t.id(33))).eligibility_state::text],
          ARRAY['blocked_by_operator', 'blocked_by_lane_state'], '51. operator and lane-state holds are never released');
SELECT ff.block_execution_for_admission(t.id(31), 'waiting_for_capable_worker');
SELECT t.at(1000000011500);
SELECT is((ff.scan_unblock())->>'processed', '0', 'an expired registration no longer counts');
SELECT is((ff.heartbeat_worker('cuda-2'))->>'result', 'not_registered', 'heartbeat after expiry -> not_registered');
SELECT is((ff.register_worker('cuda-2', 'cuda', capabilities => '{cuda}'))->>'result', 'registered', 'registering again');
SELECT is((ff.heartbeat_worker('cuda-2'))->>'result', 'refreshed', 'heartbeat while live -> refreshed');
SELECT is((ff.register_worker('cuda-2', 'cuda', capabilities => '{cuda}'))->>'result', 'refreshed', 'registering while live -> refreshed');
SELECT t.invariants('unblock');

-- retention: by each row's own purge time; everything of the execution goes
SELECT ff.create_execution(t.id(40), policy_json => '{"stream_policy": {"retention_ttl_ms": 1000}}', idempotency_key => 'r40');
SELECT ff.create_execution(t.id(41));
SELECT t.claim(t.id(40)), t.claim(t.id(41));
SELECT t.complete(t.id(40)), t.complete(t.id(41));
SELECT is((t.row(t.id(40))).purge_after, 1000000012500::bigint, 'short retention from the policy');
SELECT t.at(1000000012500);
SELECT is((ff.trim_retention())->>'processed', '1', '70. only the execution past its own retention is trimmed');
SELECT is((SELECT count(*)::int FROM ff.executions WHERE id = t.id(40)), 0, 'execution gone');
SELECT is((SELECT count(*)::int FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(40)))
        + (SELECT count(*)::int FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(40)))
        + (SELECT count(*)::int FROM ff.execution_data WHERE execution_id = t.exec_uuid(t.id(40)))
        + (SELECT count(*)::int FROM ff.completion_event WHERE execution_id = t.exec_uuid(t.id(40)))
        + (SELECT count(*)::int FROM ff.idempotency_key WHERE execution_id = t.exec_uuid(t.id(40))), 0, 'every record of it gone');
SELECT is(ff.describe_execution(t.id(40)), '{"ok": false, "error": "execution_not_found"}', 'describe returns none');
SELECT is((SELECT count(*)::int FROM ff.executions WHERE id = t.id(41)), 1, 'the younger execution stays');
SELECT t.at(1000000011500 + 86400000);
SELECT (SELECT count(*) FROM ff.execution WHERE lifecycle_phase = 'terminal' AND purge_after <= ff.now_ms()) AS due \gset
SELECT cmp_ok(:due::int, '>=', 2, 'several executions reach the default retention of a day');
SELECT is((ff.trim_retention())->>'processed', :'due', 'all of them are trimmed');
SELECT is((SELECT count(*)::int FROM ff.executions WHERE id = t.id(41)), 0, 'including the one completed a day ago');
-- expired idempotency keys are trimmed too
SELECT ff.create_execution(t.id(42), idempotency_key => 'k42', dedup_ttl_ms => 10);
SELECT t.at(1000000011500 + 86400000 + 10);
SELECT is((ff.trim_retention())->>'idempotency_keys_expired', '1', 'an expired idempotency key is deleted');

-- a failing item: recorded, retried, skipped for 10 cycles after 3 failures;
-- the rest of its batch still succeeds
SELECT ff.create_execution(t.id(50), delay_until => 1000086413000);
SELECT ff.create_execution(t.id(51), delay_until => 1000086413000);
CREATE FUNCTION t.refuse_51() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id = t.exec_uuid(t.id(51)) AND NEW.public_state = 'waiting' THEN
        RAISE EXCEPTION 'injected failure';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_51 BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse_51();
SELECT t.at(1000086413000);
SET LOCAL client_min_messages = error;
SELECT is(ff.run_scanner('delayed') - 'ok' - 'status' - 'scanner' - 'more', '{"errors": 1, "processed": 1}', 'a failing item does not stop its batch');
SELECT is((t.row(t.id(50))).public_state, 'waiting', 'the healthy item was promoted');
SELECT is((SELECT failures || ':' || message FROM ff.scanner_item_failure), '1:injected failure', 'the failure is recorded');
SELECT ff.run_scanner('delayed'), ff.run_scanner('delayed');
SELECT is((SELECT failures FROM ff.scanner_item_failure), 3, 'three consecutive failures');
SELECT is((SELECT skip_until_cycle - (SELECT cycle FROM ff.scanner_state WHERE scanner = 'delayed') FROM ff.scanner_item_failure), 10::bigint,
          'skipped until 10 cycles after the third failure');
SELECT is((ff.run_scanner('delayed'))->>'errors', '0', 'a skipped item is not tried');
SELECT is(count(*)::int, 9, 'nine more skipped cycles') FROM (SELECT ff.run_scanner('delayed') r FROM generate_series(1, 9)) x WHERE (r->>'errors') = '0';
DROP TRIGGER refuse_51 ON ff.execution;
SELECT is((ff.run_scanner('delayed'))->>'processed', '1', 'after the skip the item is tried again and succeeds');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure), 0, 'success clears its failures');
RESET client_min_messages;

-- status, run_scanners and filters
SELECT is((SELECT runs FROM ff.scanner_status WHERE scanner = 'delayed'), 14::bigint, 'scanner_status counts runs');
SELECT is((SELECT total_errors FROM ff.scanner_status WHERE scanner = 'delayed'), 3::bigint, 'and errors');
SELECT is((SELECT interval_ms FROM ff.scanner_status WHERE scanner = 'delayed'), 750::bigint, 'and shows the interval');
SELECT count(*) AS due_scanners FROM ff.scanner_state WHERE next_run_at IS NULL OR next_run_at <= ff.now_ms() \gset
SELECT is(:due_scanners, 17, 'every scanner but delayed is due');
SELECT is(jsonb_array_length(ff.run_scanners()), :due_scanners, 'run_scanners runs the scanners that are due');
SELECT is(jsonb_array_length(ff.run_scanners()), 0, 'and none again before their interval');
SELECT throws_ok($$SELECT ff.run_scanner('nope')$$, '22023', NULL, 'unknown scanner -> 22023');
-- a backlog is drained in full batches by run_scanners
SELECT ff.create_execution(t.id(1000 + g), delay_until => ff.now_ms() + 1) FROM generate_series(1, 120) g;
SELECT t.at(ff.now_ms() + 1);
UPDATE ff.scanner_state SET next_run_at = NULL WHERE scanner = 'delayed';
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(ff.run_scanners()) r WHERE r->>'scanner' = 'delayed'), 3,
          'a backlog of 120 is drained in three batches of 50 in one call');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE public_state = 'delayed' AND delay_until <= ff.now_ms()), 0, 'nothing due is left');
SELECT throws_ok($$SELECT ff.scan_delayed(0)$$, '22023', NULL, 'batch size 0 -> 22023');
SELECT throws_ok($$SELECT ff.scan_delayed(tag => 'novalue')$$, '22023', NULL, 'malformed tag filter -> 22023');

SELECT ff.create_execution(t.id(60), namespace => 'tenant-a', delay_until => 1000086413500, tags => '{"cairn.instance_id": "i1"}');
SELECT ff.create_execution(t.id(61), namespace => 'tenant-b', delay_until => 1000086413500, tags => '{"cairn.instance_id": "i2"}');
SELECT t.at(1000086414000);
SELECT is((ff.scan_delayed(namespace => 'tenant-b'))->>'processed', '1', 'a namespace filter takes only its own');
SELECT is((t.row(t.id(60))).public_state, 'delayed', 'the other tenant is untouched');
SELECT is((ff.scan_delayed(tag => 'cairn.instance_id=i2'))->>'processed', '0', 'a tag filter skips foreign executions');
SET LOCAL ff_engine.scanner_tag = 'cairn.instance_id=i1';
SELECT is((ff.scan_delayed())->>'processed', '1', 'the filter can come from ff_engine.scanner_tag');
RESET ff_engine.scanner_tag;

-- 69. at every quiescent point the timers agree with the state
SELECT is_empty($$SELECT id FROM ff.executions WHERE (attempt_timeout_at IS NOT NULL OR execution_deadline_at IS NOT NULL)
                    AND lifecycle_phase = 'terminal'$$, 'timer entries refer to non-terminal executions only');
SELECT is_empty($$SELECT id FROM ff.executions WHERE ownership_state = 'leased' AND lease_expires_at IS NULL$$,
                'every leased execution is in LEASE_EXPIRY');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
-- settings in ms whatever unit current_setting shows them in
SELECT is(ff.scanner_interval_ms('lease_expiry'), 1500::bigint, 'scanner_interval_ms: 1500ms');
SELECT is(ff.scanner_interval_ms('retention'), 60000::bigint, 'scanner_interval_ms: 1min');
SET LOCAL ff_engine.waitpoint_hmac_grace = '2h';
SELECT is(ff._setting_ms('ff_engine.waitpoint_hmac_grace'), 7200000::bigint, '_setting_ms: 2h');
SET LOCAL ff_engine.waitpoint_hmac_grace = 86399999;
SELECT is(ff._setting_ms('ff_engine.waitpoint_hmac_grace'), 86399999::bigint, '_setting_ms: a bare number of ms');
SELECT is(ff._setting_ms('ff_engine.no_such_setting'), NULL, '_setting_ms: NULL for an unknown setting');
RESET ff_engine.waitpoint_hmac_grace;

-- ff.purge_execution names its tables by hand (issue 22): every table with
-- an execution id column is either purged by it or listed here with why it
-- is not; a new table fails this until it is one or the other.
-- (purge is C: its statements are kept plans, listed once it has run)
SELECT ok(ff.purge_execution(t.id(9090)) IS NOT NULL, 'purge_execution runs (its statements prepared)');
SELECT is(ARRAY(
    SELECT DISTINCT c.relname::text FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind IN ('r', 'p') AND a.attname ~ 'execution_id'
      AND NOT EXISTS (SELECT 1 FROM ff._engine_statements() s
                      WHERE s.statement LIKE 'DELETE FROM ff.' || c.relname || ' %')
      AND c.relname NOT IN (
        'budget_usage_by_exec',                 -- the budget's spend ledger: release_budget removes it
        'edge_group', 'flow_edge', 'flow_pending_cancel', 'pending_cancel_group',  -- the flow's records
        'quota_admission', 'quota_slot',        -- the quota's slots and guards: free by time
        'schedule', 'schedule_firing',          -- the schedule's own history, trimmed by retention
        'signal_event')                         -- the signal-event log, trimmed by retention
    ORDER BY 1), '{}'::text[],
    'every table with an execution id column is purged by ff.purge_execution or listed as kept');
-- one table of failing items (issue 22): a planted failure is recorded with
-- its SQLSTATE, message and detail while the rest of the batch goes on; the
-- item is skipped while it backs off (10 cycles after the third failure,
-- doubling after each further one) and tried again after; success clears it
SELECT ff.create_execution(t.id(g), execution_deadline_at => ff.now_ms()) FROM generate_series(70, 72) g;
CREATE FUNCTION t.refuse_71() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id = t.exec_uuid(t.id(71)) AND NEW.lifecycle_phase = 'terminal' THEN
        RAISE EXCEPTION 'planted failure' USING ERRCODE = 'FFX71', DETAIL = 'execution 71 refuses to expire';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_71 BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse_71();
SET LOCAL client_min_messages = error;
SELECT ff.now_ms() AS first_failure \gset
SELECT is(ff.run_scanner('execution_deadline') - 'ok' - 'status' - 'scanner' - 'more', '{"errors": 1, "processed": 2}',
          'a failing item: the rest of its batch is processed');
SELECT is(ARRAY[(t.row(t.id(70))).public_state::text, (t.row(t.id(71))).public_state::text, (t.row(t.id(72))).public_state::text],
          ARRAY['expired', 'waiting', 'expired'], 'both healthy items expired, the failing one untouched');
SELECT is((SELECT ARRAY[f.scanner, f.partition::text, f.item_id::text, f.failures::text, f.sqlstate, f.message, f.detail,
                        (f.first_failed_at = :first_failure)::text, (f.last_failed_at = :first_failure)::text, f.skip_until_cycle::text]
           FROM ff.scanner_item_failure f),
          ARRAY['execution_deadline', (ff.parse_execution_id(t.id(71))).partition::text, t.exec_uuid(t.id(71))::text, '1',
                'FFX71', 'planted failure', 'execution 71 refuses to expire', 'true', 'true', '0'],
          'recorded with its scanner, item, SQLSTATE, message, detail and times');
SELECT t.at(ff.now_ms() + 1000);
SELECT is((ff.run_scanner('execution_deadline'))->>'errors', '1', 'retried on the next cycle after one failure');
SELECT is((ff.run_scanner('execution_deadline'))->>'errors', '1', 'and after two');
SELECT is((SELECT ARRAY[failures, skip_until_cycle - (SELECT cycle FROM ff.scanner_state WHERE scanner = 'execution_deadline')]
           FROM ff.scanner_item_failure), ARRAY[3, 10]::bigint[], 'the third failure backs off for 10 cycles');
SELECT is((SELECT ARRAY[(first_failed_at = :first_failure)::text, (last_failed_at = ff.now_ms())::text] FROM ff.scanner_item_failure),
          ARRAY['true', 'true'], 'first failure kept, last failure updated');
SELECT is(count(*)::int, 10, 'skipped for ten cycles: nothing tried, nothing selected')
FROM (SELECT ff.run_scanner('execution_deadline') r FROM generate_series(1, 10)) x
WHERE r->>'errors' = '0' AND r->>'processed' = '0' AND r->>'more' = 'false';
SELECT is((SELECT failures FROM ff.scanner_item_failure), 3, 'no failure while skipped');
SELECT is((ff.run_scanner('execution_deadline'))->>'errors', '1', 'tried again after the back-off');
SELECT is((SELECT ARRAY[failures, skip_until_cycle - (SELECT cycle FROM ff.scanner_state WHERE scanner = 'execution_deadline')]
           FROM ff.scanner_item_failure), ARRAY[4, 20]::bigint[], 'the fourth failure backs off twice as long');
UPDATE ff.scanner_item_failure SET failures = 40;
SELECT is((ff.run_scanner('execution_deadline'))->>'errors', '0', 'skipped');
UPDATE ff.scanner_item_failure SET skip_until_cycle = 0;
SELECT is((ff.run_scanner('execution_deadline'))->>'errors', '1', 'failing again');
SELECT is((SELECT skip_until_cycle - (SELECT cycle FROM ff.scanner_state WHERE scanner = 'execution_deadline')
           FROM ff.scanner_item_failure), 1000::bigint, 'the back-off is at most 1000 cycles');
DROP TRIGGER refuse_71 ON ff.execution;
UPDATE ff.scanner_item_failure SET skip_until_cycle = 0;
SELECT is(ff.run_scanner('execution_deadline') - 'ok' - 'status' - 'scanner' - 'more', '{"errors": 0, "processed": 1}',
          'the item succeeds once its cause is gone');
SELECT is((t.row(t.id(71))).public_state, 'expired', 'and is expired');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure), 0, 'success clears its row');
-- a cancel or statement timeout inside an item is the caller's, not the
-- item's: it ends the call (after the rollback) and nothing is recorded
SELECT ff.create_execution(t.id(80), execution_deadline_at => ff.now_ms());
CREATE FUNCTION t.cancel_80() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id = t.exec_uuid(t.id(80)) AND NEW.lifecycle_phase = 'terminal' THEN
        RAISE EXCEPTION 'planted cancel' USING ERRCODE = 'query_canceled';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER cancel_80 BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.cancel_80();
CREATE FUNCTION t.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'none';
EXCEPTION WHEN query_canceled THEN RETURN '57014';
          WHEN OTHERS THEN RETURN SQLSTATE;
END $$;
SELECT is(t.sqlstate_of('SELECT ff.scan_execution_deadlines(50)'), '57014', 'a cancel inside an item ends the scan');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure), 0, 'and is not recorded as the item''s failure');
SELECT is((t.row(t.id(80))).public_state, 'waiting', 'the item is left as it was');
DROP TRIGGER cancel_80 ON ff.execution;
SELECT is((ff.scan_execution_deadlines(50))->>'errors', '0', 'the next scan expires it');
-- the same table for a scanner whose items are not executions: a waitpoint
CREATE FUNCTION t.refuse_wp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'waitpoint refused' USING ERRCODE = 'FFX72';
END $$;
SELECT ff.create_execution(t.id(73));
SELECT t.claim(t.id(73));
SELECT ff.create_pending_waitpoint(e.id, e.current_attempt_index::integer, e.current_lease_id, e.current_lease_epoch,
    e.current_attempt_id, '00000000-0000-4000-a000-000000000073', 'k73', ff.now_ms() + 500) ->> 'status' FROM ff.executions e WHERE e.id = t.id(73);
SELECT t.at(ff.now_ms() + 1000);
CREATE TRIGGER refuse_wp BEFORE UPDATE ON ff.waitpoint FOR EACH ROW EXECUTE FUNCTION t.refuse_wp();
SELECT is((ff.scan_pending_waitpoint_expiry())->>'errors', '1', 'a failing waitpoint');
SELECT is((SELECT ARRAY[scanner, item_id::text, sqlstate] FROM ff.scanner_item_failure),
          ARRAY['pending_waitpoint_expiry', '00000000-0000-4000-a000-000000000073', 'FFX72'], 'recorded by its waitpoint id');
DROP TRIGGER refuse_wp ON ff.waitpoint;
SELECT is((ff.scan_pending_waitpoint_expiry())->>'processed', '1', 'closed once it can be');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure), 0, 'and its row cleared');
-- and for a budget (partition 0): the reset of a refusing budget is
-- recorded, the other due budget is reset
SELECT ff.create_budget('00000000-0000-4000-b000-000000000091', '{tokens}', '{10}', '{0}', reset_interval_ms => 1000) ->> 'status';
SELECT ff.create_budget('00000000-0000-4000-b000-000000000092', '{tokens}', '{10}', '{0}', reset_interval_ms => 1000) ->> 'status';
CREATE FUNCTION t.refuse_b91() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.budget_id = '00000000-0000-4000-b000-000000000091' THEN
        RAISE EXCEPTION 'budget refused' USING ERRCODE = 'FFX91', DETAIL = 'b91';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_b91 BEFORE UPDATE ON ff.budget FOR EACH ROW EXECUTE FUNCTION t.refuse_b91();
SELECT t.at(ff.now_ms() + 1000);
SELECT is(ff.scan_budget_resets() - 'ok' - 'status' - 'scanner' - 'more', '{"errors": 1, "processed": 1}', 'one budget reset, one failing');
SELECT is((SELECT ARRAY[scanner, partition::text, item_id::text, sqlstate, message, detail] FROM ff.scanner_item_failure),
          ARRAY['budget_reset', '0', '00000000-0000-4000-b000-000000000091', 'FFX91', 'budget refused', 'b91'], 'recorded by its budget id');
DROP TRIGGER refuse_b91 ON ff.budget;
SELECT is((ff.scan_budget_resets())->>'processed', '1', 'reset once it can be');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure), 0, 'its row cleared');
RESET client_min_messages;
SELECT * FROM finish();
ROLLBACK;
