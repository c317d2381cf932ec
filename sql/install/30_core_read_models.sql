-- ff_engine install script: read models (behaviour/execution §3.31) and the consistency check.
-- These only read; they are plain SQL over the tables.

-- ff.execution's columns in ff.visible_execution's order (0.1.0's, not the
-- table's), after the text id (but the held_* columns, storage of
-- ff.attempt and ff.lease_history).  The lease id
-- is the secret part of a fence: a worker learns it from its own claim, so
-- the view shows it to administrators only (NULL to everyone else).
-- The stored failure_reason is the newest failure any attempt recorded and
-- stays after a successful retry (as in FlowFabric); it is presented as
-- failure_reason only when the execution's outcome is a failure (failed or
-- expired), and always as last_failure_reason (the last column).
DO $view$
BEGIN
    EXECUTE format('CREATE VIEW ff.executions WITH (security_barrier) AS '
                   'SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, %s, '
                   'e.failure_reason AS last_failure_reason '
                   'FROM ff.visible_execution e',
                   (SELECT string_agg(CASE a.attname
                                      WHEN 'current_lease_id'
                                      THEN 'CASE WHEN (SELECT ff._is_admin()) THEN e.current_lease_id END AS current_lease_id'
                                      WHEN 'failure_reason'
                                      THEN 'CASE WHEN e.terminal_outcome IN (''failed'', ''expired'') THEN e.failure_reason END AS failure_reason'
                                      ELSE format('e.%I', a.attname) END, ', ' ORDER BY a.attnum)
                    FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = 'ff.visible_execution'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attname !~ '^held_'));
END $view$;
COMMENT ON VIEW ff.executions IS
    'Every execution with its text id {fp:N}:<uuid> and all core columns (current_lease_id to administrators only; failure_reason only when the outcome is failed or expired, last_failure_reason always)';

-- The public state behaviour/execution §2.2 derives from a vector (an independent oracle of
-- the C derivation, used by the consistency check).
CREATE FUNCTION ff.derive_public_state(phase ff.lifecycle_phase,
    eligibility ff.eligibility_state, outcome ff.terminal_outcome)
    RETURNS ff.public_state LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN phase = 'terminal' THEN CASE outcome
            WHEN 'success' THEN 'completed' WHEN 'cancelled' THEN 'cancelled'
            WHEN 'expired' THEN 'expired' WHEN 'skipped' THEN 'skipped'
            ELSE 'failed' END
        WHEN phase = 'suspended' THEN 'suspended'
        WHEN phase = 'active' THEN 'active'
        WHEN phase = 'runnable' THEN CASE eligibility
            WHEN 'not_eligible_until_time' THEN 'delayed'
            WHEN 'blocked_by_dependencies' THEN 'waiting_children'
            WHEN 'blocked_by_budget' THEN 'rate_limited'
            WHEN 'blocked_by_quota' THEN 'rate_limited'
            ELSE 'waiting' END
        ELSE 'waiting' END::ff.public_state
$$;
COMMENT ON FUNCTION ff.derive_public_state(ff.lifecycle_phase, ff.eligibility_state, ff.terminal_outcome) IS
    'The public state behaviour/execution §2.2 derives from a state vector';

-- Attempts (behaviour/execution §2.5), one row per attempt: ff.attempt_record's, and the
-- first attempt an execution row holds (held_attempt_seq: running, or ended
-- by its completion).  Administrators only.
CREATE VIEW ff.attempt AS
SELECT a.partition, a.execution_id, a.attempt_index, a.attempt_id, a.attempt_type, a.attempt_state,
       a.created_at, a.started_at, a.ended_at, a.lease_id, a.lease_epoch, a.worker_id, a.worker_instance_id,
       a.failure_reason, a.failure_category, a.suspended_at, a.suspension_id, a.resumed_at, a.retry_reason,
       a.previous_attempt_index, a.replay_reason, a.replay_requested_by, a.replayed_from_attempt_index,
       a.reclaim_reason, a.last_usage_report_seq, a.policy
FROM ff.attempt_record a
UNION ALL
SELECT e.partition, e.execution_id, 0, e.current_attempt_id, 'initial'::ff.attempt_type,
       CASE WHEN e.held_lease_id IS NOT NULL THEN 'ended_success' ELSE 'started' END::ff.attempt_record_state,
       e.lease_acquired_at, e.lease_acquired_at, CASE WHEN e.held_lease_id IS NOT NULL THEN e.completed_at END,
       coalesce(e.current_lease_id, e.held_lease_id), e.current_lease_epoch,
       coalesce(e.current_worker_id, e.held_worker_id), coalesce(e.current_worker_instance_id, e.held_worker_instance_id),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0::bigint, NULL::jsonb
FROM ff.execution e WHERE e.held_attempt_seq IS NOT NULL;
COMMENT ON VIEW ff.attempt IS
    'Attempts, one row per attempt index (behaviour/execution §2.5): ff.attempt_record''s rows and the first attempt an execution row holds';


-- Every execution whose state vector breaks an invariant of behaviour/execution §2.3, or
-- whose timer columns disagree with its state (stands in for the
-- reference's index reconciler, behaviour/execution §6.5).  Empty when all is well.
CREATE VIEW ff.consistency_violations WITH (security_barrier) AS
SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, v.problem
FROM ff.visible_execution e
CROSS JOIN LATERAL (VALUES
    (CASE WHEN (e.terminal_outcome <> 'none') <> (e.lifecycle_phase = 'terminal')
          THEN 'I1: terminal_outcome set iff phase terminal' END),
    (CASE WHEN e.ownership_state = 'leased' AND (e.lifecycle_phase <> 'active'
              OR e.current_lease_id IS NULL OR e.current_attempt_id IS NULL
              OR e.lease_expires_at IS NULL OR e.attempt_state <> 'running_attempt')
          THEN 'I2: leased implies active with a complete lease' END),
    (CASE WHEN e.attempt_state = 'running_attempt' AND e.ownership_state <> 'leased'
          THEN 'I3: running attempt without a lease' END),
    (CASE WHEN e.current_lease_epoch < 0 OR e.total_attempt_count < 0
              OR (e.current_attempt_index IS NOT NULL AND e.current_attempt_index >= e.total_attempt_count)
          THEN 'I4/I5: counters out of range' END),
    (CASE WHEN (SELECT count(*) FROM ff.attempt a WHERE a.partition = e.partition
                 AND a.execution_id = e.execution_id) <> e.total_attempt_count
              OR EXISTS (SELECT 1 FROM ff.attempt a WHERE a.partition = e.partition
                 AND a.execution_id = e.execution_id
                 AND (a.attempt_index < 0 OR a.attempt_index >= e.total_attempt_count))
          THEN 'I5: attempt indexes not dense' END),
    (CASE WHEN e.public_state <> ff.derive_public_state(e.lifecycle_phase, e.eligibility_state, e.terminal_outcome)
          THEN 'public_state differs from its derivation' END),
    (CASE WHEN e.lifecycle_phase = 'runnable' AND e.ownership_state <> 'unowned'
          THEN 'runnable but owned' END),
    (CASE WHEN e.lifecycle_phase = 'runnable' AND e.eligibility_state = 'not_eligible_until_time'
              AND e.delay_until IS NULL
          THEN 'delayed without delay_until' END),
    (CASE WHEN e.lifecycle_phase = 'terminal' AND (e.completed_at IS NULL OR e.purge_after IS NULL
              OR e.attempt_timeout_at IS NOT NULL OR e.execution_deadline_at IS NOT NULL
              OR e.current_lease_id IS NOT NULL)
          THEN 'terminal with live timers or lease' END),
    (CASE WHEN e.lifecycle_phase = 'active' AND e.eligibility_state = 'eligible_now'
          THEN 'active but eligible' END),
    (CASE WHEN e.held_attempt_seq IS NOT NULL AND NOT (e.current_attempt_index = 0 AND e.total_attempt_count = 1
              AND CASE WHEN e.held_lease_id IS NULL THEN e.ownership_state = 'leased'
                       ELSE e.terminal_outcome = 'success' END)
          THEN 'a held first attempt on an execution that is neither leased in it nor completed by it' END),
    -- behaviour/suspension §10 items 69-71
    (CASE WHEN (e.lifecycle_phase = 'suspended') <> EXISTS (SELECT 1 FROM ff.suspension s
                 WHERE s.partition = e.partition AND s.execution_id = e.execution_id AND s.closed_at IS NULL
                   AND s.suspension_id = e.current_suspension_id AND s.primary_waitpoint_id = e.current_waitpoint_id)
          THEN 'S1: suspended iff an open suspension matching the pointers' END),
    (CASE WHEN EXISTS (SELECT 1 FROM ff.waitpoint w WHERE w.partition = e.partition AND w.execution_id = e.execution_id
                 AND (w.state = 'active' OR w.cond_closed = false)
                 AND (e.lifecycle_phase <> 'suspended' OR w.state <> 'active'
                      OR w.suspension_id IS DISTINCT FROM e.current_suspension_id))
          THEN 'S2: an active waitpoint or open condition outside the open suspension' END),
    (CASE WHEN e.lifecycle_phase <> 'suspended' AND EXISTS (SELECT 1 FROM ff.suspension s
                 WHERE s.partition = e.partition AND s.execution_id = e.execution_id AND s.closed_at IS NULL)
          THEN 'S3: an open suspension on an execution that is not suspended' END)
) AS v(problem)
WHERE v.problem IS NOT NULL;
COMMENT ON VIEW ff.consistency_violations IS
    'Executions whose state vector breaks an invariant of behaviour/execution §2.3; empty when consistent';

-- Resolve a text id to its row key, raising 22P02 when malformed.
CREATE FUNCTION ff.read_execution_state(execution_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK', 'public_state', e.public_state)
         FROM ff.visible_execution e, ff.parse_execution_id($1) p
         WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid),
        '{"ok": false, "error": "execution_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.read_execution_state(text) IS 'The public state of one execution';

CREATE FUNCTION ff.read_execution_info(execution_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK',
            'execution_id', $1, 'namespace', e.namespace, 'lane_id', e.lane_id,
            'priority', e.priority, 'execution_kind', e.execution_kind,
            'lifecycle_phase', e.lifecycle_phase, 'ownership_state', e.ownership_state,
            'eligibility_state', e.eligibility_state, 'blocking_reason', e.blocking_reason,
            'blocking_detail', e.blocking_detail, 'terminal_outcome', e.terminal_outcome,
            'attempt_state', e.attempt_state, 'public_state', e.public_state,
            'created_at', e.created_at, 'started_at', e.started_at,
            'completed_at', e.completed_at, 'current_attempt_index', e.current_attempt_index,
            'flow_id', e.flow_id, 'retry_count', e.retry_count, 'replay_count', e.replay_count,
            'failure_reason', CASE WHEN e.terminal_outcome IN ('failed', 'expired') THEN e.failure_reason END,
            'last_failure_reason', e.failure_reason, 'delay_until', e.delay_until)
         FROM ff.visible_execution e, ff.parse_execution_id($1) p
         WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid),
        '{"ok": false, "error": "execution_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.read_execution_info(text) IS
    'Namespace, lane, priority, kind, the full state vector and timestamps of one execution (failure_reason only when it failed or expired; last_failure_reason, the newest failure of any attempt, always)';

CREATE FUNCTION ff.describe_execution(execution_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK',
            'execution_id', $1, 'flow_id', e.flow_id, 'lane_id', e.lane_id,
            'namespace', e.namespace, 'public_state', e.public_state,
            'blocking_reason', NULLIF(e.blocking_reason::text, 'none'),
            'blocking_detail', NULLIF(e.blocking_detail, ''),
            'current_attempt', CASE WHEN e.current_attempt_id IS NOT NULL THEN
                jsonb_build_object('attempt_id', e.current_attempt_id,
                                   'attempt_index', e.current_attempt_index) END,
            'current_lease', CASE WHEN e.current_worker_instance_id IS NOT NULL
                                   AND e.lease_expires_at IS NOT NULL THEN
                jsonb_build_object('lease_id', CASE WHEN ff._is_admin() THEN e.current_lease_id END,
                    'lease_epoch', e.current_lease_epoch, 'worker_id', e.current_worker_id,
                    'worker_instance_id', e.current_worker_instance_id,
                    'expires_at', e.lease_expires_at, 'ownership_state', e.ownership_state) END,
            'current_waitpoint_id', e.current_waitpoint_id,
            'created_at', e.created_at, 'last_mutation_at', e.last_mutation_at,
            'total_attempt_count', e.total_attempt_count,
            'progress_pct', e.progress_pct, 'progress_message', e.progress_message,
            'failure_reason', CASE WHEN e.terminal_outcome IN ('failed', 'expired') THEN e.failure_reason END,
            'last_failure_reason', e.failure_reason,
            'tags', COALESCE(d.tags, '{}'::jsonb))
         FROM ff.visible_execution e
         CROSS JOIN ff.parse_execution_id($1) p
         LEFT JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id
         WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid),
        '{"ok": false, "error": "execution_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.describe_execution(text) IS
    'Snapshot of one execution: state, current attempt and lease (when held; its lease_id to administrators only), failure_reason (only when it failed or expired) and last_failure_reason, tags';

CREATE FUNCTION ff.get_execution_result(execution_id text) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT d.result FROM ff.visible_execution e
    CROSS JOIN ff.parse_execution_id($1) p
    JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id
    WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid
$$;
COMMENT ON FUNCTION ff.get_execution_result(text) IS
    'The stored result bytes (last complete wins), or NULL';

CREATE FUNCTION ff.read_execution_context(execution_id text,
    OUT input_payload bytea, OUT execution_kind text, OUT tags jsonb)
LANGUAGE sql STABLE AS $$
    SELECT d.payload, e.execution_kind, d.tags
    FROM ff.visible_execution e
    CROSS JOIN ff.parse_execution_id($1) p
    JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id
    WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid
$$;
COMMENT ON FUNCTION ff.read_execution_context(text) IS
    'What a worker needs to run an execution: payload, kind, tags';

CREATE FUNCTION ff.get_execution_tag(execution_id text, key text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT d.tags ->> $2 FROM ff.visible_execution e
    CROSS JOIN ff.parse_execution_id($1) p
    JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id
    WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid
$$;
COMMENT ON FUNCTION ff.get_execution_tag(text, text) IS 'One tag value, or NULL';

CREATE FUNCTION ff.list_executions(partition smallint, cursor text DEFAULT NULL,
    page_limit integer DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    after uuid;
    ids text[];
    more boolean;
BEGIN
    IF partition IS NULL OR partition < 0 THEN
        RAISE EXCEPTION 'partition must be a non-negative number' USING ERRCODE = '22023';
    END IF;
    IF page_limit IS NULL OR page_limit < 1 OR page_limit > 1000 THEN
        RAISE EXCEPTION 'page_limit must be between 1 and 1000, got %', page_limit
            USING ERRCODE = '22023';
    END IF;
    IF cursor IS NOT NULL THEN
        after := (ff.parse_execution_id(cursor)).execution_uuid;
    END IF;
    SELECT array_agg(ff.format_execution_id(x.partition, x.execution_id) ORDER BY x.execution_id)
      INTO ids
      FROM (SELECT e.partition, e.execution_id FROM ff.visible_execution e
            WHERE e.partition = list_executions.partition
              AND (after IS NULL OR e.execution_id > after)
            ORDER BY e.execution_id LIMIT page_limit + 1) x;
    more := coalesce(array_length(ids, 1), 0) > page_limit;
    IF more THEN
        ids := ids[1:page_limit];
    END IF;
    RETURN jsonb_build_object('ok', true, 'status', 'OK',
        'executions', to_jsonb(coalesce(ids, '{}'::text[])),
        'next_cursor', CASE WHEN more THEN ids[page_limit] END);
END
$$;
COMMENT ON FUNCTION ff.list_executions(smallint, text, integer) IS
    'Execution ids of one partition in ascending order, page by page (at most 1000)';

-- The lease history one row per event, as it reads in behaviour/execution §4.6: each lease
-- row of ff.lease_log unfolds into its acquisition, its expiry mark and its
-- end, and a lease an execution row holds (held_attempt_seq) into its
-- acquisition and, once completed, its release.  Administrators only (lease
-- ids are the secret half of a fence).
CREATE VIEW ff.lease_history AS
SELECT l.partition, l.execution_id, l.seq, l.event, l.lease_id, l.lease_epoch, l.attempt_index,
       l.attempt_id, l.worker_id, l.worker_instance_id, l.reason, l.detail, l.ts
FROM ff.lease_log l
UNION ALL
SELECT l.partition, l.execution_id, l.expired_seq, 'expired', l.lease_id, l.lease_epoch, l.attempt_index,
       l.attempt_id, l.worker_id, l.worker_instance_id, NULL, NULL, l.expired_at
FROM ff.lease_log l WHERE l.expired_seq IS NOT NULL
UNION ALL
SELECT l.partition, l.execution_id, l.end_seq, l.end_event, l.lease_id, l.lease_epoch, l.attempt_index,
       l.attempt_id, l.worker_id, l.worker_instance_id, l.end_reason, NULL, l.ended_at
FROM ff.lease_log l WHERE l.end_seq IS NOT NULL
UNION ALL
SELECT e.partition, e.execution_id, e.held_attempt_seq, 'acquired', coalesce(e.current_lease_id, e.held_lease_id),
       e.current_lease_epoch, 0, e.current_attempt_id, coalesce(e.current_worker_id, e.held_worker_id),
       coalesce(e.current_worker_instance_id, e.held_worker_instance_id), NULL, NULL, e.lease_acquired_at
FROM ff.execution e WHERE e.held_attempt_seq IS NOT NULL
UNION ALL
SELECT e.partition, e.execution_id, e.held_attempt_seq + 1, 'released', e.held_lease_id, e.current_lease_epoch, 0,
       e.current_attempt_id, e.held_worker_id, e.held_worker_instance_id, 'completed', NULL, e.completed_at
FROM ff.execution e WHERE e.held_attempt_seq IS NOT NULL AND e.held_lease_id IS NOT NULL;
COMMENT ON VIEW ff.lease_history IS
    'Lease events (acquired, reclaimed, expired, released, revoked, replay_initiated), one row per event, newest ~1000 per execution; from ff.lease_log, which keeps one row per lease';

