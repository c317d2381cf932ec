-- Batched hot paths (issue 9): ff.claim_next with max_count, then
-- ff.complete_executions / ff.fail_executions with per-item fences.
BEGIN;
-- these checks read the event rows of executions outside flows too
SET LOCAL ff_engine.completion_events = 'all';
\ir helpers.psql

-- claim n executions of lane `lane` in one call; keep their fences
CREATE TABLE t.claimed (n int, id text, lease uuid, epoch bigint, attempt uuid);
CREATE FUNCTION t.claim_batch(lane text, n int) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM t.claimed;
    INSERT INTO t.claimed
    SELECT row_number() OVER (), c.claim->>'execution_id', (c.claim->>'lease_id')::uuid, (c.claim->>'lease_epoch')::bigint, (c.claim->>'attempt_id')::uuid
    FROM ff.claim_next(lane, 'w', 'w-1', max_count => n) c;
    RETURN (SELECT count(*) FROM t.claimed);
END $$;
CREATE FUNCTION t.ids() RETURNS text[] LANGUAGE sql AS $$ SELECT array_agg(id ORDER BY n) FROM t.claimed $$;
CREATE FUNCTION t.leases() RETURNS uuid[] LANGUAGE sql AS $$ SELECT array_agg(lease ORDER BY n) FROM t.claimed $$;
CREATE FUNCTION t.epochs() RETURNS bigint[] LANGUAGE sql AS $$ SELECT array_agg(epoch ORDER BY n) FROM t.claimed $$;
CREATE FUNCTION t.attempts() RETURNS uuid[] LANGUAGE sql AS $$ SELECT array_agg(attempt ORDER BY n) FROM t.claimed $$;

SELECT ff.create_execution(t.id(i), lane_id => 'batch') FROM generate_series(1, 5) i;
SELECT is(t.claim_batch('batch', 5), 5, 'claim_next claims five in one call');
SELECT is((SELECT count(DISTINCT lease) FROM t.claimed)::int, 5, 'each with its own lease');

-- complete all five, with results
SELECT is(ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts(),
                                 ARRAY['r1', 'r2', 'r3', 'r4', 'r5']::bytea[]) - 'results',
          '{"ok": true, "status": "OK", "count": 5, "succeeded": 5}', 'complete_executions: five completed');
SELECT is((SELECT array_agg(public_state::text) FROM t.claimed c JOIN ff.executions e ON e.id = c.id), ARRAY['completed', 'completed', 'completed', 'completed', 'completed'],
          'every one terminal completed');
SELECT is((SELECT array_agg(convert_from(ff.get_execution_result(c.id), 'UTF8') ORDER BY c.n) FROM t.claimed c),
          ARRAY['r1', 'r2', 'r3', 'r4', 'r5'], 'each result stored with its execution');
SELECT is((SELECT count(*)::int FROM ff.attempt a JOIN t.claimed c ON ff.format_execution_id(a.partition, a.execution_id) = c.id WHERE a.attempt_state = 'ended_success'),
          5, 'each attempt ended success');
SELECT is((SELECT count(*)::int FROM ff.completion_event), 5, 'one completion event each');
SELECT is((SELECT count(*)::int FROM ff.executions WHERE current_lease_id IS NOT NULL), 0, 'every lease released');
SELECT is(ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts())->'results'->0->>'error', 'execution_not_active',
          'a second batch: each item execution_not_active');

-- mixed batch: one stale fence, one duplicate; the rest complete
SELECT ff.create_execution(t.id(i), lane_id => 'mixed') FROM generate_series(11, 14) i;
SELECT t.claim_batch('mixed', 4);
UPDATE t.claimed SET epoch = epoch + 7 WHERE n = 2;
INSERT INTO t.claimed SELECT 5, id, lease, epoch, attempt FROM t.claimed WHERE n = 1;
SELECT is((SELECT jsonb_agg(coalesce(r->>'result', r->>'error')) FROM jsonb_array_elements(
              ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts())->'results') r),
          '["completed", "stale_lease", "completed", "completed", "execution_not_active"]', 'per-item outcomes, in order');
SELECT is((SELECT public_state::text FROM ff.executions WHERE id = (SELECT id FROM t.claimed WHERE n = 2)), 'active', 'the stale item is untouched');
SELECT is((SELECT array_agg(r->>'execution_id') FROM jsonb_array_elements(
              ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts())->'results') r), t.ids(), 'each item names its execution');

-- fail_executions: retry per each policy, terminal otherwise
SELECT ff.create_execution(t.id(21), lane_id => 'f', policy_json => '{"retry_policy": {"max_retries": 2, "backoff": {"type": "fixed", "delay_ms": 500}}}');
SELECT ff.create_execution(t.id(22), lane_id => 'f');
SELECT t.claim_batch('f', 2);
SELECT is((SELECT jsonb_agg(r->>'result' ORDER BY r->>'execution_id') FROM jsonb_array_elements(
              ff.fail_executions(t.ids(), t.leases(), t.epochs(), t.attempts(), ARRAY['boom', 'bang'], 'transient')->'results') r),
          '["retry_scheduled", "terminal_failed"]', 'fail_executions: retry_scheduled and terminal_failed');
SELECT is((SELECT public_state::text || '/' || failure_reason FROM ff.executions WHERE id = t.id(22)), 'failed/bang', 'the reason stored');
SELECT is((SELECT failure_reason FROM ff.attempt a WHERE ff.format_execution_id(a.partition, a.execution_id) = t.id(21)), 'boom', 'the attempt records its reason');

-- bad input raises and writes nothing
SELECT ff.create_execution(t.id(31), lane_id => 'bad');
SELECT t.claim_batch('bad', 1);
SELECT t.snapshot() AS before_bad \gset
SELECT throws_ok($$SELECT ff.complete_executions(t.ids(), t.leases(), t.epochs(), ARRAY[]::uuid[])$$, '2202E', NULL, 'arrays of different lengths -> 2202E');
SELECT throws_ok($$SELECT ff.complete_executions(t.ids(), ARRAY[NULL]::uuid[], t.epochs(), t.attempts())$$, '22004', NULL, 'a NULL fence element -> 22004');
SELECT throws_ok($$SELECT ff.complete_executions(NULL, t.leases(), t.epochs(), t.attempts())$$, '22004', NULL, 'NULL execution_ids -> 22004');
SELECT throws_ok($$SELECT ff.complete_executions(ARRAY['nope'], t.leases(), t.epochs(), t.attempts())$$, '22P02', NULL, 'a malformed id -> 22P02');
SELECT throws_ok($$SELECT ff.complete_executions(t.ids() || ARRAY['nope'], t.leases() || gen_random_uuid(), t.epochs() || 1::bigint, t.attempts() || gen_random_uuid())$$,
                 '22P02', NULL, 'a malformed id after a good one -> 22P02, the good one untouched');
SELECT throws_ok($$SELECT ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts(), ARRAY[NULL, NULL]::bytea[])$$, '2202E', NULL, 'results of another length -> 2202E');
SELECT throws_ok($$SELECT ff.complete_executions(array_fill('x'::text, ARRAY[1001]), array_fill(gen_random_uuid(), ARRAY[1001]), array_fill(1::bigint, ARRAY[1001]), array_fill(gen_random_uuid(), ARRAY[1001]))$$,
                 '54000', NULL, 'more than 1000 -> 54000');
SELECT throws_ok($$SELECT ff.fail_executions(t.ids(), t.leases(), t.epochs(), t.attempts(), ARRAY[repeat('x', 5000)])$$, '22001', NULL, 'a failure_reason over 4096 bytes -> 22001');
SELECT throws_ok($$SELECT ff.complete_executions(ARRAY[ARRAY[t.id(31)]], ARRAY[ARRAY[gen_random_uuid()]], ARRAY[ARRAY[1::bigint]], ARRAY[ARRAY[gen_random_uuid()]])$$,
                 '2202E', NULL, 'a two-dimensional array -> 2202E');
SELECT is(t.snapshot(), :'before_bad', 'none of them wrote anything');
SELECT is(ff.complete_executions('{}', '{}', '{}', '{}'), '{"ok": true, "status": "OK", "count": 0, "results": [], "succeeded": 0}', 'an empty batch is fine');

-- called from PL/pgSQL (a worker loop in a procedure): SPI is left as found
SELECT ff.create_execution(t.id(i), lane_id => 'plpgsql') FROM generate_series(51, 52) i;
SELECT t.claim_batch('plpgsql', 2);
CREATE FUNCTION t.complete_then_query() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    r := ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts());
    PERFORM ff.fail_executions(t.ids(), t.leases(), t.epochs(), t.attempts());
    RETURN (r->>'succeeded') || '/' || (SELECT count(*) FROM t.claimed);
END $$;
SELECT is(t.complete_then_query(), '2/2', 'batch calls inside PL/pgSQL, followed by a query');

-- distinct executions: locked by one statement, each table written once for
-- the batch (deferred writes); every item still its own operation
SELECT ff.create_execution(t.id(i), lane_id => 'deferred') FROM generate_series(61, 64) i;
SELECT is(t.claim_batch('deferred', 4), 4, 'deferred: four claimed in one call');
SELECT is((SELECT count(*)::int FROM ff.attempt a JOIN t.claimed c ON ff.format_execution_id(a.partition, a.execution_id) = c.id
           WHERE a.attempt_state = 'started' AND a.lease_id = c.lease AND a.attempt_id = c.attempt), 4, 'deferred: each claim wrote its attempt under its lease');
SELECT is((SELECT count(*)::int FROM ff.lease_history h JOIN t.claimed c ON ff.format_execution_id(h.partition, h.execution_id) = c.id
           WHERE h.event = 'acquired' AND h.lease_id = c.lease AND h.seq = 1), 4, 'deferred: and its acquired event');
SELECT is((SELECT count(*)::int FROM ff.executions e JOIN t.claimed c ON e.id = c.id
           WHERE e.public_state = 'active' AND e.current_lease_id = c.lease AND e.current_lease_epoch = c.epoch), 4, 'deferred: each core row leased as returned');
UPDATE t.claimed SET epoch = epoch + 1 WHERE n = 2;
UPDATE t.claimed SET id = t.id(69) WHERE n = 4;
SELECT is((SELECT jsonb_agg(coalesce(r->>'result', r->>'error')) FROM jsonb_array_elements(
              ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts(), ARRAY['a', 'b', 'c', 'd']::bytea[])->'results') r),
          '["completed", "stale_lease", "completed", "execution_not_found"]', 'deferred: per-item outcomes, in order');
SELECT is((SELECT string_agg(c.n || ':' || e.public_state, ',' ORDER BY c.n) FROM t.claimed c JOIN ff.executions e ON e.id = c.id),
          '1:completed,2:active,3:completed', 'deferred: the completed ones terminal, the stale one untouched');
SELECT is((SELECT string_agg(c.n || ':' || a.attempt_state, ',' ORDER BY c.n) FROM t.claimed c JOIN ff.attempt a ON ff.format_execution_id(a.partition, a.execution_id) = c.id),
          '1:ended_success,2:started,3:ended_success', 'deferred: attempts ended for the completed ones only');
SELECT is((SELECT string_agg(c.n || ':' || h.event || '/' || h.reason, ',' ORDER BY c.n) FROM t.claimed c JOIN ff.lease_history h ON ff.format_execution_id(h.partition, h.execution_id) = c.id WHERE h.seq = 2),
          '1:released/completed,3:released/completed', 'deferred: a released event each, next in sequence');
SELECT is((SELECT string_agg(c.n || ':' || ce.outcome, ',' ORDER BY c.n) FROM t.claimed c JOIN ff.completion_event ce ON ff.format_execution_id(ce.partition, ce.execution_id) = c.id),
          '1:success,3:success', 'deferred: one completion event each');
SELECT is((SELECT string_agg(c.n || ':' || convert_from(ff.get_execution_result(c.id), 'UTF8'), ',' ORDER BY c.n) FROM t.claimed c WHERE c.n IN (1, 3)),
          '1:a,3:c', 'deferred: each result stored');

-- an error while the deferred writes run raises, writes nothing, and the
-- next batch of the session defers afresh
CREATE FUNCTION t.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id = (SELECT x.execution_uuid FROM ff.parse_execution_id(t.id(72)) x) THEN
        RAISE EXCEPTION 'refused by the test';
    END IF;
    RETURN NEW;
END $$;
SELECT ff.create_execution(t.id(i), lane_id => 'refuse') FROM generate_series(71, 72) i;
CREATE TRIGGER refuse BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse();
SELECT t.snapshot() AS before_refuse \gset
SELECT throws_ok($$SELECT * FROM ff.claim_next('refuse', 'w', 'w-1', max_count => 2)$$, 'P0001', 'refused by the test', 'deferred claims: an error in the flush raises');
SELECT is(t.snapshot(), :'before_refuse', 'and nothing of the batch is written');
DROP TRIGGER refuse ON ff.execution;
SELECT is(t.claim_batch('refuse', 2), 2, 'the next claim batch in the session works');
CREATE TRIGGER refuse BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse();
SELECT t.snapshot() AS before_refuse \gset
SELECT throws_ok($$SELECT ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts())$$, 'P0001', 'refused by the test', 'deferred completes: an error in the flush raises');
SELECT is(t.snapshot(), :'before_refuse', 'and nothing of the batch is written');
DROP TRIGGER refuse ON ff.execution;
SELECT is(ff.complete_executions(t.ids(), t.leases(), t.epochs(), t.attempts())->>'succeeded', '2', 'the next complete batch in the session works');

-- bulk create
SELECT is((SELECT jsonb_agg(r->>'status') FROM jsonb_array_elements(
              ff.create_executions(ARRAY[t.id(41), t.id(42), t.id(41)], lane_id => 'bulk', input_payloads => ARRAY['a', 'b', 'c']::bytea[])->'results') r),
          '["OK", "OK", "DUPLICATE"]', 'create_executions: one envelope per item, a repeated id is DUPLICATE');
SELECT is((SELECT string_agg(lane_id || '/' || public_state, ',' ORDER BY id) FROM ff.executions WHERE id IN (t.id(41), t.id(42))), 'bulk/waiting,bulk/waiting',
          'both created in the lane, eligible');
SELECT is((SELECT convert_from(d.payload, 'UTF8') FROM ff.execution_data d WHERE ff.format_execution_id(d.partition, d.execution_id) = t.id(42)), 'b', 'each with its own payload');
SELECT is(ff.create_executions(ARRAY[t.id(43)], lane_id => 'bulk', delay_until => ff.now_ms() + 60000)->'results'->0->>'public_state', 'delayed', 'shared options apply');
-- distinct ids: the inserts are deferred and written set-based, each item exactly create_execution
SELECT ff.create_executions(ARRAY[t.id(80), t.id(41), t.id(81)], lane_id => 'bulk2', input_payloads => ARRAY['p50', 'x', NULL]::bytea[],
                            priority => 7, policy_json => '{"stream_policy": {"retention_ttl_ms": 900}}') AS bulk2 \gset
SELECT is((SELECT jsonb_agg(r->>'status') FROM jsonb_array_elements(:'bulk2'::jsonb->'results') r), '["OK", "DUPLICATE", "OK"]',
          'distinct ids: an existing id is DUPLICATE, the others created');
SELECT is(:'bulk2'::jsonb - 'results', '{"ok": true, "status": "OK", "count": 3, "succeeded": 3}', 'count and succeeded');
SELECT is((SELECT string_agg(right(id, 2) || ':' || lane_id || '/' || public_state || '/' || priority, ',' ORDER BY id) FROM ff.executions WHERE id IN (t.id(80), t.id(81))),
          '80:bulk2/waiting/7,81:bulk2/waiting/7', 'both created with the shared options');
SELECT is((SELECT string_agg(right(ff.format_execution_id(d.partition, d.execution_id), 2) || '=' || coalesce(convert_from(d.payload, 'UTF8'), '-'), ',' ORDER BY d.execution_id)
           FROM ff.execution_data d WHERE ff.format_execution_id(d.partition, d.execution_id) IN (t.id(41), t.id(80), t.id(81))),
          '41=a,80=p50,81=-', 'each its own payload (or none); the existing one untouched');
SELECT is(ff.create_execution(t.id(82), lane_id => 'bulk2', input_payload => 'p50', priority => 7, policy_json => '{"stream_policy": {"retention_ttl_ms": 900}}')->>'status', 'OK', 'the same created singly');
SELECT is((SELECT to_jsonb(e) - '{execution_id, created_at, last_transition_at, last_mutation_at}'::text[] FROM ff.execution e WHERE e.execution_id = t.exec_uuid(t.id(80))),
          (SELECT to_jsonb(e) - '{execution_id, created_at, last_transition_at, last_mutation_at}'::text[] FROM ff.execution e WHERE e.execution_id = t.exec_uuid(t.id(82))),
          'a bulk-created core row is the row create_execution writes');
SELECT is((SELECT to_jsonb(d) - 'execution_id' FROM ff.execution_data d WHERE d.execution_id = t.exec_uuid(t.id(80))),
          (SELECT to_jsonb(d) - 'execution_id' FROM ff.execution_data d WHERE d.execution_id = t.exec_uuid(t.id(82))),
          'and so is its data row');
SELECT t.snapshot() AS before_bad_policy \gset
SELECT is((SELECT jsonb_agg(r->>'error') FROM jsonb_array_elements(ff.create_executions(ARRAY[t.id(83), t.id(84)], policy_json => '{bad')->'results') r),
          '["invalid_policy_json", "invalid_policy_json"]', 'a bad shared policy: every item reports it');
SELECT is(t.snapshot(), :'before_bad_policy', 'and nothing is written');
CREATE FUNCTION t.refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
CREATE TRIGGER refuse BEFORE INSERT ON ff.execution_data FOR EACH ROW EXECUTE FUNCTION t.refuse_all();
SELECT throws_ok($$SELECT ff.create_executions(ARRAY[t.id(83), t.id(84)])$$, 'P0001', 'refused by the test', 'deferred creates: an error in the flush raises');
SELECT is(t.snapshot(), :'before_bad_policy', 'and no core row of the batch stays');
DROP TRIGGER refuse ON ff.execution_data;
SELECT throws_ok($$SELECT ff.create_executions(ARRAY[t.id(83), '{fp:30000}:00000000-0000-4000-8000-000000000083'])$$, '22023', NULL,
                 'an id of a partition out of range -> 22023, before anything is written');
SELECT is(t.snapshot(), :'before_bad_policy', 'not even the good id before it');
SELECT is(ff.create_executions(ARRAY[t.id(83), t.id(84)])->>'succeeded', '2', 'the next bulk create in the session works');

SELECT t.snapshot() AS before_bulk \gset
SELECT throws_ok($$SELECT ff.create_executions(NULL)$$, '22004', NULL, 'NULL ids -> 22004');
SELECT throws_ok($$SELECT ff.create_executions(ARRAY[t.id(44), NULL])$$, '22004', NULL, 'a NULL id -> 22004');
SELECT throws_ok($$SELECT ff.create_executions(ARRAY[t.id(44)], input_payloads => ARRAY['a', 'b']::bytea[])$$, '2202E', NULL, 'payloads of another length -> 2202E');
SELECT throws_ok($$SELECT ff.create_executions(ARRAY[t.id(44), 'nope'])$$, '22P02', NULL, 'a malformed id -> 22P02');
SELECT throws_ok($$SELECT ff.create_executions(array_fill('x'::text, ARRAY[10001]))$$, '54000', NULL, 'more than 10000 -> 54000');
SELECT is(t.snapshot(), :'before_bulk', 'none of them wrote anything (the good id before the bad one neither)');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
