-- ff_engine install script: read functions for the dashboard (issue 27).
--
-- ff_reader reaches no table, only functions and views.  The dashboard
-- (clients/node/bin/ff-dashboard.js) also shows an execution's attempts,
-- its lease history, the newest frames of a stream, and a per-minute
-- throughput series per lane: these four functions read them.  They read
-- through ff.visible_execution, so a role bound to namespaces sees only its
-- own (another tenant's execution reads as no rows / stream_not_found),
-- and none returns a lease id: a worker learns a fence only from its own
-- claim.  Granted to ff_reader in 95_ops_metrics_grants.sql.

CREATE FUNCTION ff.list_attempts(execution_id text, "limit" integer DEFAULT 100)
RETURNS TABLE (attempt_index integer, attempt_id uuid, attempt_type ff.attempt_type,
               attempt_state ff.attempt_record_state, created_at bigint, started_at bigint, ended_at bigint,
               lease_epoch bigint, worker_id text, worker_instance_id text, failure_reason text,
               failure_category text, retry_reason text, reclaim_reason text, replay_reason text,
               suspended_at bigint, resumed_at bigint)
LANGUAGE sql STABLE AS $$
    SELECT a.attempt_index, a.attempt_id, a.attempt_type, a.attempt_state, a.created_at, a.started_at,
           a.ended_at, a.lease_epoch, a.worker_id, a.worker_instance_id, a.failure_reason,
           a.failure_category, a.retry_reason, a.reclaim_reason, a.replay_reason, a.suspended_at, a.resumed_at
    FROM ff.parse_execution_id($1) p
    JOIN ff.visible_execution e ON e.partition = p.partition AND e.execution_id = p.execution_uuid
    JOIN ff.attempt a ON a.partition = e.partition AND a.execution_id = e.execution_id
    ORDER BY a.attempt_index DESC
    LIMIT least(greatest(coalesce($2, 100), 1), 1000)
$$;
COMMENT ON FUNCTION ff.list_attempts(text, integer) IS
    'The attempts of one execution, newest first (at most 1000; never the lease id): type, state, times, worker, failure and retry reasons';

CREATE FUNCTION ff.read_lease_history(execution_id text, "limit" integer DEFAULT 100)
RETURNS TABLE (seq bigint, event text, lease_epoch bigint, attempt_index integer, worker_id text,
               worker_instance_id text, reason text, ts bigint)
LANGUAGE sql STABLE AS $$
    SELECT h.seq, h.event, h.lease_epoch, h.attempt_index, h.worker_id, h.worker_instance_id, h.reason, h.ts
    FROM ff.parse_execution_id($1) p
    JOIN ff.visible_execution e ON e.partition = p.partition AND e.execution_id = p.execution_uuid
    JOIN ff.lease_history h ON h.partition = e.partition AND h.execution_id = e.execution_id
    ORDER BY h.seq DESC
    LIMIT least(greatest(coalesce($2, 100), 1), 1000)
$$;
COMMENT ON FUNCTION ff.read_lease_history(text, integer) IS
    'The lease events of one execution, newest first (at most 1000; never the lease id): acquired, renewed, released, expired, revoked, reclaimed ... with epoch, attempt, worker, reason and time';

-- The newest frames of a stream, oldest first (read_attempt_stream reads
-- forward from an id; a page wants the end).  Same entry shape and the
-- same expiry rule as ff.read_attempt_stream.
CREATE FUNCTION ff.read_stream_last(execution_id text, attempt_index integer, count_limit integer DEFAULT 50)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    p record;
    m ff.stream_meta;
    entries jsonb;
BEGIN
    IF count_limit IS NULL OR count_limit < 1 OR count_limit > 1000 THEN
        RAISE EXCEPTION 'count_limit must be between 1 and 1000, got %', count_limit USING ERRCODE = '22023';
    END IF;
    SELECT * INTO p FROM ff.parse_execution_id(execution_id);
    SELECT s.* INTO m FROM ff.stream_meta s
    WHERE s.partition = p.partition AND s.execution_id = p.execution_uuid AND s.attempt_index = read_stream_last.attempt_index
      AND EXISTS (SELECT 1 FROM ff.visible_execution v WHERE v.partition = p.partition AND v.execution_id = p.execution_uuid);
    IF NOT FOUND THEN
        RETURN '{"ok": false, "error": "stream_not_found"}'::jsonb;
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'id', f.ts || '-' || f.seq, 'frame_type', f.frame_type, 'ts', f.frame_ts,
               'payload', CASE WHEN f.encoding = 'utf8' THEN convert_from(f.payload, 'UTF8')
                               ELSE encode(f.payload, 'base64') END,
               'encoding', f.encoding, 'source', f.source, 'mode', f.mode,
               'correlation_id', f.correlation_id)) ORDER BY f.ts, f.seq), '[]'::jsonb)
      INTO entries
      FROM (SELECT * FROM ff.stream_frame f0
            WHERE f0.partition = p.partition AND f0.execution_id = p.execution_uuid
              AND f0.attempt_index = read_stream_last.attempt_index
              AND NOT (m.frames_expire_at IS NOT NULL AND m.frames_expire_at <= ff.now_ms())
            ORDER BY f0.ts DESC, f0.seq DESC LIMIT count_limit) f;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'entries', entries,
        'frame_count', m.frame_count, 'retained_count', m.retained_count,
        'closed_at', m.closed_at, 'closed_reason', m.closed_reason);
END $$;
COMMENT ON FUNCTION ff.read_stream_last(text, integer, integer) IS
    'The newest frames of an attempt stream (at most 1000), oldest first, with frame counts and close markers: OK {entries, frame_count, retained_count, closed_at, closed_reason}; stream_not_found';

-- Per lane and minute of the last `minutes` (1..60): claims, completions
-- and failures, counted from ff.lease_history as ff.lane_metrics counts
-- them.  minutes_ago 0 is the minute ending now; minutes without an event
-- have no row.  Cost: the lease-history rows of the window (no index on ts).
CREATE FUNCTION ff.lane_throughput(minutes integer DEFAULT 30)
RETURNS TABLE (namespace text, lane_id text, minutes_ago integer, claims bigint, completions bigint, failures bigint)
LANGUAGE sql STABLE AS $$
    WITH clock AS (SELECT ff.now_ms() AS now_, least(greatest(coalesce($1, 30), 1), 60) AS n)
    SELECT e.namespace, e.lane_id, ((c.now_ - h.ts) / 60000)::integer,
           count(*) FILTER (WHERE h.event IN ('acquired', 'reclaimed')),
           count(*) FILTER (WHERE h.event = 'released' AND h.reason = 'completed'),
           count(*) FILTER (WHERE h.event = 'released' AND h.reason IN ('failed_retry_scheduled', 'failed_terminal'))
    FROM clock c
    JOIN ff.lease_history h ON h.ts > c.now_ - c.n * 60000 AND h.ts <= c.now_
    JOIN ff.visible_execution e ON e.partition = h.partition AND e.execution_id = h.execution_id
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION ff.lane_throughput(integer) IS
    'Claims, completions and failures per namespace, lane and minute of the last 1..60 minutes (minutes_ago 0 = the minute ending now; empty minutes have no row), from ff.lease_history';
