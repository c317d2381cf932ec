-- Hostile input (issue 20, findings 1 and 6): deep JSON is refused in time
-- linear in its size, before anything is written; limits a call takes as an
-- argument are capped by settings only an admin sets; stored caller JSON
-- (tags, policies, resume conditions, summaries) is bounded in bytes and
-- depth.  Every call that could run away runs under statement_timeout: the
-- old exponential merge-depth walk took minutes and could not be cancelled.
BEGIN;
\ir helpers.psql

CREATE FUNCTION t.wp(n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT format('00000000-0000-4000-a000-%s', lpad(n::text, 12, '0'))::uuid
$$;
-- n objects nested along one member, innermost value 1
CREATE FUNCTION t.deep_obj(n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT repeat('{"a":', n) || '1' || repeat('}', n)
$$;
-- an object whose member holds n nested arrays
CREATE FUNCTION t.deep_arr(n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"a":' || repeat('[', n) || repeat(']', n) || '}'
$$;
CREATE FUNCTION t.append(id text, payload text, mode text DEFAULT 'summary', maxp integer DEFAULT NULL,
                         maxlen integer DEFAULT 0, ceiling integer DEFAULT 0, ttl bigint DEFAULT 0) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT ff.append_frame(e.id, e.current_attempt_index::integer, e.current_lease_id, e.current_lease_epoch, 'x',
                           convert_to(payload, 'UTF8'), stream_mode => mode, max_payload_bytes => maxp,
                           retention_maxlen => maxlen, maxlen_ceiling => ceiling, ttl_ms => ttl)
    FROM t.row(id) e
$$;
-- the result of q, or 'ERROR <sqlstate>'
CREATE FUNCTION t.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE res text;
BEGIN
    EXECUTE q INTO res;
    RETURN res;
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE;
END $$;

SELECT ff.create_execution(t.id(1));
SELECT t.claim(t.id(1));

-- 1. the deep summary patch of the report: refused at once.  Depth 28 made
-- the old walk do 2^28 calls (about 15 s; it noticed the timeout only when
-- done, and the file stopped there); depth 5000, 2^5000 (forever).
SET LOCAL statement_timeout = '2s';
SELECT is(t.append(t.id(1), t.deep_obj(28))->>'detail', 'patch_depth_exceeded', 'a patch 28 objects deep is refused within 2 s');
SELECT is(t.append(t.id(1), t.deep_obj(5000)), '{"ok": false, "error": "invalid_input", "detail": "patch_depth_exceeded"}',
          'the report''s patch, 5000 objects deep, is refused within 2 s');
SELECT is(ff.append_frame(t.id(1), 0, e.current_lease_id, e.current_lease_epoch, 'x',
                          convert_to(t.deep_obj(30000), 'UTF8'), stream_mode => 'summary', max_payload_bytes => 200000)->>'error',
          'retention_limit_exceeded', 'a 30 000-deep patch over the frame limit is refused by its size first') FROM t.row(t.id(1)) e;
SELECT is(t.append(t.id(1), t.deep_arr(5000))->>'detail', 'patch_depth_exceeded',
          'arrays count too: 5000 nested arrays -> patch_depth_exceeded, before any parse');
SELECT is(t.append(t.id(1), t.deep_arr(31))->>'status', 'OK', '32 levels (ff_engine.max_json_depth) accepted');
SELECT is(t.append(t.id(1), t.deep_arr(32))->>'detail', 'patch_depth_exceeded', '33 levels refused');
SELECT is(ff.append_frame(t.id(1), 0, gen_random_uuid(), 1, 'x', convert_to(t.deep_obj(5000), 'UTF8'), stream_mode => 'summary')->>'error',
          'stale_owner_cannot_append', 'a stale lease is refused before the patch is read (behaviour/execution §3.24 order)');
SELECT is(ff.append_frame('{fp:1}:00000000-0000-4000-8000-000000000001', 0, gen_random_uuid(), 1, 'summary',
                          convert_to(t.deep_obj(5000), 'UTF8'), stream_mode => 'summary')->>'error',
          'stream_closed', 'the report''s exact call: stream_closed at once');
SET LOCAL statement_timeout = 0;
SELECT is(t.append(t.id(1), '{"k": "' || repeat('{', 5000) || '"}')->>'status', 'OK', 'brackets inside strings do not count');
SELECT is(ff.append_frame(t.id(1), 0, e.current_lease_id, e.current_lease_epoch, 'x', '\x7b0000005b5b5b'::bytea || decode(repeat('5b', 100), 'hex'),
                          stream_mode => 'summary')->>'detail', 'patch_depth_exceeded',
          'a patch with a NUL byte is judged on all its bytes') FROM t.row(t.id(1)) e;
SELECT is(ff.append_frame(t.id(1), 0, e.current_lease_id, e.current_lease_epoch, 'x', '\x7b7d00'::bytea, stream_mode => 'summary')->>'detail',
          'patch payload is not valid JSON', 'a NUL byte makes it invalid JSON') FROM t.row(t.id(1)) e;
SELECT is(t.append(t.id(1), '{"b": ' || t.deep_obj(15) || '}')->>'status', 'OK', 'a merge 16 objects deep is still accepted');

-- 2. deep JSON in every other call that takes a JSON document: 54000 at once, nothing written
SELECT ff.create_execution(t.id(2));
SELECT t.claim(t.id(2));
SELECT ff.create_flow('f1800000-0000-4000-8000-000000000001');
SELECT t.snapshot() AS before \gset
SET LOCAL statement_timeout = '2s';
SELECT is(t.try(format('SELECT ff.create_execution(%L, policy_json => %L)', t.id(3), t.deep_obj(5000))), 'ERROR 54000',
          'create_execution: a policy 5000 deep -> 54000');
SELECT is(t.try(format('SELECT ff.create_execution(%L, tags => %L::jsonb)', t.id(3), '{"a.b": ' || t.deep_obj(1000) || '}')),
          'ERROR 54000', 'create_execution: tags 1000 deep -> 54000');
SELECT is(t.try(format('SELECT ff.create_executions(ARRAY[%L], policy_json => %L)', t.id(3), t.deep_arr(5000))), 'ERROR 54000',
          'create_executions: a policy 5000 deep -> 54000');
SELECT is(t.try(format('SELECT ff.claim_execution(%L, %L, %L, %L, attempt_policy_json => %L)', t.id(2), 'w', 'w-1', 'default',
                       t.deep_obj(5000))), 'ERROR 54000', 'claim_execution: an attempt policy 5000 deep -> 54000');
SELECT is(t.try(format('SELECT ff.issue_grant_and_claim(%L, %L, %L, %L, attempt_policy_json => %L)', t.id(2), 'w', 'w-1', 'default',
                       t.deep_obj(5000))), 'ERROR 54000', 'issue_grant_and_claim: an attempt policy 5000 deep -> 54000');
SELECT is(t.try(format('SELECT ff.reclaim_execution(%L, %L, %L, %L, attempt_policy_json => %L)', t.id(2), 'w', 'w-1', 'default',
                       t.deep_obj(5000))), 'ERROR 54000', 'reclaim_execution: an attempt policy 5000 deep -> 54000');
SELECT is(t.try(format($q$SELECT ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
                       gen_random_uuid(), %L, NULL, 'waiting_for_signal', %L::jsonb) FROM t.row(%L) e$q$, t.wp(1),
                       '{"required_signal_names": [], "x": ' || t.deep_obj(1000) || '}', t.id(2))),
          'ERROR 54000', 'suspend_execution: a resume condition 1000 deep -> 54000');
SELECT is(t.try(format($q$SELECT ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
                       gen_random_uuid(), %L, NULL, 'waiting_for_signal', '{}', resume_policy => %L::jsonb) FROM t.row(%L) e$q$,
                       t.wp(1), t.deep_arr(1000), t.id(2))),
          'ERROR 54000', 'suspend_execution: a resume policy 1000 deep -> 54000');
SET LOCAL statement_timeout = 0;
SELECT is(t.snapshot(), :'before', 'no deep document wrote anything');
SELECT is(ff.create_execution(t.id(4), policy_json => t.deep_obj(31))->>'status', 'OK', 'a policy 31 deep is accepted');
SET LOCAL ff_engine.max_json_depth = 8;
SELECT is(t.try(format('SELECT ff.create_execution(%L, policy_json => %L)', t.id(5), t.deep_obj(9))), 'ERROR 54000',
          'the depth bound is ff_engine.max_json_depth');
RESET ff_engine.max_json_depth;

-- 3. 20 MB of tags or policy: refused, nothing written
SELECT t.snapshot() AS before \gset
SELECT is(t.try(format('SELECT ff.create_execution(%L, tags => jsonb_build_object(%L, repeat(%L, 20 * 1024 * 1024)))', t.id(6), 'a.b', 'x')),
          'ERROR 54000', 'create_execution: 20 MB of tags -> 54000');
SELECT is(t.try(format('SELECT ff.create_execution(%L, policy_json => %L || repeat(%L, 20 * 1024 * 1024) || %L)', t.id(6), '{"x": "', 'x', '"}')),
          'ERROR 54000', 'create_execution: a 20 MB policy -> 54000');
SELECT is(t.try(format('SELECT ff.create_executions(ARRAY[%L], policy_json => %L || repeat(%L, 20 * 1024 * 1024) || %L)', t.id(6), '{"x": "', 'x', '"}')),
          'ERROR 54000', 'create_executions: a 20 MB policy -> 54000');
SELECT is(t.try(format('SELECT ff.set_execution_tags(%L, %L, repeat(%L, 20 * 1024 * 1024))', t.id(1), 'a.b', 'x')),
          'ERROR 54000', 'set_execution_tags: a 20 MB value -> 54000');
SELECT is(t.try(format('SELECT ff.set_flow_tags(%L, %L, repeat(%L, 20 * 1024 * 1024))', 'f1800000-0000-4000-8000-000000000001', 'a.b', 'x')),
          'ERROR 54000', 'set_flow_tags: a 20 MB value -> 54000');
SELECT is(t.try(format('SELECT ff.claim_execution(%L, %L, %L, %L, attempt_policy_json => %L || repeat(%L, 300000) || %L)',
                       t.id(2), 'w', 'w-1', 'default', '{"x": "', 'x', '"}')),
          'ERROR 54000', 'claim_execution: an attempt policy over 256 kB -> 54000');
SELECT is(t.snapshot(), :'before', 'nothing written');
SELECT is((SELECT tags FROM ff.flow WHERE flow_id = 'f1800000-0000-4000-8000-000000000001'), '{}', 'the flow''s tags unchanged');

-- tags grown by many small calls are bounded as a whole (the stored document)
SET LOCAL ff_engine.max_json_bytes = 2048;
SELECT is(ff.set_execution_tags(t.id(1), 'a.k1', repeat('x', 900))->>'status', 'OK', 'small tags accepted');
SELECT is(ff.set_execution_tags(t.id(1), 'a.k2', repeat('x', 900))->>'status', 'OK', '... twice');
SELECT tags AS tags_before FROM ff.execution_data WHERE execution_id = t.exec_uuid(t.id(1)) \gset
SELECT is(t.try(format('SELECT ff.set_execution_tags(%L, %L, repeat(%L, 900))', t.id(1), 'a.k3', 'x')), 'ERROR 54000',
          'set_execution_tags: the third would make the document over ff_engine.max_json_bytes -> 54000');
SELECT is((SELECT tags FROM ff.execution_data WHERE execution_id = t.exec_uuid(t.id(1))), :'tags_before'::jsonb, 'the tags are unchanged');
SELECT is(ff.set_flow_tags('f1800000-0000-4000-8000-000000000001', 'a.k1', repeat('x', 900))->>'status', 'OK', 'flow tags accepted');
SELECT is(ff.set_flow_tags('f1800000-0000-4000-8000-000000000001', 'a.k2', repeat('x', 900))->>'status', 'OK', '... twice');
SELECT is(t.try(format('SELECT ff.set_flow_tags(%L, %L, repeat(%L, 900))', 'f1800000-0000-4000-8000-000000000001', 'a.k3', 'x')),
          'ERROR 54000', 'set_flow_tags: the same bound on the flow''s document');
SELECT is((SELECT array_agg(k ORDER BY k) FROM ff.flow f, jsonb_object_keys(f.tags) k WHERE f.flow_id = 'f1800000-0000-4000-8000-000000000001'),
          ARRAY['a.k1', 'a.k2'], 'the flow''s tags are unchanged');
-- the summary document of a stream too: patches adding keys cannot grow it without end
SELECT ff.create_execution(t.id(7));
SELECT t.claim(t.id(7));
SELECT is(t.append(t.id(7), '{"k1": "' || repeat('x', 900) || '"}')->>'status', 'OK', 'summary patch accepted');
SELECT is(t.append(t.id(7), '{"k2": "' || repeat('x', 900) || '"}')->>'status', 'OK', '... twice');
SELECT is(t.try(format('SELECT t.append(%L, %L)', t.id(7), '{"k3": "' || repeat('x', 900) || '"}')), 'ERROR 54000',
          'a summary document over ff_engine.max_json_bytes -> 54000');
SELECT is((ff.read_summary(t.id(7), 0))->>'version', '2', 'the summary is unchanged');
RESET ff_engine.max_json_bytes;

-- 4. limits a caller passes are capped by the settings
-- frame payload: ff_engine.max_frame_bytes
SET LOCAL ff_engine.max_frame_bytes = 100;
SELECT is(t.append(t.id(7), repeat('x', 101), 'durable', maxp => 2147483647),
          '{"ok": false, "error": "retention_limit_exceeded", "detail": "payload is 101 bytes, the limit is 100"}',
          'max_payload_bytes 2^31-1 is clamped to ff_engine.max_frame_bytes');
SELECT is(t.append(t.id(7), repeat('x', 100), 'durable', maxp => 2147483647)->>'status', 'OK', 'at the setting: accepted');
SELECT is(t.append(t.id(7), repeat('x', 50), 'durable', maxp => 10)->>'error', 'retention_limit_exceeded', 'a caller may still ask for less');
RESET ff_engine.max_frame_bytes;
SELECT is(t.append(t.id(7), repeat('x', 65537), 'durable')->>'error', 'retention_limit_exceeded', 'default: 64 kB');
-- retention: ff_engine.max_stream_frames
SELECT ff.create_execution(t.id(8));
SELECT t.claim(t.id(8), ttl => 3600000);
SET LOCAL ff_engine.max_stream_frames = 64;
SELECT count(*) FROM (SELECT t.append(t.id(8), 'f' || g, 'durable', maxlen => 2147483647) FROM generate_series(1, 70) g) x;
SELECT is((ff.read_stream_meta(t.id(8), 0)->>'retained_count')::int, 64, 'retention_maxlen 2^31-1 is clamped to ff_engine.max_stream_frames');
SELECT is((SELECT retention_maxlen FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(8))), 64, 'the limit in force is recorded');
SELECT count(*) FROM (SELECT t.append(t.id(8), 'f' || g, 'durable', maxlen => 3) FROM generate_series(1, 5) g) x;
SELECT is((ff.read_stream_meta(t.id(8), 0)->>'retained_count')::int, 3, 'a caller may still ask for less');
SELECT ff.create_execution(t.id(9));
SELECT t.claim(t.id(9), ttl => 3600000);
SELECT count(*) FROM (SELECT t.append(t.id(9), 'burst', 'best_effort', ceiling => 2147483647, ttl => 10000) FROM generate_series(1, 60) g) x;
SELECT is((ff.read_stream_meta(t.id(9), 0)->>'maxlen_applied_last')::int, 64, 'maxlen_ceiling 2^31-1 is clamped to ff_engine.max_stream_frames');
RESET ff_engine.max_stream_frames;
-- signals: ff_engine.max_signals_per_execution
SELECT ff.create_execution(t.id(10));
SELECT t.claim(t.id(10));
SELECT ff.create_pending_waitpoint(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, t.wp(10), NULL,
                                   ff.now_ms() + 60000) FROM t.row(t.id(10)) e;
SELECT ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(), t.wp(11),
                            NULL, 'waiting_for_signal', '{"required_signal_names": ["never"]}') FROM t.row(t.id(10)) e;
SET LOCAL ff_engine.max_signals_per_execution = 2;
SELECT is(ff.buffer_signal_for_pending_waitpoint(t.id(10), t.wp(10), gen_random_uuid(), 'a', ff.read_waitpoint_token(t.id(10), t.wp(10)),
          max_signals_per_execution => 2147483647)->>'status', 'OK', 'first signal (buffered)');
SELECT is(ff.deliver_signal(t.id(10), t.wp(11), gen_random_uuid(), 'b', ff.read_waitpoint_token(t.id(10), t.wp(11)),
          max_signals_per_execution => 2147483647)->>'status', 'OK', 'second signal (delivered)');
SELECT is(ff.deliver_signal(t.id(10), t.wp(11), gen_random_uuid(), 'c', ff.read_waitpoint_token(t.id(10), t.wp(11)),
          max_signals_per_execution => 2147483647)->>'error', 'signal_limit_exceeded',
          'max_signals_per_execution 2^31-1 is clamped to ff_engine.max_signals_per_execution');
SELECT is(ff.buffer_signal_for_pending_waitpoint(t.id(10), t.wp(10), gen_random_uuid(), 'd', ff.read_waitpoint_token(t.id(10), t.wp(10)),
          max_signals_per_execution => 2147483647)->>'error', 'signal_limit_exceeded', '... for buffered signals too');
SELECT is(ff.deliver_signal(t.id(10), t.wp(11), gen_random_uuid(), 'e', ff.read_waitpoint_token(t.id(10), t.wp(11)),
          max_signals_per_execution => 0)->>'error', 'signal_limit_exceeded', '0 no longer lifts the limit');
SELECT is(ff.deliver_approval_signal(t.id(10), 'default', t.wp(11), 'f', 'x', max_signals_per_execution => 2147483647)->>'error',
          'signal_limit_exceeded', '... nor does deliver_approval_signal');
SELECT is((SELECT count(*)::int FROM ff.signal WHERE execution_id = t.exec_uuid(t.id(10))), 2, 'two signals stored');
SET LOCAL ff_engine.max_signals_per_execution = 0;
SELECT is(ff.deliver_signal(t.id(10), t.wp(11), gen_random_uuid(), 'g', ff.read_waitpoint_token(t.id(10), t.wp(11)),
          max_signals_per_execution => 3)->>'status', 'OK', 'setting 0 = no limit: the caller''s own limit applies');
SELECT is(ff.deliver_signal(t.id(10), t.wp(11), gen_random_uuid(), 'h', ff.read_waitpoint_token(t.id(10), t.wp(11)),
          max_signals_per_execution => 3)->>'error', 'signal_limit_exceeded', '... and is kept');
RESET ff_engine.max_signals_per_execution;

-- only a superuser sets them (PGC_SUSET): a worker cannot raise its own limits
CREATE ROLE t_hostile LOGIN IN ROLE ff_worker, ff_submitter;
SELECT is(t.as_role('t_hostile', 'SET ff_engine.max_frame_bytes = 1000000000'), 'ERROR 42501', 'a worker cannot raise max_frame_bytes');
SELECT is(t.as_role('t_hostile', 'SET ff_engine.max_signals_per_execution = 0'), 'ERROR 42501', 'nor lift the signal limit');
SELECT is(t.as_role('t_hostile', 'SET ff_engine.max_json_bytes = 1000000000'), 'ERROR 42501', 'nor the JSON size bound');
SELECT is(t.as_role('t_hostile', 'SET ff_engine.max_json_depth = 1000'), 'ERROR 42501', 'nor the JSON depth bound');
SELECT is(t.as_role('t_hostile', 'SET ff_engine.max_stream_frames = 1000000000'), 'ERROR 42501', 'nor the stream retention cap');

-- 5. oversized arrays are refused before their elements are looked at
SET LOCAL statement_timeout = '2s';
SELECT is(t.try($$SELECT count(*) FROM ff.claim_next('default', 'w', 'w-1', (SELECT array_agg('c' || g) FROM generate_series(1, 200000) g))$$),
          'ERROR 54000', '200 000 worker capabilities -> 54000 at once');
SELECT is(t.try($$SELECT ff.set_execution_tags('$$ || t.id(1) || $$', VARIADIC (SELECT array_agg('a.k' || g) FROM generate_series(1, 200000) g))$$),
          'ERROR 54000', '200 000 tag pairs (over ff_engine.max_json_bytes) -> 54000');
SELECT is(t.try($$SELECT ff.create_executions(array_fill('x'::text, ARRAY[2000000]))$$), 'ERROR 54000',
          '2 000 000 execution ids -> 54000 before they are read');
SELECT is(t.try($$SELECT ff.complete_executions(array_fill('x'::text, ARRAY[2000000]), array_fill(gen_random_uuid(), ARRAY[2000000]),
                  array_fill(1::bigint, ARRAY[2000000]), array_fill(gen_random_uuid(), ARRAY[2000000]))$$), 'ERROR 54000',
          'complete_executions: 2 000 000 items -> 54000');
SELECT is(t.try(format($q$SELECT ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
                       gen_random_uuid(), %L, NULL, 'waiting_for_signal', '{}', extra_waitpoint_ids => array_fill(gen_random_uuid(), ARRAY[200000]),
                       extra_waitpoint_keys => array_fill('k'::text, ARRAY[200000])) FROM t.row(%L) e$q$, t.wp(20), t.id(2))),
          'ERROR 54000', 'suspend_execution: 200 000 extra waitpoints -> 54000');
SET LOCAL statement_timeout = 0;

SELECT * FROM t.invariants('hostile input');
SELECT * FROM finish();
ROLLBACK;
