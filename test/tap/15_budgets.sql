-- Budgets, quotas, admission and the worker registry: behaviour/budgets, its checklist items in doc/checklist.md
-- items 1-95 (numbers in the comments).  Time moves by the test clock.
BEGIN;
\ir helpers.psql

-- 91: every update of a budget in this suite is checked by a test-only
-- trigger: its breach counters must never go down
CREATE TABLE t.budget_updates (n bigint, decreased text[]);
INSERT INTO t.budget_updates VALUES (0, '{}');
CREATE FUNCTION t.check_breach_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE t.budget_updates SET n = n + 1,
        decreased = decreased || CASE WHEN NEW.breach_count < OLD.breach_count OR NEW.soft_breach_count < OLD.soft_breach_count
                                      THEN ARRAY[NEW.budget_id::text] ELSE '{}' END;
    RETURN NULL;
END $$;
CREATE TRIGGER check_breach_counters AFTER UPDATE ON ff.budget FOR EACH ROW EXECUTE FUNCTION t.check_breach_counters();

CREATE FUNCTION t.b(n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT format('00000000-0000-4000-b000-%s', lpad(n::text, 12, '0'))::uuid
$$;
CREATE FUNCTION t.q(n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT format('00000000-0000-4000-c000-%s', lpad(n::text, 12, '0'))::uuid
$$;
CREATE FUNCTION t.usage(b uuid, d text) RETURNS bigint LANGUAGE sql AS $$
    SELECT value FROM ff.budget_usage WHERE budget_id = b AND dimension = d
$$;
CREATE FUNCTION t.budget(b uuid) RETURNS ff.budget LANGUAGE sql AS $$ SELECT * FROM ff.budget WHERE budget_id = b $$;
CREATE FUNCTION t.rep(b uuid, d text, delta bigint, key text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.report_usage_and_check(b, ARRAY[d], ARRAY[delta], key)
$$;
CREATE FUNCTION t.admit(q uuid, n integer, rate bigint, cap bigint DEFAULT 0, win bigint DEFAULT 60, jitter bigint DEFAULT 0) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT ff.check_admission_and_record(q, t.id(n), win, rate, cap, jitter_ms => jitter, now_ms => ff.now_ms())
$$;
CREATE FUNCTION t.claim1(lane text) RETURNS text LANGUAGE sql AS $$
    SELECT claim->>'execution_id' FROM ff.claim_next(lane, 'w1', 'w1-1')
$$;

-- 1-2. create
SELECT is(ff.create_budget(t.b(1), '{tokens,cost}', '{1000,0}', '{800,0}'),
          jsonb_build_object('ok', true, 'status', 'OK', 'budget_id', t.b(1)), '1. create -> OK');
SELECT is(ff.get_budget_status(t.b(1)) - 'created_at' - 'last_updated_at' - 'budget_id',
          '{"ok": true, "usage": {}, "status": "OK", "namespace": null, "scope_id": "", "scope_type": "", "hard_limits": {"cost": 0, "tokens": 1000},
            "reset_count": 0, "soft_limits": {"cost": 0, "tokens": 800}, "breach_count": 0, "last_reset_at": null,
            "next_reset_at": null, "on_hard_limit": "", "on_soft_limit": "", "last_breach_at": null, "last_breach_dim": null,
            "enforcement_mode": "", "reset_interval_ms": 0, "soft_breach_count": 0, "reconciled_breach_at": null}',
          '1. status: both maps with the zeros, empty usage, counters 0');
SELECT is(ff.create_budget(t.b(1), '{tokens}', '{5}', '{1}')->>'status', 'ALREADY_SATISFIED', '2. again -> ALREADY_SATISFIED');
SELECT is((ff.get_budget_status(t.b(1)))->'hard_limits', '{"cost": 0, "tokens": 1000}', '2. original limits unchanged');
-- 3-4. dimension checks
SELECT t.snapshot() AS snap3 \gset
SELECT throws_ok($$SELECT ff.create_budget(t.b(3), ARRAY(SELECT 'd' || g FROM generate_series(1, 65) g),
                   ARRAY(SELECT 1::bigint FROM generate_series(1, 65)), ARRAY(SELECT 0::bigint FROM generate_series(1, 65)))$$,
                 '54000', 'invalid_input: too_many_dimensions: limit=64, got=65', '3. 65 dimensions');
SELECT is(ff.create_budget(t.b(3), ARRAY(SELECT 'd' || g FROM generate_series(1, 64) g),
          ARRAY(SELECT 1::bigint FROM generate_series(1, 64)), ARRAY(SELECT 0::bigint FROM generate_series(1, 64)))->>'status',
          'OK', '3. 64 dimensions accepted');
SELECT throws_ok($$SELECT ff.create_budget(t.b(4), '{a,b}', '{1}', '{0,0}')$$, '2202E',
                 'invalid_input: dimension_limit_array_mismatch: dimensions=2 hard_limits=1', '4. short hard_limits');
SELECT throws_ok($$SELECT ff.create_budget(t.b(4), '{a,a}', '{1,1}', '{0,0}')$$, '22023', NULL, 'duplicate dimensions at create');
SELECT throws_ok($$SELECT ff.create_budget(t.b(4), '{a}', '{-1}', '{0}')$$, '22023', NULL, 'negative limit');
SELECT throws_ok($$SELECT ff.create_budget(t.b(4), '{""}', '{1}', '{0}')$$, '22023', NULL, 'empty dimension name');
SELECT throws_ok($$SELECT ff.create_budget(t.b(4), '{"a,b"}', '{1}', '{0}')$$, '22023', NULL, 'a comma in a dimension name');
SELECT throws_ok($$SELECT ff.create_budget(t.b(4), reset_interval_ms => -5)$$, '22023', NULL, 'negative reset interval');
SELECT throws_ok($$SELECT ff.create_budget(NULL)$$, '22004', NULL, 'NULL budget id');
SELECT is((SELECT count(*)::int FROM ff.budget WHERE budget_id = t.b(4)), 0, '4. nothing written');
-- 5. reset schedule
SELECT ff.create_budget(t.b(5), '{tokens}', '{10}', '{0}', reset_interval_ms => 60000);
SELECT is((t.budget(t.b(5))).next_reset_at, 1000000000000 + 60000, '5. next_reset_at = T + interval');
SELECT is((t.budget(t.b(1))).next_reset_at, NULL, '5. interval 0 -> never due');
-- 6. zero dimensions
SELECT ff.create_budget(t.b(6));
SELECT is(t.rep(t.b(6), 'anything', 1000000)->>'status', 'OK', '6. a budget without dimensions never breaches');
-- 7. partition
SELECT is((t.budget(t.b(1))).partition, ff.budget_partition(t.b(1)), '7. partition = crc16(uuid bytes) mod 32');
SELECT is(ff.budget_partition(t.b(1)), (ff.crc16(uuid_send(t.b(1))) % 32)::smallint, '7. the crc16 rule');

-- 8-11. hard limits
SELECT ff.create_budget(t.b(8), '{cost,tokens}', '{50,100}', '{0,0}');
SELECT is(t.rep(t.b(8), 'tokens', 100), '{"ok": true, "status": "OK"}', '8. landing on the limit is OK');
SELECT is(t.usage(t.b(8), 'tokens'), 100::bigint, '8. usage 100');
SELECT t.at(1000000001000);
SELECT is(t.rep(t.b(8), 'tokens', 1), '{"ok": true, "status": "HARD_BREACH", "dimension": "tokens", "hard_limit": 100, "current_usage": 100}',
          '8. one more -> HARD_BREACH with the pre-call usage');
SELECT is(((t.budget(t.b(8))).breach_count, (t.budget(t.b(8))).last_breach_dim, (t.budget(t.b(8))).last_breach_at)::text,
          '(1,tokens,1000000001000)', '8. breach bookkeeping committed');
SELECT is(t.usage(t.b(8), 'tokens'), 100::bigint, '8. usage unchanged');
SELECT is(t.rep(t.b(8), 'tokens', 0)->>'status', 'OK', '9. delta 0 at the limit is OK');
SELECT is((t.budget(t.b(8))).breach_count, 1::bigint, '9. no breach recorded');
SELECT is(ff.report_usage_and_check(t.b(8), '{cost,tokens}', '{10,5}')->>'dimension', 'tokens', '10. the breaching call');
SELECT is(t.usage(t.b(8), 'cost'), NULL, '10. the fitting dimension was not applied either');
SELECT t.rep(t.b(8), 'cost', 50);
SELECT is(ff.report_usage_and_check(t.b(8), '{tokens,cost}', '{1,1}')->>'dimension', 'tokens', '11. first in argument order');
SELECT is(ff.report_usage_and_check(t.b(8), '{cost,tokens}', '{1,1}')->>'dimension', 'cost', '11. (other order)');
-- 12-15. soft limits
SELECT ff.create_budget(t.b(12), '{a,b,c}', '{100,100,0}', '{80,10,0}');
SELECT is(t.rep(t.b(12), 'a', 81), '{"ok": true, "usage": 81, "status": "SOFT_BREACH", "dimension": "a", "soft_limit": 80}', '12. SOFT_BREACH');
SELECT is((t.budget(t.b(12))).soft_breach_count, 1::bigint, '12. soft_breach_count 1');
SELECT is(t.rep(t.b(12), 'a', 0)->>'status', 'SOFT_BREACH', '12. a report of 0 above the soft limit breaches again');
SELECT is((t.budget(t.b(12))).soft_breach_count, 2::bigint, '12. soft_breach_count 2');
SELECT is(ff.report_usage_and_check(t.b(12), '{b,a}', '{11,1}'), '{"ok": true, "usage": 11, "status": "SOFT_BREACH", "dimension": "b", "soft_limit": 10}',
          '13. two soft breaches: the first in argument order, post-increment usage');
SELECT is((t.budget(t.b(12))).soft_breach_count, 3::bigint, '13. counted once');
SELECT is(t.rep(t.b(12), 'c', 1000000)->>'status', 'OK', '14. limits of 0 never trip');
SELECT is(t.rep(t.b(12), 'undeclared', 1000000)->>'status', 'OK', '15. an undeclared dimension accumulates');
SELECT is(t.usage(t.b(12), 'undeclared'), 1000000::bigint, '15. counted');
-- 16-21. idempotency
SELECT ff.create_budget(t.b(16), '{tokens,x}', '{100,0}', '{0,0}');
SELECT t.rep(t.b(16), 'tokens', 10, 'k');
SELECT (t.budget(t.b(16))).last_updated_at AS lu16 \gset
SELECT t.at(1000000002000);
SELECT is(t.rep(t.b(16), 'tokens', 10, 'k'), '{"ok": true, "status": "ALREADY_APPLIED"}', '16. same key -> ALREADY_APPLIED');
SELECT is(t.usage(t.b(16), 'tokens'), 10::bigint, '16. counted once');
SELECT is((t.budget(t.b(16))).last_updated_at, :'lu16'::bigint, '16/25. last_updated_at unchanged by ALREADY_APPLIED');
SELECT is(t.rep(t.b(16), 'tokens', 500, 'k2')->>'status', 'HARD_BREACH', '17. a breach with key k2');
SELECT is((t.budget(t.b(16))).last_updated_at, 1000000002000::bigint, '25. HARD_BREACH touches last_updated_at');
SELECT ff.reset_budget(t.b(16));
SELECT is(t.rep(t.b(16), 'tokens', 50, 'k2')->>'status', 'OK', '17. after a reset the same key applies');
SELECT t.at(1000000001000 + 86400000);
SELECT is(t.rep(t.b(16), 'tokens', 1, 'k'), '{"ok": true, "status": "OK"}', '18. the mark expires exactly 24 h after it was stamped');
SELECT t.at(1000000002000);
SELECT ff.create_budget(t.b(17), '{tokens}', '{0}', '{0}');
SELECT is(t.rep(t.b(17), 'tokens', 1, 'k')->>'status', 'OK', '19. the same key on another budget applies (scope = budget, behaviour/budgets §C.3)');
SELECT is(ff.record_spend(t.b(17), t.id(1), '{tokens}', '{5}', 'k'), '{"ok": true, "status": "ALREADY_APPLIED"}',
          '20. report_usage and record_spend share the marks of a budget');
SELECT throws_ok($$SELECT ff.report_usage_and_check(t.b(17), '{tokens,tokens}', '{1,1}')$$, '22023', NULL, '21. duplicate dimensions -> invalid_input');
SELECT throws_ok($$SELECT ff.report_usage_and_check(t.b(17), '{tokens}', '{-1}')$$, '22023', NULL, '22. negative delta');
-- 22. a non-integer delta cannot reach the engine at all: deltas are bigint[],
-- and PostgreSQL's own cast refuses '1.5' before the call.  The one
-- malformed delta a bigint[] can carry, NULL, is the engine's to refuse.
SELECT throws_ok($$SELECT ff.report_usage_and_check(t.b(17), '{tokens}', '{1.5}')$$, '22P02', NULL, '22. non-integer delta: refused by the bigint[] type before the call');
SELECT throws_ok($$SELECT ff.report_usage_and_check(t.b(17), '{tokens}', ARRAY[NULL]::bigint[])$$, '22004', NULL, '22. a NULL delta -> the engine''s own check (22004)');
SELECT throws_ok($$SELECT ff.report_usage_and_check(t.b(17), '{tokens,cost}', ARRAY[1, NULL]::bigint[])$$, '22004', NULL, '22. a NULL among valid deltas -> refused whole');
SELECT throws_ok($$SELECT ff.report_usage_and_check(t.b(17), '{tokens}', ARRAY[9223372036854775807])$$, '22003', NULL, 'overflow');
SELECT is(t.usage(t.b(17), 'tokens'), 1::bigint, '22. nothing written by refused reports');
SELECT t.snapshot() AS snap23 \gset
SELECT is(t.rep(t.b(99), 'tokens', 1), '{"ok": false, "error": "budget_not_found"}', '23. unknown budget -> budget_not_found');
SELECT is((SELECT count(*)::int FROM ff.budget WHERE budget_id = t.b(99)) + (SELECT count(*)::int FROM ff.budget_usage WHERE budget_id = t.b(99)), 0,
          '23. and no stub');
SELECT is(t.rep(t.b(12), 'c', 1)->>'status', 'OK', '24. reports carry no lease: nothing to validate');
SELECT ok((t.budget(t.b(12))).last_updated_at = ff.now_ms(), '25. OK and SOFT_BREACH touch last_updated_at');

-- 26-32. the per-execution ledger
SELECT ff.create_budget(t.b(26), '{cost,tokens}', '{0,0}', '{0,0}');
SELECT is(ff.record_spend(t.b(26), t.id(1), '{tokens,cost}', '{250,4200}', 'r1')->>'status', 'OK', '26. record_spend');
SELECT is((SELECT jsonb_object_agg(dimension, value) FROM ff.budget_usage WHERE budget_id = t.b(26)), '{"cost": 4200, "tokens": 250}', '26. usage');
SELECT is((SELECT jsonb_object_agg(dimension, delta_total) FROM ff.budget_usage_by_exec WHERE budget_id = t.b(26)), '{"cost": 4200, "tokens": 250}', '26. ledger');
SELECT is(ff.release_budget(t.b(26), t.id(1))->>'result', 'released', '26. release');
SELECT is((SELECT jsonb_object_agg(dimension, value) FROM ff.budget_usage WHERE budget_id = t.b(26)), '{"cost": 0, "tokens": 0}', '26. usage 0, fields kept');
SELECT is((SELECT count(*)::int FROM ff.budget_usage_by_exec WHERE budget_id = t.b(26)), 0, '26. ledger gone');
SELECT is(ff.release_budget(t.b(26), t.id(1))->>'result', 'noop', '27. second release -> noop');
SELECT ff.record_spend(t.b(26), t.id(2), '{cost}', '{10}', 'r2');
SELECT ff.record_spend(t.b(26), t.id(2), '{cost}', '{15}', 'r3');
SELECT is((SELECT delta_total FROM ff.budget_usage_by_exec WHERE budget_id = t.b(26) AND execution_id = t.id(2)), 25::bigint, '28. the ledger accumulates');
SELECT is(ff.record_spend(t.b(26), t.id(2), '{cost}', '{15}', 'r3')->>'status', 'ALREADY_APPLIED', '29. replay with the same key');
SELECT is((SELECT delta_total FROM ff.budget_usage_by_exec WHERE budget_id = t.b(26) AND execution_id = t.id(2)), 25::bigint, '29. ledger unchanged');
SELECT ff.release_budget(t.b(26), t.id(2));
SELECT is(t.usage(t.b(26), 'cost'), 0::bigint, '28. one release reverses the sum');
SELECT is(ff.record_spend(t.b(26), t.id(2), '{cost}', '{15}', 'r3')->>'status', 'ALREADY_APPLIED', '29. after release the key still suppresses');
SELECT ff.record_spend(t.b(26), t.id(3), '{cost}', '{40}', 'r4');
SELECT ff.reset_budget(t.b(26));
SELECT ff.record_spend(t.b(26), t.id(4), '{cost}', '{5}', 'r5');
SELECT ff.release_budget(t.b(26), t.id(3));
SELECT is(t.usage(t.b(26), 'cost'), 0::bigint, '30. reset then release clamps at 0');
SELECT ff.create_budget(t.b(31), '{tokens}', '{10}', '{0}');
SELECT is(ff.record_spend(t.b(31), t.id(5), '{tokens}', '{11}')->>'status', 'HARD_BREACH', '31. a breaching spend');
SELECT is((SELECT count(*)::int FROM ff.budget_usage_by_exec WHERE budget_id = t.b(31)), 0, '31. writes no ledger');
SELECT t.rep(t.b(31), 'tokens', 3);
SELECT is(ff.release_budget(t.b(31), t.id(5))->>'result', 'noop', '32. report_usage spend is not releasable');
SELECT is(t.usage(t.b(31), 'tokens'), 3::bigint, '32. usage kept');
SELECT is(ff.record_spend(t.b(26), t.id(6), '{z,a}', '{1,2}')->>'status', 'OK', 'record_spend takes any order');
SELECT throws_ok($$SELECT ff.record_spend(t.b(26), 'bogus', '{a}', '{1}')$$, '22P02', NULL, 'record_spend: malformed execution id');

-- 33-37. reset
SELECT t.at(1000000003000);
SELECT ff.reset_budget(t.b(8));
SELECT is((SELECT array_agg(value ORDER BY dimension) FROM ff.budget_usage WHERE budget_id = t.b(8)), ARRAY[0, 0]::bigint[], '33. usage zeroed, fields kept');
SELECT is(((t.budget(t.b(8))).reset_count, (t.budget(t.b(8))).last_reset_at, (t.budget(t.b(8))).last_breach_at, (t.budget(t.b(8))).last_breach_dim,
           (t.budget(t.b(8))).breach_count)::text, '(1,1000000003000,,,4)', '33. counters: reset_count, last_reset_at, breach cleared, lifetime kept');
SELECT is(ff.reset_budget(t.b(5)), '{"ok": true, "status": "OK", "next_reset_at": 1000000063000}', '34. recurring: rescheduled from T');
SELECT is(ff.reset_budget(t.b(8)), '{"ok": true, "status": "OK", "next_reset_at": 0}', '34. non-recurring: 0');
SELECT is(ff.reset_budget(t.b(99)), '{"ok": false, "error": "budget_not_found"}', '37. unknown budget');
-- 35-36. the reset scanner
SELECT ff.create_budget(t.b(100 + g), '{tokens}', '{10}', '{0}', reset_interval_ms => 1000 + g) FROM generate_series(1, 25) g;
SELECT t.rep(t.b(101), 'tokens', 5);
SELECT t.at(1000000003000 + 1024);
SELECT is(ff.scan_budget_resets()->>'processed', '20', '35. 20 due budgets per pass');
SELECT is((SELECT count(*)::int FROM ff.budget WHERE budget_id IN (SELECT t.b(100 + g) FROM generate_series(1, 25) g) AND reset_count = 1), 20,
          '35. earliest due first');
SELECT is(t.usage(t.b(101), 'tokens'), 0::bigint, '35. reset usage');
SELECT is((SELECT reset_count FROM ff.budget WHERE budget_id = t.b(124)), 0::bigint, '35. the rest wait');
SELECT is(ff.scan_budget_resets()->>'processed', '4', '35. next pass: the rest due by now');
SELECT t.at(1000000003000 + 3 * 1001 + 50);
SELECT ff.scan_budget_resets();
SELECT is(((t.budget(t.b(101))).reset_count, (t.budget(t.b(101))).next_reset_at)::text, '(2,' || (1000000003000 + 3 * 1001 + 50 + 1001) || ')',
          '36. overdue by several intervals: reset once, rescheduled from the reset time');

-- 39-51. quotas
SELECT is(ff.create_quota_policy(t.q(1), 60, 2, 0), jsonb_build_object('ok', true, 'status', 'OK', 'quota_policy_id', t.q(1)), '39. create');
SELECT is(ff.create_quota_policy(t.q(1), 1, 1, 1)->>'status', 'ALREADY_SATISFIED', '39. again');
SELECT throws_ok($$SELECT ff.create_quota_policy(t.q(2), -1, 1, 1)$$, '22023', NULL, 'negative window');
SELECT t.at(0);
SELECT is(t.admit(t.q(1), 1, 2)->>'status', 'ADMITTED', '40. E1 at 0');
SELECT is(t.admit(t.q(1), 2, 2)->>'status', 'ADMITTED', '40. E2 at 0');
SELECT t.at(1000);
SELECT is(t.admit(t.q(1), 3, 2), '{"ok": true, "status": "RATE_EXCEEDED", "retry_after_ms": 59000}', '40. E3 at 1000 -> RATE_EXCEEDED, retry 59000');
SELECT t.at(2000);
SELECT is(t.admit(t.q(1), 1, 2)->>'status', 'ALREADY_ADMITTED', '41. E1 again');
SELECT is((SELECT count(*)::int FROM ff.quota_slot WHERE quota_policy_id = t.q(1) AND free_at > ff.now_ms()), 2, '41. window unchanged');
SELECT t.at(60000);
SELECT is(t.admit(t.q(1), 3, 2)->>'status', 'ADMITTED', '42. at 60000 the entries of 0 are trimmed (inclusive)');
SELECT ff.create_quota_policy(t.q(3), 60, 1, 1);
SELECT t.admit(t.q(3), 1, 1, 1);
SELECT is(t.admit(t.q(3), 2, 1, 1)->>'status', 'RATE_EXCEEDED', '43. both exhausted -> rate first');
SELECT ff.create_quota_policy(t.q(4), 10, 100, 1);
SELECT t.at(100000);
SELECT is(t.admit(t.q(4), 1, 100, 1, 10)->>'status', 'ADMITTED', '44. cap 1: E1 admitted');
SELECT is((SELECT active_concurrency FROM ff.quota_status WHERE quota_policy_id = t.q(4)), 1::bigint, '44. one concurrency slot busy');
SELECT is(ARRAY[(SELECT refusing FROM ff.quota_status WHERE quota_policy_id = t.q(4)), ff._quota_refuses(t.q(4), ff.now_ms(), NULL)],
          ARRAY[true, true], '44. the cap is full: quota_status and the unblock rule both refuse');
SELECT is(t.admit(t.q(4), 2, 100, 1, 10)->>'status', 'CONCURRENCY_EXCEEDED', '44. E2 -> CONCURRENCY_EXCEEDED');
SELECT ff.reconcile_quotas();
SELECT is(t.admit(t.q(4), 2, 100, 1, 10)->>'status', 'CONCURRENCY_EXCEEDED', '44. finishing work frees nothing while the admission lives');
SELECT t.at(109999);
SELECT is(t.admit(t.q(4), 2, 100, 1, 10)->>'status', 'CONCURRENCY_EXCEEDED', '44. ... up to the end of its window');
SELECT t.at(110000);
SELECT is((SELECT active_concurrency FROM ff.quota_status WHERE quota_policy_id = t.q(4)), 0::bigint, '44. the slot frees as the admission expires');
SELECT is(ARRAY[(SELECT refusing FROM ff.quota_status WHERE quota_policy_id = t.q(4)), ff._quota_refuses(t.q(4), ff.now_ms(), NULL)],
          ARRAY[false, false], '44. the slot is free: neither refuses');
SELECT is(ff.reconcile_quotas()->>'processed', '1', '51. the reconciler drops the expired admission');
SELECT is((SELECT count(*)::int FROM ff.quota_admission WHERE quota_policy_id = t.q(4)), 0, '51. gone');
SELECT is(ff.reconcile_quotas()->>'processed', '0', '51. nothing left to drop is not counted');
SELECT is(t.admit(t.q(4), 2, 100, 1, 10)->>'status', 'ADMITTED', '44. then E2 is admitted');
SELECT is(ff.release_admission(t.q(4), t.id(2))->>'result', 'released', '45. release');
SELECT is(((SELECT active_concurrency FROM ff.quota_status WHERE quota_policy_id = t.q(4)),
           (SELECT count(*) FROM ff.quota_admission WHERE quota_policy_id = t.q(4)),
           (SELECT count(*) FROM ff.quota_slot WHERE quota_policy_id = t.q(4) AND kind = 'r' AND execution_id = t.id(2) AND free_at > ff.now_ms()))::text,
          '(0,0,1)', '45. slot back, guard gone, the window entry stays');
SELECT is((SELECT admitted_in_window FROM ff.quota_status WHERE quota_policy_id = t.q(4)), 1::bigint, '45. and counts toward the rate');
SELECT t.admit(t.q(4), 3, 100, 1, 10);
SELECT ff.release_admission(t.q(4), t.id(2));
SELECT is((SELECT active_concurrency FROM ff.quota_status WHERE quota_policy_id = t.q(4)), 1::bigint,
          '46. a second release frees nothing (behaviour/budgets §C.6)');
-- 47. a non-numeric rate_limit cannot reach the engine (rate_limit is bigint:
-- PostgreSQL refuses 'x' before the call); what the engine itself refuses
-- is a missing or negative one, and nothing is written
SELECT throws_ok($$SELECT ff.check_admission_and_record(t.q(1), t.id(9), 60, 'x', 0)$$, '22P02', NULL, '47. non-numeric rate_limit: refused by the bigint type before the call');
SELECT count(*) AS adm47 FROM ff.quota_admission \gset
SELECT count(*) AS slot47 FROM ff.quota_slot \gset
SELECT throws_ok($$SELECT ff.check_admission_and_record(t.q(1), t.id(9), 60, NULL, 0)$$, '22004', NULL, '47. a NULL rate_limit -> the engine''s own check (22004)');
SELECT throws_ok($$SELECT ff.check_admission_and_record(t.q(1), t.id(9), 60, -1, 0)$$, '22023', NULL, '47. a negative rate_limit -> the engine''s own check (22023)');
SELECT is(ARRAY[(SELECT count(*) FROM ff.quota_admission), (SELECT count(*) FROM ff.quota_slot)], ARRAY[:adm47, :slot47]::bigint[],
          '47. nothing written by the refused admissions');
SELECT throws_ok($$SELECT ff.create_quota_policy(t.q(2), 60, 1000001, 0)$$, '54000', NULL, 'a limit above a million');
SELECT ff.create_quota_policy(t.q(5), 60, 1, 0, jitter_ms => 500);
SELECT t.admit(t.q(5), 1, 1, 0, 60, 500);
SELECT ok((t.admit(t.q(5), 2, 1, 0, 60, 500)->>'retry_after_ms')::bigint BETWEEN 60000 AND 60500, '48. jitter within [base, base + J]');

-- 52-61. admission at claim time
SELECT t.at(1000000010000);
SELECT ff.create_budget(t.b(53), '{tokens}', '{100}', '{0}');
SELECT t.rep(t.b(53), 'tokens', 100);
SELECT ff.create_execution(t.id(53), lane_id => 'adm', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.b(53)))::text);
SELECT ff.create_execution(t.id(54), lane_id => 'adm');
SELECT is((t.row(t.id(53))).budget_ids, t.b(53)::text, 'policy budget_ids are attached at create');
SELECT is(t.claim1('adm'), NULL, '53. the breached head is not claimed');
SELECT is(ARRAY[e.public_state::text, e.blocking_reason::text, e.blocking_detail],
          ARRAY['rate_limited', 'waiting_for_budget', 'budget ff:budget:' || t.b(53) || ':usage: tokens 100/100'],
          '53. blocked waiting_for_budget with the detail') FROM t.row(t.id(53)) e;
SELECT is(t.claim1('adm'), t.id(54), '53. the next execution becomes the head');
SELECT ff.create_budget(t.b(54), '{tokens}', '{100}', '{0}');
SELECT t.rep(t.b(54), 'tokens', 99);
SELECT ff.create_execution(t.id(55), lane_id => 'adm2', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.b(54)))::text);
SELECT ff.create_execution(t.id(56), lane_id => 'adm2', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.b(54)))::text);
SELECT is((SELECT count(*)::int FROM ff.claim_next('adm2', 'w1', 'w1-1', max_count => 2)), 2, '54. 99/100: both admitted (no reservation)');
SELECT ff.create_execution(t.id(57), lane_id => 'adm3', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.b(54), t.b(53)))::text);
SELECT t.claim1('adm3');
SELECT ok((t.row(t.id(57))).blocking_detail LIKE 'budget ff:budget:' || t.b(53) || '%', '55. the second budget breached: its detail');
SELECT t.rep(t.b(54), 'tokens', 1);
SELECT ff.create_execution(t.id(58), lane_id => 'adm3', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.b(54), t.b(53)))::text);
SELECT t.claim1('adm3');
SELECT ok((t.row(t.id(58))).blocking_detail LIKE 'budget ff:budget:' || t.b(54) || '%', '55. both breached: the first''s detail');
SELECT ff.create_execution(t.id(59), lane_id => 'adm4');
UPDATE ff.execution SET budget_ids = 'not-a-uuid, ,' || t.b(1)::text WHERE execution_id = t.exec_uuid(t.id(59));
SELECT is(t.claim1('adm4'), t.id(59), '56. non-UUID and unknown-limit ids admit');
SELECT ff.create_quota_policy(t.q(58), 60, 1, 0);
SELECT ff.create_quota_policy(t.q(59), 60, 0, 1);
SELECT ff.create_execution(t.id(60 + g), lane_id => 'adm5') FROM generate_series(0, 3) g;
SELECT ff.set_execution_admission(t.id(60 + g), quota_policy_id => t.q(58)) FROM generate_series(0, 1) g;
SELECT ff.set_execution_admission(t.id(60 + g), quota_policy_id => t.q(59)) FROM generate_series(2, 3) g;
SELECT is(t.claim1('adm5'), t.id(60), 'quota: the first is admitted');
SELECT is(t.claim1('adm5'), NULL, '58. the second is refused by the rate');
SELECT is((t.row(t.id(61))).blocking_detail, 'quota ' || t.q(58) || ': rate limit 1/1 per 60s window', '58. rate detail');
SELECT is(t.claim1('adm5'), t.id(62), 'the cap admits one');
SELECT is(t.claim1('adm5'), NULL, '58. then refuses');
SELECT is(ARRAY[(t.row(t.id(63))).blocking_reason::text, (t.row(t.id(63))).blocking_detail],
          ARRAY['waiting_for_quota', 'quota ' || t.q(59) || ': concurrency cap 1'], '58. concurrency detail');
SELECT ff.create_quota_policy(t.q(60), 0, 0, 0);
SELECT ff.create_execution(t.id(64), lane_id => 'adm6');
SELECT ff.set_execution_admission(t.id(64), quota_policy_id => t.q(60));
SELECT is(t.claim1('adm6'), t.id(64), '49. an unlimited policy admits');
SELECT is((SELECT count(*)::int FROM ff.quota_admission WHERE quota_policy_id = t.q(60)), 0, '49. and records nothing');
SELECT ff.create_quota_policy(t.q(61), 0, 5, 0);
SELECT ff.create_execution(t.id(65), lane_id => 'adm7');
SELECT ff.set_execution_admission(t.id(65), quota_policy_id => t.q(61));
SELECT t.claim1('adm7');
SELECT is((SELECT expires_at - admitted_at FROM ff.quota_admission WHERE quota_policy_id = t.q(61)), 60000::bigint, '50. a window of 0 means 60 s');
SELECT ff.create_execution(t.id(66), lane_id => 'adm8');
SELECT ff.create_execution(t.id(67), lane_id => 'adm8', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.b(53)))::text);
SELECT is(t.claim1('adm8'), t.id(66), '60. one claim takes the head');
SELECT is((t.row(t.id(67))).public_state::text, 'waiting', '60. the breached one behind it is untouched');
SELECT ff.create_budget(t.b(61), '{tokens}', '{100}', '{10}');
SELECT t.rep(t.b(61), 'tokens', 50);
SELECT ff.create_execution(t.id(68), lane_id => 'adm9', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.b(61)))::text);
SELECT is(t.claim1('adm9'), t.id(68), '61. soft breaches never block');
SELECT is(ff.create_execution(t.id(69), policy_json => '{"budget_ids": "x"}')->>'error', 'invalid_policy_json', 'policy budget_ids must be an array');
SELECT is(ff.create_execution(t.id(69), policy_json => '{"budget_ids": ["nope"]}') - 'ok', '{"error": "invalid_policy_json", "detail": "budget_ids:not_uuid"}',
          'of UUIDs');
SELECT t.invariants('admission');

-- set_execution_admission
SELECT is(ff.set_execution_admission(t.id(99))->>'error', 'execution_not_found', 'set_execution_admission: missing');
SELECT ff.create_execution(t.id(70));
SELECT is(ff.set_execution_admission(t.id(70), ARRAY[t.b(1), t.b(1), t.b(8)], t.q(1))->>'status', 'OK', 'attach');
SELECT is(((t.row(t.id(70))).budget_ids, (t.row(t.id(70))).quota_policy_id)::text, '("' || t.b(1) || ',' || t.b(8) || '",' || t.q(1) || ')',
          'duplicates dropped, order kept');
SELECT is(ff.set_execution_admission(t.id(70))->>'status', 'OK', 'detach');
SELECT is(((t.row(t.id(70))).budget_ids, (t.row(t.id(70))).quota_policy_id)::text, '(,)', 'detached');
SELECT ff.cancel_execution(t.id(70));
SELECT is(ff.set_execution_admission(t.id(70), ARRAY[t.b(1)])->>'error', 'execution_not_active', 'terminal -> execution_not_active');

-- 62-69. block / unblock
SELECT ff.create_execution(t.id(71), lane_id => 'blk', priority => 5);
SELECT t.at(1000000011000);
SELECT ff.create_execution(t.id(72), lane_id => 'blk', priority => 5);
SELECT is(ff.block_execution_for_admission(t.id(71), 'made_up')->>'error', 'invalid_blocking_reason', '62. unknown reason');
SELECT is(ff.block_execution_for_admission(t.id(71), 'waiting_for_quota', 'by hand')->>'result', 'blocked', '62. block');
SELECT is(ARRAY[e.eligibility_state::text, e.blocking_detail, e.attempt_state::text, e.last_transition_at::text],
          ARRAY['blocked_by_quota', 'by hand', 'pending_first_attempt', '1000000011000'], '63. detail, attempt state, times') FROM t.row(t.id(71)) e;
SELECT is(ff.unblock_execution(t.id(71), expected_blocking_reason => 'waiting_for_budget')->>'error', 'execution_not_eligible', '65. reason mismatch');
SELECT is((t.row(t.id(71))).eligibility_state::text, 'blocked_by_quota', '65. no change');
SELECT is(ff.unblock_execution(t.id(71))->>'result', 'unblocked', '64. unblock');
SELECT is(t.claim1('blk'), t.id(71), '64. claimed in its original FIFO place');
SELECT ff.block_execution_for_admission(t.id(72), 'paused_by_policy');
SELECT is(ff.unblock_execution(t.id(72))->>'error', 'execution_not_eligible', '66. lane-state blocks are not unblocked here');
SELECT ff.create_execution(t.id(73), lane_id => 'blk');
SELECT ff.block_execution_for_admission(t.id(73), 'paused_by_operator');
SELECT ff.scan_unblock();
SELECT is((t.row(t.id(73))).eligibility_state::text, 'blocked_by_operator', '67. the scanner never releases operator holds');
SELECT is(ff.unblock_execution(t.id(73), expected_blocking_reason => 'paused_by_operator')->>'result', 'unblocked', '67. an explicit unblock does');
SELECT ff.create_execution(t.id(74), lane_id => 'blk');
SELECT ff.block_execution_for_admission(t.id(74), 'waiting_for_budget');
SELECT ff.cancel_execution(t.id(74));
SELECT is((t.row(t.id(74))).eligibility_state::text, 'not_applicable', '68. a cancelled blocked execution leaves the blocked state');
SELECT ff.create_execution(t.id(75), lane_id => 'blk', execution_deadline_at => 1000000011500);
SELECT ff.block_execution_for_admission(t.id(75), 'waiting_for_quota');
SELECT t.at(1000000012000);
SELECT ff.scan_execution_deadlines();
SELECT is((t.row(t.id(75))).public_state::text, 'expired', '69. deadline expiry of a blocked execution');

-- 70-78. the unblock scanner
SELECT ff.scan_unblock();
SELECT is((t.row(t.id(53))).eligibility_state::text, 'blocked_by_budget', '71. a budget at its hard limit keeps its executions blocked');
SELECT ff.reset_budget(t.b(53));
SELECT ok((ff.scan_unblock()->>'processed')::int >= 1, '70. after a reset the next pass unblocks');
SELECT is((t.row(t.id(53))).public_state::text, 'waiting', '70. waiting again');
SELECT is(t.claim1('adm'), t.id(53), '70. and admitted');
SELECT is((t.row(t.id(61))).eligibility_state::text, 'blocked_by_quota', '73. a rate-limited execution stays blocked while the window is full');
SELECT is((t.row(t.id(63))).eligibility_state::text, 'blocked_by_quota', '73. a capped one while the cap is taken');
SELECT t.at(1000000012000 + 60001);
SELECT ff.scan_unblock();
SELECT is((t.row(t.id(61))).public_state::text, 'waiting', '73. released once the admission window has room');
SELECT is((t.row(t.id(63))).public_state::text, 'waiting', '73. the capped one too, its admission''s window having passed');
-- route (74-76)
SELECT ff.create_execution(t.id(80), lane_id => 'route', namespace => 'ns1',
                           policy_json => '{"routing_requirements": {"required_capabilities": ["gpu", "cuda"]}}');
SELECT ff.block_execution_for_admission(t.id(80), 'waiting_for_capable_worker', 'no connected worker satisfies required_capabilities');
SELECT ff.register_worker('a', 'pool', capabilities => '{gpu}', namespace => 'ns1');
SELECT ff.register_worker('x', 'pool', capabilities => '{cuda}', namespace => 'other');
SELECT ff.scan_unblock();
SELECT is((t.row(t.id(80))).eligibility_state::text, 'blocked_by_route', '75. another namespace does not count');
SELECT ff.register_worker('b', 'pool', capabilities => '{cuda}', namespace => 'ns1', ttl_ms => 1000);
SELECT t.at(1000000012000 + 60001 + 1000);
SELECT ff.scan_unblock();
SELECT is((t.row(t.id(80))).eligibility_state::text, 'blocked_by_route', '75. an expired registration does not count');
SELECT ff.register_worker('b', 'pool', capabilities => '{cuda}', namespace => 'ns1');
SELECT ff.scan_unblock();
SELECT is((t.row(t.id(80))).public_state::text, 'waiting', '74. the union of A {gpu} and B {cuda} releases it');
SELECT is((SELECT count(*)::int FROM ff.claim_next('route', 'a', 'a-1', '{gpu}')), 0, '74. a worker with only gpu does not take it');
-- 77: a stale reason never matches the scanner's predicate
UPDATE ff.execution SET eligibility_state = 'blocked_by_budget', blocking_reason = 'waiting_for_quota', public_state = 'rate_limited'
 WHERE execution_id = t.exec_uuid(t.id(72));
SELECT is(ff.scan_unblock()->>'errors', '0', '77. a stale entry is skipped without error');
SELECT is((t.row(t.id(72))).eligibility_state::text, 'blocked_by_budget', '77. and left alone');
UPDATE ff.execution SET eligibility_state = 'blocked_by_lane_state', blocking_reason = 'paused_by_policy', public_state = 'waiting'
 WHERE execution_id = t.exec_uuid(t.id(72));

-- 79-88. the worker registry
SELECT t.at(1000000100000);
SELECT is(ff.register_worker('i1', 'pool', '{b,a,a}', '{z,y}', 5000)->>'result', 'registered', '79. first register');
SELECT t.at(1000000101000);
SELECT is(ff.register_worker('i1', 'pool', '{c}', '{x}', 5000)->>'result', 'refreshed', '79. within the TTL -> refreshed');
SELECT is((SELECT (lanes, capabilities, registered_at)::text FROM ff.worker WHERE worker_instance_id = 'i1'), '({c},{x},1000000101000)',
          '79. caps and lanes overwritten, registered_at updated');
SELECT is(ff.heartbeat_worker('i1'), '{"ok": true, "ttl_ms": 5000, "result": "refreshed", "status": "OK", "next_expiry_ms": 1000000106000}',
          '80. heartbeat -> refreshed with the stored ttl');
SELECT is((SELECT (lanes, capabilities)::text FROM ff.worker WHERE worker_instance_id = 'i1'), '({c},{x})', '80. lanes and caps unchanged');
SELECT is(ff.register_worker('i1', 'other-pool', '{c}', '{x}')->>'detail', 'instance_id reassigned', '86. reassignment while live is refused');
SELECT t.at(1000000106000);
SELECT is(ff.heartbeat_worker('i1')->>'result', 'not_registered', '81. after the TTL -> not_registered');
SELECT is(ff.register_worker('i1', 'other-pool', '{c}', '{x}')->>'result', 'registered', '79/86. after the TTL: registered, reassignable');
SELECT throws_ok($$SELECT ff.mark_worker_dead('i1', reason => repeat('r', 257))$$, '22023', 'invalid_input: reason: exceeds 256 bytes (got 257)', '82. long reason');
SELECT throws_ok($$SELECT ff.mark_worker_dead('i1', reason => E'a\nb')$$, '22023', 'invalid_input: reason: must not contain control characters', '82. newline');
SELECT ff.create_execution(t.id(90), lane_id => 'reg');
SELECT ff.claim_next('reg', 'other-pool', 'i1');
SELECT t.row(t.id(90)) AS b90 \gset
SELECT is(ff.mark_worker_dead('i1', reason => 'oom')->>'result', 'marked', '82. marked');
SELECT is(ff.mark_worker_dead('i1')->>'result', 'not_registered', '82. again -> not_registered');
SELECT is(ff.heartbeat_worker('i1')->>'result', 'not_registered', '81. heartbeat after mark_worker_dead');
SELECT is(t.row(t.id(90)), :'b90'::ff.executions, '83. its lease is untouched');
SELECT ff.register_worker(w, 'pool', ttl_ms => 10000, namespace => 'listing') FROM unnest(ARRAY['w3', 'w1', 'w2', 'w4']) w;
SELECT ff.register_worker('w0', 'pool', ttl_ms => 1, namespace => 'listing');
SELECT t.at(1000000106010);
SELECT is(ARRAY(SELECT worker_instance_id FROM ff.list_workers('listing', "limit" => 2)), ARRAY['w1', 'w2'], '84. sorted, expired omitted, limit');
SELECT is(ARRAY(SELECT worker_instance_id FROM ff.list_workers('listing', after => 'w2')), ARRAY['w3', 'w4'], '84. exclusive cursor');
SELECT throws_ok($$SELECT ff.register_worker('w9', 'pool', ttl_ms => 0)$$, '22023', NULL, '87. ttl 0');
SELECT count(*) AS expired88 FROM ff.worker WHERE expires_at <= ff.now_ms() \gset
SELECT is(ff.sweep_worker_registry()->>'processed', :'expired88', '88. the sweep deletes the expired rows');
SELECT is((SELECT count(*)::int FROM ff.worker WHERE expires_at <= ff.now_ms()), 0, '88. all of them');
SELECT is((SELECT count(*)::int FROM ff.worker WHERE namespace = 'listing'), 4, '88. only it');
SELECT is(ff.register_worker('w0', 'pool', namespace => 'listing')->>'result', 'registered', '88. a register after the sweep -> registered');
-- 85. expired leases
SELECT ff.create_execution(t.id(91 + g), lane_id => 'exp') FROM generate_series(0, 3) g;
SELECT ff.claim_next('exp', 'w', 'w-1', lease_ttl_ms => 1000, max_count => 4);
UPDATE ff.execution SET lease_expires_at = 1000000106500 WHERE lane_id = 'exp' AND execution_id IN (t.exec_uuid(t.id(91)), t.exec_uuid(t.id(92)), t.exec_uuid(t.id(93)));
SELECT t.at(1000000107500);
SELECT is(ARRAY(SELECT execution_id FROM ff.list_expired_leases(after_expires_at => 1000000106499, "limit" => 2)), ARRAY[t.id(91), t.id(92)],
          '85. by (expiry, id), limit');
SELECT is(ARRAY(SELECT execution_id FROM ff.list_expired_leases(after_expires_at => 1000000106500, after_execution_id => t.id(92)) x
                WHERE x.execution_id LIKE '%0000009_'), ARRAY[t.id(93), t.id(94)], '85. the tuple cursor: no gap, no duplicate');
-- 85. the clamp, over more than 10 000 expired leases (copies of one, made by
-- one statement and rolled back after)
SAVEPOINT many85;
INSERT INTO ff.execution
SELECT (jsonb_populate_record(NULL::ff.execution, to_jsonb(e) || jsonb_build_object('execution_id',
        format('00000000-0000-4000-9000-%s', lpad(g::text, 12, '0'))))).*
FROM ff.execution e, generate_series(1, 10001) g WHERE e.execution_id = t.exec_uuid(t.id(91));
SELECT (SELECT count(*)::int FROM ff.execution WHERE lifecycle_phase = 'active' AND ownership_state = 'leased'
        AND lease_expires_at <= ff.now_ms()) AS expired85,
       (SELECT count(*)::int FROM ff.list_expired_leases("limit" => 20000)) AS listed85,
       (SELECT count(*)::int FROM ff.list_expired_leases("limit" => 10000)) AS whole85 \gset
ROLLBACK TO SAVEPOINT many85;
SELECT cmp_ok(:expired85, '>', 10001, '85. more than 10 000 expired leases');
SELECT is(:listed85, 10000, '85. a limit of 20 000 is clamped at 10 000');
SELECT is(:whole85, 10000, '85. a limit of 10 000 is served whole');

-- 89-95. invariants
SELECT is((SELECT count(*)::int FROM ff.budget_usage WHERE value < 0), 0, '89. usage never negative');
SELECT is((SELECT count(*)::int FROM ff.budget_status s JOIN ff.budget b USING (budget_id)
           WHERE b.reset_interval_ms = 0 AND s.hard_limit > 0 AND s.usage > s.hard_limit), 0, '90. no usage over a hard limit');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE lifecycle_phase = 'runnable' AND (
             (eligibility_state = 'blocked_by_budget') <> (blocking_reason = 'waiting_for_budget')
          OR (eligibility_state = 'blocked_by_quota') <> (blocking_reason = 'waiting_for_quota')
          OR (eligibility_state = 'blocked_by_route') <> (blocking_reason = 'waiting_for_capable_worker'))), 0, '92. blocked state <-> reason');
SELECT ff.reconcile_quotas();
SELECT is((SELECT count(*)::int FROM ff.quota_status q WHERE q.active_concurrency_cap > 0 AND q.active_concurrency <> q.live_admissions), 0,
          '93. busy concurrency slots = live admissions');
SELECT is((SELECT count(*)::int FROM ff.quota_status q WHERE (q.active_concurrency_cap > 0 AND q.active_concurrency > q.active_concurrency_cap)
           OR (q.max_requests_per_window > 0 AND q.admitted_in_window > q.max_requests_per_window)), 0, 'no limit is ever exceeded');
SELECT is((SELECT count(*)::int FROM ff.budget WHERE (next_reset_at IS NOT NULL) <> (reset_interval_ms > 0)), 0, '94. scheduled iff recurring');
SELECT cmp_ok((SELECT n FROM t.budget_updates), '>', 20::bigint, '91. (budget updates watched: breaches, resets, reports)');
SELECT is((SELECT decreased FROM t.budget_updates), '{}'::text[], '91. breach_count and soft_breach_count never decreased in any of them (resets included)');
SELECT t.invariants('budgets');

-- the budget reconciler (behaviour/budgets §7.2): marks a non-resetting budget over a hard limit
UPDATE ff.budget_usage SET value = 101 WHERE budget_id = t.b(8) AND dimension = 'tokens';
SELECT is(ff.reconcile_budgets()->>'processed', '1', 'reconciler marks the drift');
SELECT is((t.budget(t.b(8))).reconciled_breach_at, ff.now_ms(), 'reconciled_breach_at set');
SELECT is(ff.reconcile_budgets()->>'processed', '0', 'unchanged -> not counted');
UPDATE ff.budget_usage SET value = 100 WHERE budget_id = t.b(8) AND dimension = 'tokens';
SELECT is(ff.reconcile_budgets()->>'processed', '1', 'cleared when back at the limit');
SELECT is((t.budget(t.b(8))).reconciled_breach_at, NULL, 'marker cleared');

SELECT * FROM finish();
ROLLBACK;
