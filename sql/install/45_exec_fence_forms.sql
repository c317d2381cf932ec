-- ff_engine install script: the fence as one value (issue 29).
--
-- Every lease-bound function has an overload whose first argument is the
-- fence as the claim returned it: the claim envelope itself (claim_next's
-- claim column, claim_execution's result) or its {execution_id, lease_id,
-- lease_epoch, attempt_id, attempt_index} subset, as jsonb.  It runs the
-- separate-ids function with the fence's parts in their places (src/exec_fence.c).
--
-- Shape: the fence, then the function's other arguments, with the same
-- names and defaults - as many as can be taken without changing how any
-- call of the separate-ids form resolves.  Drivers such as node-postgres
-- and pgx send every parameter untyped, and PostgreSQL picks among
-- overloads for untyped arguments by type category position by position;
-- so an overload may take n positional arguments only where the
-- separate-ids form cannot, or where their categories agree.  That leaves
-- out source (complete, fail, close_waitpoint: it only matters without a
-- fence), progress_message, and the rarer options of append_frame and
-- suspend_execution; those need the separate-ids form.  (The one call of a
-- separate-ids form that no longer resolves untyped is fail_execution with
-- a partial fence, 2 or 3 arguments, which could only fail anyway.)
-- A fence written as a literal needs its type: '{...}'::jsonb.

CREATE FUNCTION ff.renew_lease(
    fence jsonb,
    lease_ttl_ms bigint DEFAULT 30000,
    lease_history_grace_ms bigint DEFAULT 60000)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_renew_lease_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.renew_lease(jsonb, bigint, bigint) IS
    'renew_lease with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.update_progress(
    fence jsonb,
    progress_pct integer DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_update_progress_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.update_progress(jsonb, integer) IS
    'update_progress with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.complete_execution(
    fence jsonb,
    result_payload bytea DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_complete_execution_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.complete_execution(jsonb, bytea) IS
    'complete_execution with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.fail_execution(
    fence jsonb,
    failure_reason text DEFAULT '',
    failure_category text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_fail_execution_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.fail_execution(jsonb, text, text) IS
    'fail_execution with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.delay_execution(
    fence jsonb,
    delay_until bigint,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_delay_execution_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.delay_execution(jsonb, bigint, text) IS
    'delay_execution with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.move_to_waiting_children(
    fence jsonb,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_move_to_waiting_children_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.move_to_waiting_children(jsonb, text) IS
    'move_to_waiting_children with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.cancel_execution(
    fence jsonb,
    reason text DEFAULT '',
    source text DEFAULT 'lease_holder')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_cancel_execution_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.cancel_execution(jsonb, text, text) IS
    'The lease holder cancels its execution, with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.append_frame(
    fence jsonb,
    frame_type text,
    payload bytea,
    stream_mode text DEFAULT 'durable',
    retention_maxlen integer DEFAULT 0)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_append_frame_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.append_frame(jsonb, text, bytea, text, integer) IS
    'append_frame with the fence as one value (the claim as returned; its attempt_id is recorded)';

CREATE FUNCTION ff.suspend_execution(
    fence jsonb,
    suspension_id uuid,
    waitpoint_id uuid,
    waitpoint_key text,
    reason_code text,
    resume_condition jsonb,
    timeout_at bigint DEFAULT NULL,
    timeout_behavior text DEFAULT 'fail',
    use_pending_waitpoint boolean DEFAULT false)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_suspend_execution_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.suspend_execution(jsonb, uuid, uuid, text, text, jsonb, bigint, text, boolean) IS
    'suspend_execution with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.create_pending_waitpoint(
    fence jsonb,
    waitpoint_id uuid,
    waitpoint_key text,
    expires_at bigint)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_pending_waitpoint_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_pending_waitpoint(jsonb, uuid, text, bigint) IS
    'create_pending_waitpoint with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.close_waitpoint(
    fence jsonb,
    waitpoint_id uuid,
    reason text DEFAULT 'proactive_close')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_close_waitpoint_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.close_waitpoint(jsonb, uuid, text) IS
    'close_waitpoint with the fence as one value (the claim as returned)';

CREATE FUNCTION ff.complete_executions(
    fences jsonb[],
    result_payloads bytea[] DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_complete_executions_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.complete_executions(jsonb[], bytea[]) IS
    'complete_executions with each fence as one value (array_agg of the claims)';

CREATE FUNCTION ff.fail_executions(
    fences jsonb[],
    failure_reasons text[] DEFAULT NULL,
    failure_category text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_fail_executions_fence' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.fail_executions(jsonb[], text[], text) IS
    'fail_executions with each fence as one value (array_agg of the claims)';
