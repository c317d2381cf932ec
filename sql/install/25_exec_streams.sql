-- ff_engine install script: attempt output streams (behaviour/execution §3.24-§3.27).

CREATE FUNCTION ff.append_frame(
    execution_id text,
    attempt_index integer,
    lease_id uuid,
    lease_epoch bigint,
    frame_type text,
    payload bytea,
    ts bigint DEFAULT NULL,
    encoding text DEFAULT 'utf8',
    correlation_id text DEFAULT NULL,
    source text DEFAULT 'worker',
    retention_maxlen integer DEFAULT 0,
    attempt_id uuid DEFAULT NULL,
    max_payload_bytes integer DEFAULT NULL,
    stream_mode text DEFAULT 'durable',
    patch_kind text DEFAULT NULL,
    ttl_ms bigint DEFAULT 0,
    maxlen_floor integer DEFAULT 0,
    maxlen_ceiling integer DEFAULT 0,
    ema_alpha double precision DEFAULT 0)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_append_frame' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.append_frame(text, integer, uuid, bigint, text, bytea, bigint, text, text, text, integer, uuid, integer, text, text, bigint, integer, integer, double precision) IS
    'Appends a frame to the running attempt''s stream: OK {entry_id, frame_count, summary_version} (behaviour/execution §3.24)';

CREATE FUNCTION ff.read_attempt_stream(
    execution_id text,
    attempt_index integer,
    from_id text DEFAULT 'start',
    to_id text DEFAULT 'end',
    count_limit integer DEFAULT 100,
    visibility text DEFAULT 'all')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_read_attempt_stream' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff.read_attempt_stream(text, integer, text, text, integer, text) IS
    'Entries of an attempt stream between two ids, inclusive: OK {entries, closed_at, closed_reason} (behaviour/execution §3.25)';

CREATE FUNCTION ff.tail_attempt_stream(
    execution_id text,
    attempt_index integer,
    after text DEFAULT '0-0',
    block_ms integer DEFAULT 0,
    count_limit integer DEFAULT 100,
    visibility text DEFAULT 'all')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_tail_attempt_stream' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.tail_attempt_stream(text, integer, text, integer, integer, text) IS
    'Entries after a cursor, waiting up to block_ms (<= 30000) for the next append (behaviour/execution §3.26)';

CREATE FUNCTION ff.read_summary(execution_id text, attempt_index integer)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_read_summary' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff.read_summary(text, integer) IS
    'The summary document of a summary-mode stream: OK {document, version, patch_kind, last_updated_ms, first_applied_ms} (behaviour/execution §3.27)';

CREATE FUNCTION ff.read_stream_meta(execution_id text, attempt_index integer) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK',
            'stream_id', $1 || ':' || $2, 'attempt_id', m.attempt_id, 'created_at', m.created_at,
            'frame_count', m.frame_count, 'retained_count', m.retained_count, 'total_bytes', m.total_bytes,
            'last_sequence', CASE WHEN m.last_seq >= 0 THEN m.last_ts || '-' || m.last_seq END,
            'last_frame_at', m.last_frame_at, 'has_durable_frame', m.has_durable_frame,
            'retention_maxlen', m.retention_maxlen, 'ema_rate_hz', m.ema_rate_hz,
            'maxlen_applied_last', m.maxlen_applied_last, 'frames_expire_at', m.frames_expire_at,
            'closed_at', m.closed_at, 'closed_reason', m.closed_reason)
         FROM ff.stream_meta m, ff.parse_execution_id($1) p
         WHERE m.partition = p.partition AND m.execution_id = p.execution_uuid AND m.attempt_index = $2
           AND EXISTS (SELECT 1 FROM ff.visible_execution v WHERE v.partition = p.partition AND v.execution_id = p.execution_uuid)),
        '{"ok": false, "error": "stream_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.read_stream_meta(text, integer) IS
    'Stream meta: frame count, bytes, last sequence, close markers, best-effort state';
