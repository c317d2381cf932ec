-- What a worker author trips over (issue 29): a fence passed in the wrong
-- order raises 22023 instead of reading as stale_lease; every lease-bound
-- function takes the fence as one value (the claim as returned), checked
-- strictly; those overloads leave every call of the separate-ids forms
-- resolving as before; and a retry that succeeds reads as completed with
-- no failure presented as its outcome.  (The lane announcement of a lost
-- lease is proven live, in test/live/worker.sh.)
BEGIN;
\ir helpers.psql

-- the fence as a claim returns it, subset form
CREATE FUNCTION t.fence(id text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('execution_id', e.id, 'lease_id', e.current_lease_id, 'lease_epoch', e.current_lease_epoch,
                              'attempt_id', e.current_attempt_id, 'attempt_index', e.current_attempt_index)
    FROM t.row(id) e
$$;
-- what a failed call must not have changed
CREATE FUNCTION t.snap(id text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('/', e.public_state, e.ownership_state, e.history_seq, e.last_mutation_at, e.progress_pct,
                     (SELECT count(*) FROM ff.waitpoint w WHERE w.execution_id = e.execution_id),
                     (SELECT count(*) FROM ff.stream_frame f WHERE f.execution_id = e.execution_id))
    FROM ff.execution e WHERE ff.format_execution_id(e.partition, e.execution_id) = id
$$;
-- run q with {F} replaced by the fence literal f (a jsonb) and {ID}, {LEASE},
-- {ATT}, {EPOCH}, {IDX} by the parts of id's current fence
CREATE FUNCTION t.q(q text, id text, f jsonb DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT replace(replace(replace(replace(replace(replace(q,
        '{F}', coalesce(quote_literal(f::text) || '::jsonb', 'NULL::jsonb')),
        '{ID}', quote_literal(e.id)), '{LEASE}', quote_literal(e.current_lease_id) || '::uuid'),
        '{ATT}', quote_literal(e.current_attempt_id) || '::uuid'), '{EPOCH}', e.current_lease_epoch::text),
        '{IDX}', e.current_attempt_index::text)
    FROM t.row(id) e
$$;

SELECT ff.create_execution(t.id(n), lane_id => 'edges') FROM generate_series(1, 3) n;
SELECT t.claim(t.id(1));
SELECT ff.create_pending_waitpoint(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
                                   '00000000-0000-4000-a000-000000000001', 'pk', ff.now_ms() + 600000) FROM t.row(t.id(1)) e;
SELECT t.snap(t.id(1)) AS before \gset

-- ---- 1. lease_id and attempt_id swapped: 22023 on every lease-bound function ----
CREATE TABLE t.swapped (fn text, q text);
INSERT INTO t.swapped VALUES
 ('renew_lease', $$SELECT ff.renew_lease({ID}, {IDX}, {LEASE}, {ATT}, {EPOCH})$$),
 ('update_progress', $$SELECT ff.update_progress({ID}, {ATT}, {EPOCH}, 10)$$),
 ('complete_execution', $$SELECT ff.complete_execution({ID}, {ATT}, {EPOCH}, {LEASE})$$),
 ('fail_execution', $$SELECT ff.fail_execution({ID}, {ATT}, {EPOCH}, {LEASE}, 'x')$$),
 ('delay_execution', $$SELECT ff.delay_execution({ID}, {ATT}, {EPOCH}, {LEASE}, ff.now_ms() + 1000)$$),
 ('move_to_waiting_children', $$SELECT ff.move_to_waiting_children({ID}, {ATT}, {EPOCH}, {LEASE})$$),
 ('append_frame', $$SELECT ff.append_frame({ID}, {IDX}, {ATT}, {EPOCH}, 'stdout', 'x', attempt_id => {LEASE})$$),
 ('append_frame (no attempt_id)', $$SELECT ff.append_frame({ID}, {IDX}, {ATT}, {EPOCH}, 'stdout', 'x')$$),
 ('suspend_execution', $$SELECT ff.suspend_execution({ID}, {IDX}, {ATT}, {EPOCH}, {LEASE}, gen_random_uuid(),
      gen_random_uuid(), 'k', 'waiting_for_signal', '{"required_signal_names": ["go"]}')$$),
 ('create_pending_waitpoint', $$SELECT ff.create_pending_waitpoint({ID}, {IDX}, {ATT}, {EPOCH}, {LEASE}, gen_random_uuid(),
      'k', ff.now_ms() + 60000)$$),
 ('close_waitpoint', $$SELECT ff.close_waitpoint({ID}, '00000000-0000-4000-a000-000000000001', 'r', {ATT}, {EPOCH}, {LEASE})$$),
 ('cancel_execution', $$SELECT ff.cancel_execution({ID}, 'x', 'lease_holder', {ATT}, {EPOCH})$$),
 ('complete_executions', $$SELECT ff.complete_executions(ARRAY[{ID}], ARRAY[{ATT}], ARRAY[{EPOCH}::bigint], ARRAY[{LEASE}])$$),
 ('fail_executions', $$SELECT ff.fail_executions(ARRAY[{ID}], ARRAY[{ATT}], ARRAY[{EPOCH}::bigint], ARRAY[{LEASE}])$$);
SELECT throws_ok(t.q(s.q, t.id(1)), '22023', NULL, 'swapped ids: ' || s.fn || ' raises 22023') FROM t.swapped s ORDER BY s.fn;
SELECT throws_like(t.q($$SELECT ff.complete_execution({ID}, {ATT}, {EPOCH}, {LEASE})$$, t.id(1)), '%look swapped%',
                   'the message says the ids look swapped');
SELECT throws_like(t.q($$SELECT ff.update_progress({ID}, {ATT}, {EPOCH})$$, t.id(1)), '%attempt''s id%',
                   'with only a lease id: the message says it is the attempt''s id');
SELECT is(t.snap(t.id(1)), :'before', 'nothing was written by any swapped call');
-- past its expiry the swap still raises, and the lease is not marked
SELECT ff.now_ms() AS clock0 \gset
SELECT t.at(ff.now_ms() + 3600000);
SELECT throws_ok(t.q($$SELECT ff.complete_execution({ID}, {ATT}, {EPOCH}, {LEASE})$$, t.id(1)), '22023', NULL,
                 'swapped ids past the lease''s expiry: still 22023 ...');
SELECT is((t.row(t.id(1))).ownership_state::text, 'leased', '... and the expiry is not marked by it');
SELECT t.at(:clock0);
-- the right order works, and a fence that is merely old stays stale_lease
SELECT is(ff.renew_lease(e.id, e.current_attempt_index, e.current_attempt_id, e.current_lease_id, e.current_lease_epoch) ->> 'status',
          'OK', 'the right order renews') FROM t.row(t.id(1)) e;
SELECT is(ff.complete_execution(e.id, gen_random_uuid(), e.current_lease_epoch, gen_random_uuid()) ->> 'error',
          'stale_lease', 'unknown ids are stale_lease, not a swap') FROM t.row(t.id(1)) e;
-- a claimer that chose the same uuid for both is not taken for a swap
SELECT ff.issue_claim_grant(t.id(2), 'w1', 'w1-1', 'edges');
SELECT ff.claim_execution(t.id(2), 'w1', 'w1-1', 'edges', lease_id => '00000000-0000-4000-9000-000000000002',
                          attempt_id => '00000000-0000-4000-9000-000000000002');
SELECT is(ff.complete_execution(t.id(2), '00000000-0000-4000-9000-000000000002', 1, '00000000-0000-4000-9000-000000000002') ->> 'result',
          'completed', 'lease_id = attempt_id chosen by the claimer: completes');

-- ---- 2. the fence as one value ----
-- the claim as returned, for each function (success path)
SELECT t.claim(t.id(3)) AS c3 \gset
SELECT is(ff.renew_lease(:'c3'::jsonb, 60000) ->> 'status', 'OK', 'renew_lease(claim)');
SELECT is(ff.update_progress(:'c3'::jsonb, 40) ->> 'status', 'OK', 'update_progress(claim, pct)');
SELECT is((t.row(t.id(3))).progress_pct, 40, 'the progress is stored');
SELECT is(ff.append_frame(:'c3'::jsonb, 'stdout', 'hello') ->> 'status', 'OK', 'append_frame(claim, type, payload)');
SELECT is(ff.append_frame(:'c3'::jsonb, 'summary', '{"x": 1}', 'summary') ->> 'status', 'OK', 'append_frame(claim, ..., stream_mode)');
SELECT is((SELECT attempt_id::text FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(3))), :'c3'::jsonb ->> 'attempt_id',
          'the stream records the fence''s attempt_id');
SELECT is(ff.create_pending_waitpoint(:'c3'::jsonb, '00000000-0000-4000-a000-000000000003', 'k3', ff.now_ms() + 60000) ->> 'status',
          'OK', 'create_pending_waitpoint(claim, ...)');
SELECT is(ff.close_waitpoint(:'c3'::jsonb, '00000000-0000-4000-a000-000000000003') ->> 'result', 'closed', 'close_waitpoint(claim, wp)');
SELECT is(ff.delay_execution(:'c3'::jsonb, ff.now_ms() - 1) ->> 'status', 'OK', 'delay_execution(claim, until)');
SELECT ff.promote_delayed(t.id(3));
SELECT t.claim(t.id(3)) AS c3 \gset
SELECT is(ff.move_to_waiting_children(:'c3'::jsonb) ->> 'status', 'OK', 'move_to_waiting_children(claim)');
SELECT ff.create_execution(t.id(n), lane_id => 'edges') FROM generate_series(10, 16) n;
SELECT t.claim(t.id(10)) AS c10 \gset
SELECT is(ff.suspend_execution(:'c10'::jsonb, gen_random_uuid(), '00000000-0000-4000-a000-000000000010', 'k10', 'waiting_for_signal',
                               '{"required_signal_names": ["go"]}', timeout_at => ff.now_ms() + 60000) ->> 'status',
          'OK', 'suspend_execution(claim, ...)');
SELECT is((t.row(t.id(10))).public_state::text, 'suspended', 'suspended');
SELECT t.claim(t.id(11)) AS c11 \gset
SELECT is(ff.complete_execution(:'c11'::jsonb, 'done') ->> 'result', 'completed', 'complete_execution(claim, result)');
SELECT is(ff.get_execution_result(t.id(11)), 'done'::bytea, 'the result is stored');
SELECT t.claim(t.id(12)) AS c12 \gset
SELECT is(ff.fail_execution(:'c12'::jsonb, 'boom', 'transient') ->> 'result', 'terminal_failed', 'fail_execution(claim, reason, category)');
SELECT is((t.row(t.id(12))).failure_reason, 'boom', 'the reason is stored');
SELECT t.claim(t.id(13)) AS c13 \gset
SELECT is(ff.cancel_execution(:'c13'::jsonb, 'stop') ->> 'result', 'cancelled', 'cancel_execution(claim, reason): the holder cancels');
SELECT is((t.row(t.id(13))).cancelled_by, 'lease_holder', 'as the lease holder');
-- the subset form, and the batches from claim_next's claim column
SELECT t.claim(t.id(14));
SELECT is(ff.renew_lease(t.fence(t.id(14))) ->> 'status', 'OK', 'the {execution_id, lease_id, lease_epoch, attempt_id, attempt_index} subset');
SELECT ff.cancel_execution(t.id(14), 'x');
SELECT ff.create_execution(t.id(n), lane_id => 'edges_b') FROM generate_series(20, 22) n;
CREATE TABLE t.claims AS SELECT claim FROM ff.claim_next('edges_b', 'wb', 'wb-1', max_count => 3);
SELECT is(ff.complete_executions((SELECT array_agg(claim) FROM t.claims WHERE claim ->> 'execution_id' <> t.id(22)),
                                 ARRAY['a', 'b']::bytea[]) ->> 'succeeded', '2', 'complete_executions(array_agg(claim), payloads)');
SELECT is(ff.fail_executions((SELECT array_agg(claim) FROM t.claims WHERE claim ->> 'execution_id' = t.id(22)), ARRAY['nope']) ->> 'succeeded',
          '1', 'fail_executions(array_agg(claim), reasons)');
SELECT is((SELECT string_agg(public_state::text, ',' ORDER BY id) FROM ff.executions WHERE lane_id = 'edges_b'),
          'completed,completed,failed', 'the batches applied');
-- a lost lease through the fence form reads as it does through the ids
SELECT t.claim(t.id(15)) AS c15 \gset
SELECT ff.revoke_lease(t.id(15));
SELECT is(ff.complete_execution(:'c15'::jsonb) ->> 'error', 'lease_revoked', 'a revoked lease: lease_revoked, as with the ids');

-- bad fences: 22023 (NULL: 22004), nothing written, for every fence form
SELECT t.claim(t.id(16));
SELECT ff.create_pending_waitpoint(t.fence(t.id(16)), '00000000-0000-4000-a000-000000000016', 'k16', ff.now_ms() + 60000);
SELECT t.snap(t.id(16)) AS before16 \gset
CREATE TABLE t.forms (fn text, q text);
INSERT INTO t.forms VALUES
 ('renew_lease', $$SELECT ff.renew_lease({F})$$),
 ('update_progress', $$SELECT ff.update_progress({F}, 99)$$),
 ('complete_execution', $$SELECT ff.complete_execution({F})$$),
 ('fail_execution', $$SELECT ff.fail_execution({F}, 'x')$$),
 ('delay_execution', $$SELECT ff.delay_execution({F}, ff.now_ms() + 1000)$$),
 ('move_to_waiting_children', $$SELECT ff.move_to_waiting_children({F})$$),
 ('append_frame', $$SELECT ff.append_frame({F}, 'stdout', 'x')$$),
 ('suspend_execution', $$SELECT ff.suspend_execution({F}, gen_random_uuid(), gen_random_uuid(), 'k', 'waiting_for_signal',
      '{"required_signal_names": ["go"]}')$$),
 ('create_pending_waitpoint', $$SELECT ff.create_pending_waitpoint({F}, gen_random_uuid(), 'k', ff.now_ms() + 60000)$$),
 ('close_waitpoint', $$SELECT ff.close_waitpoint({F}, '00000000-0000-4000-a000-000000000016')$$),
 ('cancel_execution', $$SELECT ff.cancel_execution({F}, 'x')$$),
 ('complete_executions', $$SELECT ff.complete_executions(ARRAY[{F}])$$),
 ('fail_executions', $$SELECT ff.fail_executions(ARRAY[{F}])$$);
CREATE TABLE t.bad (what text, f jsonb);
INSERT INTO t.bad SELECT x.what, x.f FROM (VALUES
 ('a missing field', t.fence(t.id(16)) - 'lease_id'),
 ('an unknown field', t.fence(t.id(16)) || '{"worker_id": "w1"}'),
 ('lease_epoch as a string', jsonb_set(t.fence(t.id(16)), '{lease_epoch}', to_jsonb((t.row(t.id(16))).current_lease_epoch::text))),
 ('lease_epoch not an integer', jsonb_set(t.fence(t.id(16)), '{lease_epoch}', '1.5')),
 ('lease_id not a uuid', jsonb_set(t.fence(t.id(16)), '{lease_id}', '"not-a-uuid"')),
 ('attempt_id a number', jsonb_set(t.fence(t.id(16)), '{attempt_id}', '7')),
 ('attempt_index negative', jsonb_set(t.fence(t.id(16)), '{attempt_index}', '-1')),
 ('a malformed execution_id', jsonb_set(t.fence(t.id(16)), '{execution_id}', '"exec-16"')),
 ('a failed claim envelope', t.fence(t.id(16)) || '{"ok": false}'),
 ('an array', '[]'::jsonb),
 ('a JSON null', 'null'::jsonb)) x(what, f);
SELECT throws_ok(t.q(fm.q, t.id(16), b.f), '22023', NULL, fm.fn || ': ' || b.what || ' -> 22023')
FROM t.forms fm CROSS JOIN t.bad b ORDER BY fm.fn, b.what;
SELECT throws_ok(t.q(fm.q, t.id(16), NULL), '22004', NULL,
                 fm.fn || ': a NULL fence -> 22004') FROM t.forms fm ORDER BY fm.fn;
SELECT throws_ok($$SELECT ff.complete_executions(ARRAY[t.fence(t.id(16)), '{}'::jsonb])$$, '22023', NULL,
                 'a batch with one bad fence raises before any item is applied');
SELECT is(t.snap(t.id(16)), :'before16', 'nothing was written by any bad fence');
SELECT is(ff.complete_execution(t.fence(t.id(16)) || '{"ok": true, "status": "OK", "attempt_type": "initial", "lease_expires_at": 1}')
          ->> 'result', 'completed', 'the claim''s other fields are accepted');

-- ---- 3. the overloads leave the separate-ids forms resolving as before ----
-- untyped parameters (node-postgres and pgx send every parameter so): at
-- every argument count a separate-ids form takes, it is chosen
CREATE TABLE t.resolves (fn text, n int, chosen text);
CREATE FUNCTION t.resolve_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE f text; k int; first regtype;
BEGIN
    FOR f IN SELECT unnest(ARRAY['renew_lease', 'update_progress', 'complete_execution', 'fail_execution', 'delay_execution',
                                 'move_to_waiting_children', 'append_frame', 'suspend_execution', 'create_pending_waitpoint',
                                 'close_waitpoint', 'cancel_execution', 'complete_executions', 'fail_executions']) LOOP
        FOR k IN 1..20 LOOP
            BEGIN
                EXECUTE format('PREPARE t_probe AS SELECT ff.%I(%s)', f, (SELECT string_agg('$' || i, ', ') FROM generate_series(1, k) i));
                SELECT parameter_types[1] INTO first FROM pg_prepared_statements WHERE name = 't_probe';
                INSERT INTO t.resolves VALUES (f, k, CASE WHEN first IN ('jsonb'::regtype, 'jsonb[]'::regtype) THEN 'fence' ELSE 'ids' END);
                EXECUTE 'DEALLOCATE t_probe';
            EXCEPTION WHEN undefined_function OR ambiguous_function THEN
                INSERT INTO t.resolves VALUES (f, k, CASE WHEN SQLERRM LIKE '%not unique%' THEN 'ambiguous' ELSE '-' END);
            END;
        END LOOP;
    END LOOP;
END $$;
SELECT t.resolve_all();
SELECT is((SELECT count(*)::int FROM t.resolves r JOIN pg_proc p ON p.proname = r.fn AND p.pronamespace = 'ff'::regnamespace
           AND p.proargtypes[0] IN ('text'::regtype, 'text[]'::regtype)
           AND r.n BETWEEN p.pronargs - p.pronargdefaults AND p.pronargs
           WHERE r.chosen <> 'ids' AND NOT (r.fn = 'fail_execution' AND r.n IN (2, 3))), 0,
          'untyped calls: every argument count a separate-ids form takes still resolves to it');
SELECT is((SELECT array_agg(r.n ORDER BY r.n) FROM t.resolves r WHERE r.fn = 'fail_execution' AND r.chosen = 'ambiguous'), '{2,3}'::int[],
          'the one exception: fail_execution with a partial fence (2 or 3 untyped arguments), which could only fail');
SELECT is((SELECT count(*)::int FROM t.resolves r WHERE r.chosen = 'ambiguous' AND r.fn <> 'fail_execution'), 0, 'nothing else is ambiguous');
-- literals, typed and named arguments
SELECT is(ff.complete_execution('{fp:0}:00000000-0000-4000-8000-000000000099') ->> 'error', 'execution_not_found',
          'a quoted id alone: the separate-ids form');
SELECT is(ff.complete_execution('{fp:0}:00000000-0000-4000-8000-000000000099', source => 'operator_override') ->> 'error',
          'execution_not_found', 'an id and a named source: the separate-ids form');
SELECT is(ff.fail_execution('{fp:0}:00000000-0000-4000-8000-000000000099', failure_reason => 'x') ->> 'error',
          'execution_not_found', 'an id and a named reason: the separate-ids form');
SELECT is(ff.cancel_execution('{fp:0}:00000000-0000-4000-8000-000000000099', 'x') ->> 'error', 'execution_not_found',
          'cancel with an id and a reason: the separate-ids form');
SELECT is(ff.close_waitpoint('{fp:0}:00000000-0000-4000-8000-000000000099', '00000000-0000-4000-a000-000000000001') ->> 'error',
          'execution_not_found', 'close_waitpoint with an id and a waitpoint: the separate-ids form');
SELECT is(ff.update_progress('{fp:0}:00000000-0000-4000-8000-000000000099', gen_random_uuid(), 1, progress_pct => 5) ->> 'error',
          'execution_not_found', 'update_progress with ids and a named pct: the separate-ids form');
SELECT throws_ok($$SELECT ff.complete_execution(fence => '{}')$$, '22023', NULL, 'named fence => an untyped literal: the fence form');

-- ---- 4. a retry that succeeds reads as completed ----
SELECT ff.create_execution(t.id(30), lane_id => 'retry',
         policy_json => '{"retry_policy": {"max_retries": 1, "backoff": {"type": "fixed", "delay_ms": 0}}}');
SELECT t.claim(t.id(30));
SELECT is(t.fail(t.id(30), 'smtp 421 try later') ->> 'result', 'retry_scheduled', 'attempt 0 fails, a retry is scheduled');
SELECT is(ARRAY[ff.read_execution_info(t.id(30)) ->> 'failure_reason', ff.read_execution_info(t.id(30)) ->> 'last_failure_reason'],
          ARRAY[NULL, 'smtp 421 try later'], 'waiting for the retry: no failure_reason (not failed), last_failure_reason says why');
SELECT ff.promote_delayed(t.id(30));
SELECT t.claim(t.id(30));
SELECT is(t.complete(t.id(30)) ->> 'result', 'completed', 'attempt 1 completes');
SELECT is(ARRAY[i ->> 'public_state', i ->> 'failure_reason', i ->> 'last_failure_reason'],
          ARRAY['completed', NULL, 'smtp 421 try later'], 'read_execution_info: completed, no failure_reason, the earlier one as last_failure_reason')
FROM ff.read_execution_info(t.id(30)) i;
SELECT is(ARRAY[d ->> 'public_state', d ->> 'failure_reason', d ->> 'last_failure_reason'],
          ARRAY['completed', NULL, 'smtp 421 try later'], 'describe_execution: the same')
FROM ff.describe_execution(t.id(30)) d;
SELECT is(ARRAY[e.public_state::text, e.failure_reason, e.last_failure_reason], ARRAY['completed', NULL, 'smtp 421 try later'],
          'ff.executions: the same') FROM t.row(t.id(30)) e;
SELECT is((SELECT failure_reason FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(30))), 'smtp 421 try later',
          'the stored value is kept');
SELECT is((SELECT array_agg(a.attempt_state::text || '/' || coalesce(a.failure_reason, '-') ORDER BY a.attempt_index) FROM ff.attempt a
           WHERE a.execution_id = t.exec_uuid(t.id(30))), ARRAY['ended_failure/smtp 421 try later', 'ended_success/-'],
          'attempt 0 keeps its reason, attempt 1 has none');
-- a failed execution still shows why
SELECT is(ARRAY[ff.read_execution_info(t.id(12)) ->> 'failure_reason', ff.describe_execution(t.id(12)) ->> 'failure_reason',
                (t.row(t.id(12))).failure_reason], ARRAY['boom', 'boom', 'boom'], 'a failed execution presents its failure_reason');

-- ---- worker ids: register_worker applies the claim's rule (issue 22) ----
-- register_worker once counted characters, not bytes, and took a blank id;
-- a worker so registered could never claim.  Each id is refused by both
-- with the same SQLSTATE, or accepted by both.
CREATE FUNCTION t.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION t.worker_id_states(id text) RETURNS text[] LANGUAGE sql AS $$
    SELECT ARRAY[
        t.sqlstate_of(format('SELECT count(*) FROM ff.claim_next(%L, %L, %L)', 'wid_lane', id, 'wid-i')),
        t.sqlstate_of(format('SELECT ff.register_worker(%L, %L, namespace => %L)', 'wid-i', id, 'wid')),
        t.sqlstate_of(format('SELECT count(*) FROM ff.claim_next(%L, %L, %L)', 'wid_lane', 'wid', id)),
        t.sqlstate_of(format('SELECT ff.register_worker(%L, %L, namespace => %L)', id, 'wid', 'wid'))]
$$;
SELECT is(t.worker_id_states(' '), ARRAY['22023', '22023', '22023', '22023'],
          'a blank worker id (and instance id) is refused by register_worker as by claim_next');
SELECT is(t.worker_id_states(''), ARRAY['22023', '22023', '22023', '22023'],
          'an empty worker id: the same refusal');
SELECT is(t.worker_id_states('pool 1'), ARRAY['22023', '22023', '22023', '22023'],
          'a worker id with whitespace: the same refusal');
SELECT is(t.worker_id_states(repeat('é', 129)), ARRAY['22001', '22001', '22001', '22001'],
          'a 258-byte id of 129 characters is refused by both (bytes are counted)');
SELECT is(t.worker_id_states(NULL), ARRAY['22004', '22004', '22004', '22004'],
          'a NULL id: 22004 from both');
SELECT is(t.worker_id_states(repeat('é', 128)), ARRAY['ok', 'ok', 'ok', 'ok'],
          'a 256-byte multibyte id is accepted by both');

SELECT t.invariants('worker edges');
SELECT * FROM finish();
ROLLBACK;
