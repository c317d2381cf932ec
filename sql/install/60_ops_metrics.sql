-- ff_engine install script: metrics (issue 27).
--
-- Everything here is derived at read time from the tables the operations
-- already write; nothing is added to the hot path.  Tenancy: lanes are read
-- through ff.visible_execution and completion events by their namespace, so
-- a role bound to namespaces sees only its namespaces' figures; the
-- scanners' figures are engine-wide and hold no tenant data.
--
-- Cost (one call): ff.lane_metrics reads every row of ff.execution once (a
-- sequential scan and a hash aggregate: counts by state need every row,
-- retained terminal ones included) and the lease-history rows of the last
-- hour (sequential scans of ff.lease_log with a filter on its times: no index
-- on ts, on purpose, since one would cost every claim and completion an
-- index insert).  ff.dispatcher_status reads only unprocessed completion
-- events (completion_event_pending_idx).  Scanner figures read the 17 rows
-- of ff.scanner_state.  Scrape every 30 s or more on large tables.

-- Per lane (and namespace): executions by public state, the age of the
-- oldest eligible execution, leases held, and the lease events of the
-- last minute and hour.  The windows count lease-history events:
-- claims = 'acquired' + 'reclaimed', completions = 'released' (completed),
-- failures = 'released' (failed_retry_scheduled or failed_terminal), retries
-- = the failures that scheduled a retry, lease expiries = 'expired'.
CREATE VIEW ff.lane_metrics WITH (security_barrier) AS
WITH clock AS (SELECT ff.now_ms() AS now_),
ex AS (
    SELECT e.namespace, e.lane_id,
           count(*) FILTER (WHERE e.public_state = 'waiting') AS waiting,
           count(*) FILTER (WHERE e.public_state = 'delayed') AS delayed,
           count(*) FILTER (WHERE e.public_state = 'rate_limited') AS rate_limited,
           count(*) FILTER (WHERE e.public_state = 'waiting_children') AS waiting_children,
           count(*) FILTER (WHERE e.public_state = 'active') AS active,
           count(*) FILTER (WHERE e.public_state = 'suspended') AS suspended,
           count(*) FILTER (WHERE e.public_state = 'resumable') AS resumable,
           count(*) FILTER (WHERE e.public_state = 'completed') AS completed,
           count(*) FILTER (WHERE e.public_state = 'failed') AS failed,
           count(*) FILTER (WHERE e.public_state = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE e.public_state = 'expired') AS expired,
           count(*) FILTER (WHERE e.public_state = 'skipped') AS skipped,
           count(*) FILTER (WHERE e.ownership_state = 'leased') AS active_leases,
           min(e.last_transition_at) FILTER (WHERE e.lifecycle_phase = 'runnable'
                                              AND e.eligibility_state = 'eligible_now') AS oldest_eligible_since
    FROM ff.visible_execution e
    GROUP BY e.namespace, e.lane_id),
hist AS (
    SELECT e.namespace, e.lane_id,
           count(*) FILTER (WHERE h.event IN ('acquired', 'reclaimed') AND h.ts > c.now_ - 60000) AS claims_1m,
           count(*) FILTER (WHERE h.event IN ('acquired', 'reclaimed')) AS claims_1h,
           count(*) FILTER (WHERE h.event = 'released' AND h.reason = 'completed' AND h.ts > c.now_ - 60000) AS completions_1m,
           count(*) FILTER (WHERE h.event = 'released' AND h.reason = 'completed') AS completions_1h,
           count(*) FILTER (WHERE h.event = 'released' AND h.reason IN ('failed_retry_scheduled', 'failed_terminal')
                              AND h.ts > c.now_ - 60000) AS failures_1m,
           count(*) FILTER (WHERE h.event = 'released' AND h.reason IN ('failed_retry_scheduled', 'failed_terminal')) AS failures_1h,
           count(*) FILTER (WHERE h.event = 'released' AND h.reason = 'failed_retry_scheduled' AND h.ts > c.now_ - 60000) AS retries_1m,
           count(*) FILTER (WHERE h.event = 'released' AND h.reason = 'failed_retry_scheduled') AS retries_1h,
           count(*) FILTER (WHERE h.event = 'expired' AND h.ts > c.now_ - 60000) AS lease_expiries_1m,
           count(*) FILTER (WHERE h.event = 'expired') AS lease_expiries_1h
    FROM clock c
    JOIN ff.lease_history h ON h.ts > c.now_ - 3600000 AND h.ts <= c.now_
    JOIN ff.visible_execution e ON e.partition = h.partition AND e.execution_id = h.execution_id
    GROUP BY e.namespace, e.lane_id)
SELECT ex.namespace, ex.lane_id,
       ex.waiting, ex.delayed, ex.rate_limited, ex.waiting_children, ex.active, ex.suspended,
       ex.resumable, ex.completed, ex.failed, ex.cancelled, ex.expired, ex.skipped,
       ex.active_leases,
       CASE WHEN ex.oldest_eligible_since IS NOT NULL
            THEN greatest(c.now_ - ex.oldest_eligible_since, 0) END AS oldest_eligible_age_ms,
       coalesce(h.claims_1m, 0) AS claims_1m, coalesce(h.claims_1h, 0) AS claims_1h,
       coalesce(h.completions_1m, 0) AS completions_1m, coalesce(h.completions_1h, 0) AS completions_1h,
       coalesce(h.failures_1m, 0) AS failures_1m, coalesce(h.failures_1h, 0) AS failures_1h,
       coalesce(h.retries_1m, 0) AS retries_1m, coalesce(h.retries_1h, 0) AS retries_1h,
       coalesce(h.lease_expiries_1m, 0) AS lease_expiries_1m, coalesce(h.lease_expiries_1h, 0) AS lease_expiries_1h
FROM ex CROSS JOIN clock c
LEFT JOIN hist h ON h.namespace = ex.namespace AND h.lane_id = ex.lane_id;
COMMENT ON VIEW ff.lane_metrics IS
    'Per namespace and lane: executions by public state, oldest eligible age, leases held, and claims, completions, failures, retries and lease expiries of the last minute and hour (from ff.lease_history); reads every execution';

-- The completion dispatcher: the engine worker resolves each completion
-- event's downstream edges and marks it processed.  Its health is the
-- backlog of unprocessed events, their age, and the ones that keep
-- failing.  (The dispatcher keeps no run record of its own; a stalled
-- dispatcher shows as a growing oldest_pending_age_ms.)
CREATE VIEW ff.dispatcher_status WITH (security_barrier) AS
SELECT count(*) AS pending,
       coalesce(greatest(ff.now_ms() - min(ce.created_at), 0), 0) AS oldest_pending_age_ms,
       count(f.item_id) AS failing,
       coalesce(sum(f.failures), 0) AS dispatch_failures
FROM ff.completion_event ce
LEFT JOIN ff.scanner_item_failure f ON f.scanner = 'completion_dispatch' AND f.partition = ce.partition
                                   AND f.item_id = ce.execution_id
WHERE ce.processed_at IS NULL
  AND ((SELECT ff._namespaces()) IS NULL OR ce.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[])));
COMMENT ON VIEW ff.dispatcher_status IS
    'The completion dispatcher''s backlog: unprocessed completion events, the oldest one''s age, and those whose dispatch failed (yet to succeed)';

CREATE FUNCTION ff.metrics() RETURNS text LANGUAGE sql STABLE AS $$
WITH clock AS (SELECT ff.now_ms() AS now_),
lanes AS (SELECT * FROM ff.lane_metrics),
disp AS (SELECT * FROM ff.dispatcher_status),
-- the metric families in output order: name, type, help
family(ord, name, type, help) AS (VALUES
    (1, 'ff_executions', 'gauge', 'Executions by namespace, lane and public state (retained terminal ones included).'),
    (2, 'ff_lane_active_leases', 'gauge', 'Leases held now on the lane.'),
    (3, 'ff_lane_oldest_eligible_age_seconds', 'gauge', 'How long the lane''s oldest eligible execution has been eligible (0 when none is).'),
    (4, 'ff_lane_recent_claims', 'gauge', 'Claims (fresh, resumed and reclaims) in the last minute or hour.'),
    (5, 'ff_lane_recent_completions', 'gauge', 'Completions by a lease holder in the last minute or hour.'),
    (6, 'ff_lane_recent_failures', 'gauge', 'Failed attempts (retried or terminal) in the last minute or hour.'),
    (7, 'ff_lane_recent_retries', 'gauge', 'Failed attempts that scheduled a retry in the last minute or hour.'),
    (8, 'ff_lane_recent_lease_expiries', 'gauge', 'Leases marked expired in the last minute or hour.'),
    (9, 'ff_scanner_runs_total', 'counter', 'Batches the scanner has run.'),
    (10, 'ff_scanner_processed_total', 'counter', 'Items the scanner has processed.'),
    (11, 'ff_scanner_errors_total', 'counter', 'Items the scanner failed on.'),
    (12, 'ff_scanner_last_run_timestamp_seconds', 'gauge', 'When the scanner last ran (Unix time; absent before its first run).'),
    (13, 'ff_scanner_last_duration_seconds', 'gauge', 'How long the scanner''s last batch took.'),
    (14, 'ff_scanner_interval_seconds', 'gauge', 'The scanner''s configured interval.'),
    (15, 'ff_scanner_lag_seconds', 'gauge', 'How far past its next due run the scanner is (0 when on time; absent before its first run).'),
    (16, 'ff_scanner_failing_items', 'gauge', 'Items the scanner is failing on (skipped after three failures).'),
    (17, 'ff_completion_backlog', 'gauge', 'Completion events not yet dispatched.'),
    (18, 'ff_completion_backlog_oldest_age_seconds', 'gauge', 'Age of the oldest completion event not yet dispatched (0 when none is).'),
    (19, 'ff_completion_dispatch_failing', 'gauge', 'Completion events whose dispatch has failed and not yet succeeded.')),
states(state, ord) AS (
    SELECT s::text, row_number() OVER () FROM unnest(enum_range(NULL::ff.public_state)) s),
sample(name, labels, value, ord) AS (
    SELECT 'ff_executions', jsonb_build_array('namespace', l.namespace, 'lane', l.lane_id, 'state', s.state),
           (to_jsonb(l) ->> s.state)::numeric, s.ord
    FROM lanes l CROSS JOIN states s
    UNION ALL
    SELECT 'ff_lane_active_leases', jsonb_build_array('namespace', l.namespace, 'lane', l.lane_id), l.active_leases, 0 FROM lanes l
    UNION ALL
    SELECT 'ff_lane_oldest_eligible_age_seconds', jsonb_build_array('namespace', l.namespace, 'lane', l.lane_id),
           coalesce(l.oldest_eligible_age_ms, 0) / 1000.0, 0 FROM lanes l
    UNION ALL
    SELECT 'ff_lane_recent_' || k.what, jsonb_build_array('namespace', l.namespace, 'lane', l.lane_id, 'window', w.w),
           (to_jsonb(l) ->> (k.what || '_' || w.w))::numeric, w.ord
    FROM lanes l
    CROSS JOIN (VALUES ('claims'), ('completions'), ('failures'), ('retries'), ('lease_expiries')) k(what)
    CROSS JOIN (VALUES ('1m', 1), ('1h', 2)) w(w, ord)
    UNION ALL
    SELECT m.name, jsonb_build_array('scanner', s.scanner), m.value, 0
    FROM ff.scanner_state s CROSS JOIN clock c
    CROSS JOIN LATERAL (VALUES
        ('ff_scanner_runs_total', s.runs::numeric),
        ('ff_scanner_processed_total', s.total_processed::numeric),
        ('ff_scanner_errors_total', s.total_errors::numeric),
        ('ff_scanner_last_run_timestamp_seconds', s.last_started_at / 1000.0),
        ('ff_scanner_last_duration_seconds', round((s.last_duration_ms / 1000.0)::numeric, 6)),
        ('ff_scanner_interval_seconds', ff.scanner_interval_ms(s.scanner) / 1000.0),
        ('ff_scanner_lag_seconds', CASE WHEN s.next_run_at IS NOT NULL THEN greatest(c.now_ - s.next_run_at, 0) / 1000.0 END),
        ('ff_scanner_failing_items', (SELECT count(*) FROM ff.scanner_item_failure f WHERE f.scanner = s.scanner)::numeric)
    ) m(name, value)
    WHERE m.value IS NOT NULL
    UNION ALL
    SELECT 'ff_completion_backlog', '[]'::jsonb, d.pending, 0 FROM disp d
    UNION ALL
    SELECT 'ff_completion_backlog_oldest_age_seconds', '[]'::jsonb, coalesce(d.oldest_pending_age_ms, 0) / 1000.0, 0 FROM disp d
    UNION ALL
    SELECT 'ff_completion_dispatch_failing', '[]'::jsonb, d.failing, 0 FROM disp d),
-- one exposition line per sample: label values escaped (backslash, double
-- quote, newline) as the text format requires
line(name, labels, ord, text) AS (
    SELECT s.name, s.labels, s.ord,
           s.name || coalesce('{' || (SELECT string_agg(s.labels ->> i || '="'
                   || replace(replace(replace(s.labels ->> (i + 1), E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')
                   || '"', ',' ORDER BY i)
               FROM generate_series(0, jsonb_array_length(s.labels) - 1, 2) i) || '}', '')
           || ' ' || trim_scale(s.value)::text
    FROM sample s)
SELECT string_agg(block, '' ORDER BY f.ord)
FROM family f
CROSS JOIN LATERAL (
    SELECT '# HELP ' || f.name || ' ' || f.help || E'\n' || '# TYPE ' || f.name || ' ' || f.type || E'\n'
           || coalesce(string_agg(l.text || E'\n', '' ORDER BY l.labels ->> 1, l.labels ->> 3, l.ord, l.labels::text), '') AS block
    FROM line l WHERE l.name = f.name) b
$$;
COMMENT ON FUNCTION ff.metrics() IS
    'Every figure of ff.lane_metrics, ff.dispatcher_status and the scanners in the Prometheus text exposition format (for postgres_exporter or any scraper); a role bound to namespaces sees only its lanes';

-- What the engine runs, for tests and diagnosis (admin only, as every
-- function not granted to a role): the statements kept in this backend.
CREATE FUNCTION ff._engine_statements()
RETURNS TABLE (statement text, argument_types regtype[], generic boolean, key_lookups boolean)
AS 'MODULE_PATHNAME', 'ff_engine_statements' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._engine_statements() IS
    'The SQL statements the engine has prepared and kept in this backend so far (each on first use), with their argument types and planning mode (generic: planned once for all arguments; key_lookups: planned as index lookups), for EXPLAIN by tests and operators';
