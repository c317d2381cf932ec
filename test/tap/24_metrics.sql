-- Metrics (issue 27): ff.lane_metrics, ff.dispatcher_status and ff.metrics()
-- under a known workload on the test clock; the exposition text checked by
-- a small parser of the Prometheus text format; tenancy.
BEGIN;
\ir helpers.psql

GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE FUNCTION t.explain(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL enable_seqscan = off;
    RETURN QUERY EXECUTE 'EXPLAIN ' || q;
END $$;

-- ---- a parser of the text exposition format (version 0.0.4) ----
-- every line, numbered, classified: help / type / sample, or 'bad'
CREATE FUNCTION t.prom_lines(body text) RETURNS TABLE (n bigint, kind text, name text, labels text, value text, rest text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT l.n,
           CASE WHEN l.line ~ '^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* ([^\\\n]|\\[\\n])*$' THEN 'help'
                WHEN l.line ~ '^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$' THEN 'type'
                WHEN l.line ~ ('^[a-zA-Z_:][a-zA-Z0-9_:]*'
                               || '(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*)?\})?'
                               || ' (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)( -?[0-9]+)?$') THEN 'sample'
                ELSE 'bad' END,
           CASE WHEN l.line LIKE '# %' THEN split_part(l.line, ' ', 3) ELSE substring(l.line FROM '^[a-zA-Z_:][a-zA-Z0-9_:]*') END,
           substring(l.line FROM '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\}) '),
           substring(l.line FROM ' ([^ ]+)$'),
           CASE WHEN l.line LIKE '# %' THEN substr(l.line, length(split_part(l.line, ' ', 3)) + 9) END
    FROM regexp_split_to_table(rtrim(body, E'\n'), E'\n') WITH ORDINALITY l(line, n)
$$;
-- the label pairs of a sample's {...}, values unescaped
CREATE FUNCTION t.prom_labels(labels text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(m[1], replace(replace(replace(replace(m[2], '\\', E'\x01'), '\"', '"'), '\n', E'\n'), E'\x01', '\')), '{}')
    FROM regexp_matches(coalesce(labels, ''), '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', 'g') m
$$;
-- the samples of a body: metric name, labels (jsonb), value
CREATE FUNCTION t.prom(body text) RETURNS TABLE (name text, labels jsonb, value numeric) LANGUAGE sql IMMUTABLE AS $$
    SELECT p.name, t.prom_labels(p.labels), p.value::numeric FROM t.prom_lines(body) p WHERE p.kind = 'sample'
$$;
-- everything wrong with a body's format, one text per problem (none: valid)
CREATE FUNCTION t.prom_problems(body text) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'line ' || n || ' does not parse' FROM t.prom_lines(body) WHERE kind = 'bad'
    UNION ALL
    SELECT 'no final newline' WHERE right(body, 1) <> E'\n'
    UNION ALL
    SELECT 'metric ' || s.name || ' has no HELP before its samples' FROM t.prom_lines(body) s
    WHERE s.kind = 'sample' AND NOT EXISTS (SELECT 1 FROM t.prom_lines(body) h WHERE h.kind = 'help' AND h.name = s.name AND h.n < s.n)
    UNION ALL
    SELECT 'metric ' || s.name || ' has no TYPE before its samples' FROM t.prom_lines(body) s
    WHERE s.kind = 'sample' AND NOT EXISTS (SELECT 1 FROM t.prom_lines(body) h WHERE h.kind = 'type' AND h.name = s.name AND h.n < s.n)
    UNION ALL
    SELECT 'metric ' || name || ' has ' || count(*) || ' ' || kind || ' lines' FROM t.prom_lines(body)
    WHERE kind IN ('help', 'type') GROUP BY name, kind HAVING count(*) <> 1
    UNION ALL
    SELECT 'metric ' || h.name || ' has HELP but no TYPE' FROM t.prom_lines(body) h
    WHERE h.kind = 'help' AND NOT EXISTS (SELECT 1 FROM t.prom_lines(body) x WHERE x.kind = 'type' AND x.name = h.name)
    UNION ALL
    SELECT 'counter ' || name || ' does not end in _total' FROM t.prom_lines(body) WHERE kind = 'type' AND rest = 'counter' AND name !~ '_total$'
    UNION ALL
    SELECT 'metric ' || name || ' ends in _total but is not a counter' FROM t.prom_lines(body) WHERE kind = 'type' AND rest <> 'counter' AND name ~ '_total$'
    UNION ALL
    SELECT 'metric ' || name || ' is not named ff_*' FROM t.prom_lines(body) WHERE kind = 'type' AND name !~ '^ff_'
    UNION ALL
    SELECT 'samples of ' || name || ' are not together' FROM t.prom_lines(body) WHERE kind IN ('sample', 'help', 'type')
    GROUP BY name HAVING max(n) - min(n) + 1 <> count(*)
    UNION ALL
    SELECT 'series ' || name || coalesce(labels, '') || ' appears ' || count(*) || ' times' FROM t.prom_lines(body)
    WHERE kind = 'sample' GROUP BY name, t.prom_labels(labels), labels HAVING count(*) > 1
$$;

-- the parser itself: it accepts the format and refuses what breaks it
SELECT is_empty($$SELECT t.prom_problems(E'# HELP ff_a_total A \\\\ help.\n# TYPE ff_a_total counter\nff_a_total{x="q\\"\\\\\\n",y=""} 1.5\nff_a_total 2\n')$$,
                'parser: a valid body has no problems');
SELECT is(t.prom_labels('{x="q\"\\\n",y=""}'), jsonb_build_object('x', E'q"\\\n', 'y', ''), 'parser: label values are unescaped');
SELECT set_eq($$SELECT t.prom_problems(E'# TYPE a counter\na{x="1"} 1\na{x="1"} 2\nb 1\nc{x="un"escaped"} 1\n# HELP d D\nd one')$$,
              ARRAY['metric a has no HELP before its samples', 'counter a does not end in _total', 'series a{x="1"} appears 2 times',
                    'metric b has no HELP before its samples', 'metric b has no TYPE before its samples',
                    'line 5 does not parse', 'line 7 does not parse', 'no final newline', 'metric d has HELP but no TYPE',
                    'metric a is not named ff_*'],
              'parser: it finds each kind of mistake');

-- ---- a known workload ----
-- lane m1 (namespace default) at T = 1000000000000:
--   1 completed at T, 2 failed terminally at T, 3 failed into a retry at T+120 s,
--   4 claimed with a 1 s lease that expires at T+121 s, 5 and 6 waiting
--   (eligible since T and T+60 s), 7 delayed, 8 active (claimed at T+120 s);
-- lane "odd (a lane name with a quote and a backslash) in namespace a: one waiting.
SELECT ff.create_execution(t.id(g), lane_id => 'm1') FROM unnest(ARRAY[1, 2, 4, 5]) g;
SELECT ff.create_execution(t.id(7), lane_id => 'm1', delay_until => 1000000999000);
SELECT ff.create_execution(t.id(3), lane_id => 'm1', policy_json => '{"retry_policy": {"max_retries": 2, "backoff": {"type": "fixed", "delay_ms": 1000000}}}') ;
SELECT t.claim(t.id(1));
SELECT t.complete(t.id(1));
SELECT t.claim(t.id(2));
SELECT t.fail(t.id(2));
SELECT t.at(1000000060000);
SELECT ff.create_execution(t.id(6), lane_id => 'm1');
SELECT ff.create_execution(t.id(8), lane_id => 'm1');
SELECT ff.create_execution(t.id(20), namespace => 'a', lane_id => E'we"ird\\lane');
SELECT t.at(1000000120000);
SELECT t.claim(t.id(3));
SELECT t.fail(t.id(3));
SELECT t.claim(t.id(4), ttl => 1000);
SELECT t.claim(t.id(8));
SELECT t.at(1000000121500);
SELECT is((ff.scan_lease_expiry())->>'processed', '1', 'workload: one lease expired');
SELECT t.at(1000000130000);

SELECT is((SELECT jsonb_build_object('waiting', waiting, 'delayed', delayed, 'active', active, 'completed', completed,
                                      'failed', failed, 'active_leases', active_leases)
           FROM ff.lane_metrics WHERE namespace = 'default' AND lane_id = 'm1'),
          '{"waiting": 2, "delayed": 2, "active": 2, "completed": 1, "failed": 1, "active_leases": 1}',
          'lane_metrics: executions by public state and leases held (the expired lease is not held)');
SELECT is((SELECT jsonb_build_object('waiting', waiting, 'delayed', delayed, 'active', active, 'completed', completed, 'failed', failed)
           FROM ff.lane_metrics WHERE namespace = 'default' AND lane_id = 'm1'),
          (SELECT jsonb_object_agg(s, (SELECT count(*) FROM ff.execution e WHERE e.lane_id = 'm1' AND e.public_state::text = s))
           FROM unnest(ARRAY['waiting', 'delayed', 'active', 'completed', 'failed']) s),
          'lane_metrics: the counts are the table''s');
SELECT is((SELECT oldest_eligible_age_ms FROM ff.lane_metrics WHERE lane_id = 'm1'), 130000::bigint,
          'lane_metrics: the oldest eligible execution has waited since T (130 s)');
SELECT is((SELECT jsonb_build_object('claims', array[claims_1m, claims_1h], 'completions', array[completions_1m, completions_1h],
                                      'failures', array[failures_1m, failures_1h], 'retries', array[retries_1m, retries_1h],
                                      'lease_expiries', array[lease_expiries_1m, lease_expiries_1h])
           FROM ff.lane_metrics WHERE lane_id = 'm1'),
          '{"claims": [3, 5], "completions": [0, 1], "failures": [1, 2], "retries": [1, 1], "lease_expiries": [1, 1]}',
          'lane_metrics: claims, completions, failures, retries and lease expiries in the last minute and hour');
SELECT is((SELECT claims_1h FROM ff.lane_metrics WHERE lane_id = 'm1'),
          (SELECT count(*) FROM ff.lease_history h JOIN ff.execution e USING (partition, execution_id)
           WHERE e.lane_id = 'm1' AND h.event IN ('acquired', 'reclaimed')),
          'lane_metrics: claims are the lease history''s acquisitions');
SELECT t.at(1000003800000);
SELECT is((SELECT array[claims_1h, completions_1h, failures_1h] FROM ff.lane_metrics WHERE lane_id = 'm1'), ARRAY[0, 0, 0]::bigint[],
          'an hour later the windows are empty');
SELECT t.at(1000000130000);
SELECT is((SELECT oldest_eligible_age_ms FROM ff.lane_metrics WHERE lane_id = E'we"ird\\lane'), 70000::bigint,
          'lane_metrics: the other lane, eligible since T+60 s');

-- the completion dispatcher: one event per terminal transition outside a flow is processed at once
SELECT is((SELECT to_jsonb(d) FROM ff.dispatcher_status d),
          jsonb_build_object('pending', (SELECT count(*) FROM ff.completion_event WHERE processed_at IS NULL),
                             'oldest_pending_age_ms', 0, 'failing', 0, 'dispatch_failures', 0),
          'dispatcher_status: the backlog is the table''s (none outside flows)');
-- a flow member's completion waits for the dispatcher
SELECT ff.create_flow('f0000000-0000-4000-8000-000000000024', 'dag');
SELECT t.member('f0000000-0000-4000-8000-000000000024', 'up');
SELECT t.member('f0000000-0000-4000-8000-000000000024', 'down');
SELECT ff.add_dependency('f0000000-0000-4000-8000-000000000024', t.m('up'), t.m('down'));
SELECT t.claim(t.m('up'));
SELECT t.complete(t.m('up'));
SELECT t.at(1000000135000);
SELECT is((SELECT jsonb_build_object('pending', pending, 'age', oldest_pending_age_ms) FROM ff.dispatcher_status),
          '{"pending": 1, "age": 5000}', 'dispatcher_status: an undispatched event and its age');

-- ---- the exposition text ----
SELECT ff.metrics() AS body \gset
SELECT is_empty($$SELECT t.prom_problems(ff.metrics())$$, 'metrics(): the text parses, every metric has HELP and TYPE, counters end in _total');
SELECT is((SELECT value FROM t.prom(:'body') WHERE name = 'ff_executions'
           AND labels = '{"namespace": "default", "lane": "m1", "state": "waiting"}'), 2::numeric,
          'metrics(): ff_executions{namespace,lane,state}');
SELECT is((SELECT count(*)::int FROM t.prom(:'body') WHERE name = 'ff_executions' AND labels ->> 'lane' = 'm1'),
          (SELECT count(*)::int FROM unnest(enum_range(NULL::ff.public_state))), 'metrics(): every public state of a lane, zeros included');
SELECT is((SELECT jsonb_object_agg(labels ->> 'state', value) FROM t.prom(:'body') WHERE name = 'ff_executions' AND labels ->> 'lane' = 'm1'),
          (SELECT jsonb_object_agg(s::text, (SELECT count(*) FROM ff.execution e WHERE e.lane_id = 'm1' AND e.public_state = s))
           FROM unnest(enum_range(NULL::ff.public_state)) s),
          'metrics(): every state''s count is the table''s');
SELECT is((SELECT jsonb_object_agg(name || '/' || coalesce(labels ->> 'window', ''), value) FROM t.prom(:'body')
           WHERE name LIKE 'ff_lane_%' AND labels ->> 'lane' = 'm1'),
          (SELECT jsonb_build_object('ff_lane_active_leases/', active_leases, 'ff_lane_oldest_eligible_age_seconds/', oldest_eligible_age_ms / 1000,
              'ff_lane_recent_claims/1m', claims_1m, 'ff_lane_recent_claims/1h', claims_1h,
              'ff_lane_recent_completions/1m', completions_1m, 'ff_lane_recent_completions/1h', completions_1h,
              'ff_lane_recent_failures/1m', failures_1m, 'ff_lane_recent_failures/1h', failures_1h,
              'ff_lane_recent_retries/1m', retries_1m, 'ff_lane_recent_retries/1h', retries_1h,
              'ff_lane_recent_lease_expiries/1m', lease_expiries_1m, 'ff_lane_recent_lease_expiries/1h', lease_expiries_1h)
           FROM ff.lane_metrics WHERE lane_id = 'm1'),
          'metrics(): the lane figures are lane_metrics''s, ages in seconds');
SELECT is((SELECT value FROM t.prom(:'body') WHERE name = 'ff_executions'
           AND labels = jsonb_build_object('namespace', 'a', 'lane', E'we"ird\\lane', 'state', 'waiting')), 1::numeric,
          'metrics(): a label value with a quote and a backslash is escaped and reads back');
SELECT ok(strpos(:'body', E'lane="we\\"ird\\\\lane"') > 0, 'metrics(): ... as \" and \\');
-- scanners
SELECT ff.run_scanner('delayed');
SELECT t.at(1000000200000);
SELECT ff.metrics() AS body \gset
SELECT is((SELECT jsonb_object_agg(name, value) FROM t.prom(:'body') WHERE labels = '{"scanner": "delayed"}'
           AND name NOT IN ('ff_scanner_last_duration_seconds')),
          (SELECT jsonb_build_object('ff_scanner_runs_total', s.runs, 'ff_scanner_processed_total', s.total_processed,
              'ff_scanner_errors_total', s.total_errors, 'ff_scanner_last_run_timestamp_seconds', 1000000135,
              'ff_scanner_interval_seconds', 0.75, 'ff_scanner_lag_seconds', 200 - 135 - 0.75, 'ff_scanner_failing_items', 0)
           FROM ff.scanner_state s WHERE s.scanner = 'delayed'),
          'metrics(): a scanner''s runs, processed, errors, last run, interval, lag (past its next due run) and failing items');
SELECT is((SELECT count(*)::int FROM t.prom(:'body') WHERE name = 'ff_scanner_lag_seconds'), 1,
          'metrics(): no lag for a scanner that never ran');
SELECT is((SELECT count(DISTINCT labels)::int FROM t.prom(:'body') WHERE name = 'ff_scanner_runs_total'),
          (SELECT count(*)::int FROM ff.scanner_state), 'metrics(): every scanner');
SELECT is((SELECT array_agg(value ORDER BY name) FROM t.prom(:'body') WHERE name LIKE 'ff_completion_%'),
          ARRAY[1, 70, 0]::numeric[], 'metrics(): the completion backlog, its age in seconds, failing events');
SELECT t.dispatch();
SELECT is((SELECT array_agg(value ORDER BY name) FROM t.prom(ff.metrics()) WHERE name LIKE 'ff_completion_%'),
          ARRAY[0, 0, 0]::numeric[], 'metrics(): dispatched, the backlog is empty');

-- ---- tenancy ----
CREATE ROLE m_reader_a IN ROLE ff_reader;
SELECT ff.grant_namespace('m_reader_a', 'a');
CREATE ROLE m_reader_u IN ROLE ff_reader;
CREATE ROLE m_nobody;
SELECT is(t.as_role('m_reader_a', $$SELECT string_agg(DISTINCT labels ->> 'namespace', ',') FROM t.prom(ff.metrics()) WHERE labels ? 'lane'$$), 'a',
          'a reader bound to namespace a sees only its lanes in metrics()');
SELECT is(t.as_role('m_reader_a', $$SELECT string_agg(DISTINCT namespace, ',') FROM ff.lane_metrics$$), 'a',
          '... and in lane_metrics');
SELECT is(t.as_role('m_reader_a', $$SELECT count(*)::text FROM t.prom(ff.metrics()) WHERE name = 'ff_scanner_runs_total'$$),
          (SELECT count(*)::text FROM ff.scanner_state), '... and the engine-wide scanner figures');
SELECT is(t.as_role('m_reader_u', $$SELECT string_agg(DISTINCT namespace, ',' ORDER BY namespace) FROM ff.lane_metrics$$), 'a,default',
          'an unbound reader sees every lane');
SELECT ff.create_flow('f0000000-0000-4000-8000-000000000025', 'dag');
SELECT t.member('f0000000-0000-4000-8000-000000000025', 'up2');
SELECT t.member('f0000000-0000-4000-8000-000000000025', 'down2');
SELECT ff.add_dependency('f0000000-0000-4000-8000-000000000025', t.m('up2'), t.m('down2'));
SELECT t.claim(t.m('up2'));
SELECT t.complete(t.m('up2'));
SELECT is(t.as_role('m_reader_a', $$SELECT pending::text FROM ff.dispatcher_status$$), '0',
          'a bound reader does not see another namespace''s completion backlog');
SELECT is(t.as_role('m_reader_u', $$SELECT pending::text FROM ff.dispatcher_status$$), '1', 'an unbound reader does');
SELECT is(t.as_role('m_nobody', $$SELECT ff.metrics()$$), 'ERROR 42501', 'a role without ff_reader may not read metrics()');
SELECT is(t.as_role('m_nobody', $$SELECT count(*)::text FROM ff.lane_metrics$$), 'ERROR 42501', '... nor lane_metrics');

-- ---- cost: the plans read what the header says ----
SELECT ok(NOT EXISTS (SELECT 1 FROM regexp_split_to_table(
              (SELECT string_agg(x, E'\n') FROM t.explain('SELECT * FROM ff.dispatcher_status') x), E'\n') l
          WHERE l ~ 'Seq Scan on completion_event'), 'dispatcher_status reads only the pending events (an index, no sequential scan)');

SELECT t.invariants('metrics');
SELECT * FROM finish();
ROLLBACK;
