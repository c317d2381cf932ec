-- The dashboard's read functions (issue 27): ff.list_attempts,
-- ff.read_lease_history, ff.read_stream_last, ff.lane_throughput, on the
-- test clock; a reader reaches them, never sees a lease id, and a reader
-- bound to another namespace sees nothing.
BEGIN;
\ir helpers.psql

-- lane d1 at T = 1000000000000: execution 1 fails into a retry, is claimed
-- again at T+61 s and completes; 2 is claimed and streams 5 frames;
-- 3 waits.  Execution 4 lives in namespace other.
SELECT t.at(1000000000000);
SELECT ff.create_execution(t.id(1), lane_id => 'd1',
    policy_json => '{"retry_policy": {"max_retries": 2, "backoff": {"type": "fixed", "delay_ms": 1000}}}');
SELECT ff.create_execution(t.id(g), lane_id => 'd1') FROM unnest(ARRAY[2, 3]) g;
SELECT ff.create_execution(t.id(4), lane_id => 'd2', namespace => 'other');
SELECT t.claim(t.id(1));
SELECT t.fail(t.id(1), '<b>boom</b>');
SELECT t.at(1000000061000);
SELECT ff.promote_delayed(t.id(1));
SELECT t.claim(t.id(1), 'w2');
SELECT t.complete(t.id(1));
SELECT t.claim(t.id(2));
SELECT t.claim(t.id(4));
SELECT ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'stdout', convert_to('line ' || g, 'UTF8'))
FROM t.row(t.id(2)) e, generate_series(1, 5) g;
SELECT t.at(1000000070000);

-- ---- attempts ----
SELECT is((SELECT string_agg(attempt_index || ':' || attempt_state || ':' || coalesce(failure_reason, '-') || ':' || worker_id, ',')
           FROM ff.list_attempts(t.id(1))),
          '1:ended_success:-:w2,0:ended_failure:<b>boom</b>:w1',
          'list_attempts: newest first, with state, failure reason and worker');
SELECT is((SELECT count(*)::int FROM ff.list_attempts(t.id(1), 1)), 1, 'list_attempts: the limit');
SELECT is((SELECT count(*)::int FROM ff.list_attempts(t.id(99))), 0, 'list_attempts: no rows for an unknown execution');
SELECT throws_ok($$SELECT * FROM ff.list_attempts('nonsense')$$, '22P02', NULL, 'list_attempts: a malformed id is 22P02');

-- ---- lease history ----
SELECT is((SELECT string_agg(event || ':' || coalesce(reason, '-'), ',' ORDER BY seq) FROM ff.read_lease_history(t.id(1))),
          (SELECT string_agg(event || ':' || coalesce(reason, '-'), ',' ORDER BY seq) FROM ff.lease_history
           WHERE execution_id = t.exec_uuid(t.id(1))),
          'read_lease_history: every event of the table');
SELECT is((SELECT seq FROM ff.read_lease_history(t.id(1)) LIMIT 1),
          (SELECT max(seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(1))),
          'read_lease_history: newest first');
SELECT is((SELECT string_agg(event || ':' || coalesce(reason, '-'), ',') FROM ff.read_lease_history(t.id(1), 1)),
          'released:completed', 'read_lease_history: the limit keeps the newest');

-- ---- the newest frames ----
SELECT is((SELECT jsonb_path_query_array(ff.read_stream_last(t.id(2), 0, 3), '$.entries[*].payload')),
          '["line 3", "line 4", "line 5"]', 'read_stream_last: the newest three, oldest first');
SELECT is((SELECT r - 'entries' FROM ff.read_stream_last(t.id(2), 0) r),
          '{"ok": true, "status": "OK", "frame_count": 5, "retained_count": 5, "closed_at": null, "closed_reason": null}',
          'read_stream_last: counts and close markers');
SELECT is(ff.read_stream_last(t.id(2), 0) -> 'entries', ff.read_attempt_stream(t.id(2), 0) -> 'entries',
          'read_stream_last: the same entries as read_attempt_stream');
SELECT is(ff.read_stream_last(t.id(3), 0) ->> 'error', 'stream_not_found', 'read_stream_last: no stream');
SELECT throws_ok($$SELECT ff.read_stream_last(t.id(2), 0, 0)$$, '22023', NULL, 'read_stream_last: count 0 is 22023');

-- ---- throughput per minute ----
SELECT is((SELECT jsonb_agg(jsonb_build_array(minutes_ago, claims, completions, failures) ORDER BY minutes_ago)
           FROM ff.lane_throughput(30) WHERE lane_id = 'd1'),
          '[[0, 2, 1, 0], [1, 1, 0, 1]]',
          'lane_throughput: claims, completions and failures by minute (T+61 s and T+0 s, seen at T+70 s)');
SELECT is((SELECT sum(claims)::int FROM ff.lane_throughput(1) WHERE lane_id = 'd1'), 2, 'lane_throughput: a one-minute window');
SELECT is((SELECT sum(claims)::int FROM ff.lane_throughput(60) WHERE lane_id = 'd1'),
          (SELECT claims_1h::int FROM ff.lane_metrics WHERE lane_id = 'd1'), 'lane_throughput: the hour agrees with lane_metrics');

-- ---- a reader, bound and not ----
CREATE ROLE dash_r IN ROLE ff_reader;
CREATE ROLE dash_other IN ROLE ff_reader;
SELECT ff.grant_namespace('dash_other', 'other');
SELECT is(t.as_role('dash_r', format($$SELECT count(*) FROM ff.list_attempts(%L)$$, t.id(1))), '2', 'a reader lists the attempts');
SELECT is(t.as_role('dash_r', format($$SELECT count(*) FROM ff.read_lease_history(%L) h
                                       WHERE to_jsonb(h)::text LIKE '%%' || %L || '%%'$$, t.id(2), (t.row(t.id(2))).current_lease_id)),
          '0', 'no lease history row carries the lease id');
SELECT is(t.as_role('dash_other', format($$SELECT (SELECT count(*) FROM ff.list_attempts(%1$L)) || '/' || (SELECT count(*) FROM ff.read_lease_history(%1$L))
                                           || '/' || (ff.read_stream_last(%2$L, 0) ->> 'error')$$, t.id(1), t.id(2))),
          '0/0/stream_not_found', 'a reader bound to another namespace sees none of them');
SELECT is(t.as_role('dash_other', $$SELECT string_agg(DISTINCT lane_id, ',') FROM ff.lane_throughput(60)$$), 'd2',
          'lane_throughput: a bound reader sees only its namespaces'' lanes');

SELECT * FROM finish();
ROLLBACK;
