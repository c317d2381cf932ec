-- ff_engine install script: types.
-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION ff_engine" to load this file. \quit

-- The seven dimensions of an execution's state vector (behaviour/execution §2.1).
CREATE TYPE ff.lifecycle_phase AS ENUM
    ('submitted', 'runnable', 'active', 'suspended', 'terminal');

CREATE TYPE ff.ownership_state AS ENUM
    ('unowned', 'leased', 'lease_expired_reclaimable', 'lease_revoked');

CREATE TYPE ff.eligibility_state AS ENUM
    ('eligible_now', 'not_eligible_until_time', 'blocked_by_dependencies',
     'blocked_by_budget', 'blocked_by_quota', 'blocked_by_route',
     'blocked_by_lane_state', 'blocked_by_operator', 'not_applicable');

CREATE TYPE ff.blocking_reason AS ENUM
    ('none', 'waiting_for_worker', 'waiting_for_retry_backoff',
     'waiting_for_resume_delay', 'waiting_for_delay', 'waiting_for_signal',
     'waiting_for_approval', 'waiting_for_callback', 'waiting_for_tool_result',
     'waiting_for_children', 'waiting_for_budget', 'waiting_for_quota',
     'waiting_for_capable_worker', 'waiting_for_locality_match',
     'paused_by_operator', 'paused_by_policy', 'paused_by_flow_cancel');

CREATE TYPE ff.terminal_outcome AS ENUM
    ('none', 'success', 'failed', 'cancelled', 'expired', 'skipped');

CREATE TYPE ff.attempt_state AS ENUM
    ('none', 'pending_first_attempt', 'running_attempt', 'attempt_interrupted',
     'pending_retry_attempt', 'pending_replay_attempt', 'attempt_terminal');

CREATE TYPE ff.public_state AS ENUM
    ('waiting', 'delayed', 'rate_limited', 'waiting_children', 'active',
     'suspended', 'resumable', 'completed', 'failed', 'cancelled', 'expired',
     'skipped');

-- Attempt records (behaviour/execution §2.5).
CREATE TYPE ff.attempt_type AS ENUM
    ('initial', 'retry', 'reclaim', 'replay', 'fallback');

CREATE TYPE ff.attempt_record_state AS ENUM
    ('created', 'started', 'suspended', 'ended_success', 'ended_failure',
     'ended_cancelled', 'interrupted_reclaimed');

-- A millisecond setting of the engine as a number: current_setting shows
-- it with a unit ('1500ms', '2s', '1min'); pg_settings has the bare number
-- but builds every setting of the server to find it (~1 ms).
CREATE FUNCTION ff._setting_ms(name text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT m[1]::bigint * CASE m[2] WHEN 's' THEN 1000 WHEN 'min' THEN 60000
                                    WHEN 'h' THEN 3600000 WHEN 'd' THEN 86400000 ELSE 1 END
    FROM pg_catalog.regexp_match(pg_catalog.current_setting(name, true),
                                 '^(-?[0-9]+)(ms|s|min|h|d)?$') m
$$;
COMMENT ON FUNCTION ff._setting_ms(text) IS
    'Internal: a millisecond setting (ff_engine.*) as a number of milliseconds';
