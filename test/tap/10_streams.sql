-- Attempt output streams: behaviour/execution §3.24-§3.27, checklist 56-65.
BEGIN;
\ir helpers.psql

-- append with the execution's current lease
CREATE FUNCTION t.append(id text, payload text, mode text DEFAULT 'durable', frame_type text DEFAULT 'stdout',
                         retention_maxlen integer DEFAULT 0, ttl_ms bigint DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.append_frame(e.id, e.current_attempt_index::integer, e.current_lease_id, e.current_lease_epoch, frame_type,
                           convert_to(payload, 'UTF8'), stream_mode => mode, retention_maxlen => retention_maxlen, ttl_ms => ttl_ms)
    FROM t.row(id) e
$$;
CREATE FUNCTION t.entries(id text, idx integer DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.read_attempt_stream(id, idx, count_limit => 10000) -> 'entries'
$$;

-- 56. append by the lease holder; ids; counts; lazily created meta; fields
SELECT ff.create_execution(t.id(1));
SELECT t.claim(t.id(1));
SELECT is(ff.read_stream_meta(t.id(1), 0)->>'error', 'stream_not_found', 'no meta before the first append');
SELECT is(t.append(t.id(1), 'one'), '{"ok": true, "status": "OK", "entry_id": "1000000000000-0", "frame_count": 1, "summary_version": null}',
          'first append: entry id and frame_count 1');
SELECT is((t.append(t.id(1), 'two'))->>'frame_count', '2', 'frame_count 2');
SELECT is((t.append(t.id(1), 'three'))->>'entry_id', '1000000000000-2', 'ids within one ms count up');
SELECT t.at(1000000000005);
SELECT is((t.append(t.id(1), 'four'))->>'entry_id', '1000000000005-0', 'a new ms starts at seq 0');
SELECT is(ff.read_stream_meta(t.id(1), 0)->>'frame_count', '4', 'meta created lazily, counting');
SELECT is((SELECT array_agg(e->>'payload') FROM jsonb_array_elements(t.entries(t.id(1))) e), ARRAY['one', 'two', 'three', 'four'],
          'frames read back in order');
SELECT is(ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'event', '\x00ff', ts => 42, encoding => 'binary',
                          correlation_id => 'c-1', source => 'tool') ->> 'status', 'OK', 'append with every field') FROM t.row(t.id(1)) e;
SELECT is((t.entries(t.id(1)) -> 4) - 'id', '{"ts": 42, "mode": "durable", "source": "tool", "payload": "AP8=", "encoding": "binary", "frame_type": "event", "correlation_id": "c-1"}',
          'all stored fields come back (non-utf8 payloads in base64)');

-- monotonic ids when the clock steps back
SELECT t.at(1000000000001);
SELECT is((t.append(t.id(1), 'back in time'))->>'entry_id', '1000000000005-2', 'a clock step back keeps ids increasing');

-- 57. payload limit, checked first (even for a missing execution)
SELECT t.snapshot() AS before \gset
SELECT is(ff.append_frame(t.id(99), 0, gen_random_uuid(), 1, 'x', decode(repeat('00', 65537), 'hex'))->>'error', 'retention_limit_exceeded',
          '65 537 bytes to a missing execution -> retention_limit_exceeded');
SELECT is(ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'x', decode(repeat('00', 65537), 'hex'))->>'error',
          'retention_limit_exceeded', '65 537 bytes -> retention_limit_exceeded') FROM t.row(t.id(1)) e;
SELECT is(t.snapshot(), :'before', 'nothing written');
SELECT is(ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'x', decode(repeat('00', 65536), 'hex'))->>'status',
          'OK', '65 536 bytes accepted') FROM t.row(t.id(1)) e;
SELECT is(ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'x', 'abc', max_payload_bytes => 2)->>'error',
          'retention_limit_exceeded', 'a caller limit applies') FROM t.row(t.id(1)) e;

-- 58. stale owners and closed streams
SELECT is(ff.append_frame(e.id, 1, e.current_lease_id, e.current_lease_epoch, 'x', 'x')->>'error', 'stale_owner_cannot_append',
          'wrong attempt index') FROM t.row(t.id(1)) e;
SELECT is(ff.append_frame(e.id, 0, gen_random_uuid(), e.current_lease_epoch, 'x', 'x')->>'error', 'stale_owner_cannot_append',
          'wrong lease id') FROM t.row(t.id(1)) e;
SELECT is(ff.append_frame(e.id, 0, e.current_lease_id, 9, 'x', 'x')->>'error', 'stale_owner_cannot_append',
          'wrong epoch') FROM t.row(t.id(1)) e;
SELECT is(ff.append_frame(t.id(98), 0, gen_random_uuid(), 1, 'x', 'x')->>'error', 'stream_closed', 'missing execution -> stream_closed');
SELECT ff.create_execution(t.id(2));
SELECT t.claim(t.id(2), ttl => 1000);
SELECT t.append(t.id(2), 'a');
SELECT t.at(1000000001001);
SELECT is(t.append(t.id(2), 'late')->>'error', 'stale_owner_cannot_append', 'after the lease expiry');
SELECT is((t.row(t.id(2))).ownership_state, 'leased', 'append does not mark the expiry');
SELECT ff.create_execution(t.id(3));
SELECT t.claim(t.id(3));
SELECT t.row(t.id(3)) AS r3 \gset
SELECT ff.revoke_lease(t.id(3));
SELECT is(ff.append_frame(t.id(3), 0, (:'r3'::ff.executions).current_lease_id, 1, 'x', 'x')->>'error', 'stale_owner_cannot_append', 'after revoke');
SELECT t.complete(t.id(1));
SELECT is(ff.append_frame(t.id(1), 0, e.current_lease_id, 1, 'x', 'x')->>'error', 'stream_closed', 'after complete -> stream_closed')
  FROM (SELECT (:'r3'::ff.executions).*) e;

-- 59. durable retention with retention_maxlen = 3
SELECT ff.create_execution(t.id(4));
SELECT t.claim(t.id(4));
SELECT t.append(t.id(4), 'f' || g, retention_maxlen => 3) FROM generate_series(1, 5) g;
SELECT is((SELECT array_agg(e->>'payload') FROM jsonb_array_elements(t.entries(t.id(4))) e), ARRAY['f3', 'f4', 'f5'], 'only the last 3 remain');
SELECT is(ff.read_stream_meta(t.id(4), 0)->>'frame_count', '5', 'frame_count reports 5');
SELECT is(ff.read_stream_meta(t.id(4), 0)->>'retained_count', '3', 'three retained');

-- 60. summary mode
SELECT ff.create_execution(t.id(5));
SELECT t.claim(t.id(5));
SELECT is((t.append(t.id(5), '{"a": 1}', 'summary'))->>'summary_version', '1', 'first patch: version 1');
SELECT t.at(1000000002000);
SELECT t.append(t.id(5), '{"b": {"c": 2}}', 'summary');
SELECT is((t.append(t.id(5), '{"a": null}', 'summary'))->>'summary_version', '3', 'version 3');
SELECT is(ff.read_summary(t.id(5), 0) - 'last_updated_ms',
          '{"ok": true, "status": "OK", "version": 3, "document": {"b": {"c": 2}}, "patch_kind": "json-merge-patch", "first_applied_ms": 1000000001001}',
          'document {"b":{"c":2}}, version 3, first_applied_ms set once');
SELECT is((ff.read_summary(t.id(5), 0))->>'last_updated_ms', '1000000002000', 'last_updated_ms moves');
SELECT t.append(t.id(5), '{"n": "__ff_null__", "arr": ["__ff_null__", 1], "deep": {"x": "__ff_null__"}}', 'summary');
SELECT is((ff.read_summary(t.id(5), 0))->'document', '{"b": {"c": 2}, "n": null, "arr": [null, 1], "deep": {"x": null}}',
          'the __ff_null__ sentinel becomes a JSON null, in arrays and nested objects too');
SELECT t.append(t.id(5), '{"b": {}}', 'summary');
SELECT is((ff.read_summary(t.id(5), 0))->'document'->'b', '{"c": 2}', 'an empty-object patch merges (RFC 7396), it does not replace');
SELECT t.append(t.id(5), '{"b": {"c": {"z": 1}}, "arr": {"k": "v"}}', 'summary');
SELECT is(((ff.read_summary(t.id(5), 0))->'document') - 'n' - 'deep', '{"b": {"c": {"z": 1}}, "arr": {"k": "v"}}',
          'an object patch replaces a scalar or array target');
SELECT t.snapshot() AS before \gset
SELECT is(t.append(t.id(5), '[1, 2]', 'summary'), '{"ok": false, "error": "invalid_input", "detail": "patch must be a JSON object"}', 'array patch -> invalid_input');
SELECT is(t.append(t.id(5), '7', 'summary')->>'detail', 'patch must be a JSON object', 'scalar patch -> invalid_input');
SELECT is(t.append(t.id(5), '{bad', 'summary')->>'detail', 'patch payload is not valid JSON', 'invalid JSON -> invalid_input');
SELECT is(t.append(t.id(5), repeat('{"a":', 17) || '1' || repeat('}', 17), 'summary')->>'detail', 'patch_depth_exceeded', 'depth 17 -> invalid_input');
SELECT is(ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'd', '{}', stream_mode => 'summary', patch_kind => 'json-patch')->>'detail',
          'unsupported patch_kind', 'unknown patch_kind -> invalid_input') FROM t.row(t.id(5)) e;
SELECT is(t.append(t.id(5), 'x', 'firehose')->>'detail', 'unknown stream_mode "firehose"', 'unknown mode -> invalid_input (behaviour/execution §C.15)');
SELECT is(t.snapshot(), :'before', 'bad patches and modes write nothing');
SELECT is((t.append(t.id(5), repeat('{"a":', 16) || '1' || repeat('}', 16), 'summary'))->>'status', 'OK', 'depth 16 accepted');
SELECT is((SELECT array_agg((e->>'summary_version')::int) FROM jsonb_array_elements(t.entries(t.id(5))) e),
          ARRAY[1, 2, 3, 4, 5, 6, 7], 'each summary frame carries its summary_version');
-- summary streams keep about the newest 64 frames
SELECT t.append(t.id(5), '{"i": ' || g || '}', 'summary') FROM generate_series(1, 150) g;
SELECT cmp_ok((ff.read_stream_meta(t.id(5), 0)->>'retained_count')::int, '<=', 80, 'summary retention keeps about 64');
SELECT cmp_ok((ff.read_stream_meta(t.id(5), 0)->>'retained_count')::int, '>=', 64, '... at least 64');

-- 61. best-effort mode
SELECT ff.create_execution(t.id(6));
SELECT t.claim(t.id(6), ttl => 3600000);
DO $$ BEGIN
  FOR i IN 1..200 LOOP
    PERFORM t.at(1000000002000 + i * 200);        -- 5 appends a second
    PERFORM t.append(t.id(6), 'be', 'best_effort', ttl_ms => 1000);
  END LOOP;
END $$;
SELECT cmp_ok((ff.read_stream_meta(t.id(6), 0)->>'retained_count')::int, '<=', 80, 'slow best-effort appends trim to about the floor of 64');
SELECT is((ff.read_stream_meta(t.id(6), 0)->>'maxlen_applied_last')::int, 64, 'K = floor at a low rate');
SELECT is((ff.read_stream_meta(t.id(6), 0)->>'frames_expire_at')::bigint, 1000000042000 + 2000, 'no durable frame: the stream expires 2 x ttl after the last append');
SELECT ff.create_execution(t.id(8));
SELECT t.claim(t.id(8), ttl => 3600000);
SELECT t.append(t.id(8), 'burst', 'best_effort', ttl_ms => 10000) FROM generate_series(1, 60) g;
SELECT is((ff.read_stream_meta(t.id(8), 0)->>'maxlen_applied_last')::int, 16384, 'a burst raises K, capped at the ceiling of 16 384');
SELECT t.at(1000000044000);
SELECT is(jsonb_array_length(t.entries(t.id(6))), 0, 'after the expiry the frames are gone for readers');
SELECT is((ff.trim_retention())->>'streams_expired', '1', 'and retention deletes them');
SELECT t.append(t.id(6), 'again', 'best_effort', ttl_ms => 1000);
SELECT t.append(t.id(6), 'durable now');
SELECT is(ff.read_stream_meta(t.id(6), 0)->'frames_expire_at', 'null', 'a durable frame removes the expiry');
SELECT t.append(t.id(6), 'be again', 'best_effort', ttl_ms => 1000);
SELECT is(ff.read_stream_meta(t.id(6), 0)->'frames_expire_at', 'null', '... permanently');
SELECT ff.create_execution(t.id(7));
SELECT t.claim(t.id(7));
SELECT is((SELECT (ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'x', 'x', stream_mode => 'best_effort',
          ttl_ms => 1000, maxlen_floor => 10, maxlen_ceiling => 5))->>'status' FROM t.row(t.id(7)) e), 'OK', 'a ceiling below the floor is raised to it');
SELECT is((ff.read_stream_meta(t.id(7), 0)->>'maxlen_applied_last')::int, 10, 'first best-effort append: K = floor');
SELECT t.at(1000000055000);
SELECT ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'x', 'x', stream_mode => 'best_effort', ttl_ms => 1000, maxlen_floor => 10)
  FROM t.row(t.id(7)) e;
SELECT is((ff.read_stream_meta(t.id(7), 0)->>'maxlen_applied_last')::int, 10, 'K never below the floor (slow appends)');

-- 62. reads: limits and visibility
SELECT is(ff.read_attempt_stream(t.id(6), 0, count_limit => 0), '{"ok": false, "error": "invalid_input", "detail": "count_limit must be >= 1"}', 'count 0');
SELECT is(ff.read_attempt_stream(t.id(6), 0, count_limit => 10001)->>'detail', 'count_limit_exceeds_hard_cap', 'count 10 001');
SELECT is(ff.read_attempt_stream(t.id(6), 0, count_limit => 10000)->>'status', 'OK', 'count 10 000 accepted');
SELECT is((SELECT array_agg(e->>'payload') FROM jsonb_array_elements(ff.read_attempt_stream(t.id(6), 0, visibility => 'exclude_best_effort')->'entries') e),
          ARRAY['durable now'], 'exclude_best_effort hides best-effort frames');
INSERT INTO ff.stream_frame VALUES (0, t.exec_uuid(t.id(6)), 0, 1000000060000, 0, 'legacy', 1, 'old', 'utf8', 'worker', '', NULL, NULL, NULL);
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(ff.read_attempt_stream(t.id(6), 0, visibility => 'exclude_best_effort')->'entries') e
           WHERE e->>'payload' = 'old'), 1, 'frames without a best-effort mode are kept');
SELECT is(ff.read_attempt_stream(t.id(6), 0, from_id => '-')->>'error', 'invalid_input', 'bare - rejected');
SELECT is(ff.read_attempt_stream(t.id(6), 0, to_id => '+')->>'error', 'invalid_input', 'bare + rejected');
SELECT is(ff.read_attempt_stream(t.id(6), 0, visibility => 'some')->>'error', 'invalid_input', 'unknown visibility rejected');
SELECT is((SELECT array_agg(e->>'payload') FROM jsonb_array_elements(ff.read_attempt_stream(t.id(4), 0, '1000000001001-3', '1000000001001-4')->'entries') e),
          ARRAY['f4', 'f5'], 'ranges are inclusive');
SELECT is((SELECT array_agg(e->>'payload') FROM jsonb_array_elements(ff.read_attempt_stream(t.id(4), 0, '1000000001001')->'entries') e),
          ARRAY['f3', 'f4', 'f5'], 'a bare <ms> lower bound means <ms>-0');
SELECT is(ff.read_attempt_stream(t.id(97), 3), '{"ok": true, "status": "OK", "entries": [], "closed_at": null, "closed_reason": null}',
          'a stream never written: no entries, open');

-- 63. close markers
CREATE TEMP TABLE closes(n int, how text, reason text);
INSERT INTO closes VALUES (20, 'complete', 'attempt_success'), (21, 'fail', 'attempt_failure'), (22, 'cancel', 'attempt_cancelled'),
                          (23, 'reclaim', 'reclaimed'), (24, 'mark', 'lease_expired'), (25, 'expire', 'expired'),
                          (26, 'delay', NULL), (27, 'children', NULL);
SELECT t.at(1000000070000);
SELECT ff.create_execution(t.id(n)) FROM closes;
SELECT t.claim(t.id(n), ttl => 1000) FROM closes;
SELECT t.append(t.id(n), 'x') FROM closes;
SELECT t.complete(t.id(20)), t.fail(t.id(21)), ff.cancel_execution(t.id(22)), ff.revoke_lease(t.id(23)),
       ff.issue_reclaim_grant(t.id(23), 'w2', 'w2-1', 'default'), ff.expire_execution(t.id(25));
SELECT ff.reclaim_execution(t.id(23), 'w2', 'w2-1', 'default');
SELECT ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, 0) FROM t.row(t.id(26)) e;
SELECT ff.move_to_waiting_children(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id) FROM t.row(t.id(27)) e;
SELECT t.at(1000000071000);
SELECT ff.mark_lease_expired_if_due(t.id(24));
SELECT is(ff.read_attempt_stream(t.id(n), 0)->>'closed_reason', reason, how || ' -> ' || coalesce(reason, 'open')) FROM closes;
SELECT is(ff.tail_attempt_stream(t.id(20), 0, '0-0')->>'closed_at', '1000000070000', 'tail reports closed_at too');

-- 64. tail without blocking; after is exclusive
SELECT is((SELECT array_agg(e->>'payload') FROM jsonb_array_elements(ff.tail_attempt_stream(t.id(4), 0, '1000000001001-3')->'entries') e),
          ARRAY['f5'], 'after is exclusive');
SELECT is(jsonb_array_length(ff.tail_attempt_stream(t.id(4), 0, '1000000001001-4')->'entries'), 0, 'nothing after the last entry');
SELECT is(ff.tail_attempt_stream(t.id(4), 0, 'start')->>'error', 'invalid_input', 'start is not a concrete cursor');
SELECT is(ff.tail_attempt_stream(t.id(4), 0, '0-0', block_ms => 30001)->>'error', 'invalid_input', 'block over 30 s rejected');

-- 65. read_summary before any summary frame
SELECT is(ff.read_summary(t.id(4), 0), '{"ok": true, "status": "OK", "version": 0, "document": null, "patch_kind": null, "last_updated_ms": 0, "first_applied_ms": 0}',
          'no summary: empty document, version 0');

-- retention deletes streams with their execution
SELECT ff.purge_execution(t.id(4));
SELECT is((SELECT count(*)::int FROM ff.stream_frame WHERE execution_id = t.exec_uuid(t.id(4)))
        + (SELECT count(*)::int FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(4))), 0, 'purge deletes frames and meta');
SELECT ff.purge_execution(t.id(5));
SELECT is((SELECT count(*)::int FROM ff.stream_summary WHERE execution_id = t.exec_uuid(t.id(5))), 0, 'and the summary');

-- bad input raises
SELECT throws_ok($$SELECT ff.append_frame(t.id(1), 0, NULL, 1, 'x', 'x')$$, '22004', NULL, 'NULL lease id');
SELECT throws_ok($$SELECT ff.append_frame(t.id(1), 0, gen_random_uuid(), 1, 'x', NULL)$$, '22004', NULL, 'NULL payload');
SELECT throws_ok($$SELECT ff.append_frame(t.id(1), -1, gen_random_uuid(), 1, 'x', 'x')$$, '22023', NULL, 'negative attempt index');
SELECT throws_ok($$SELECT ff.append_frame(t.id(1), 0, gen_random_uuid(), 1, 'x', 'x', retention_maxlen => -1)$$, '22023', NULL, 'negative retention');
SELECT throws_ok($$SELECT ff.append_frame('x', 0, gen_random_uuid(), 1, 'x', 'x')$$, '22P02', NULL, 'malformed id');
SELECT throws_ok($$SELECT ff.read_attempt_stream(t.id(1), NULL)$$, '22004', NULL, 'NULL attempt index on read');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
