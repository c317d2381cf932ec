-- ff_engine install script: roles and privileges (issue 10).
--
-- Four roles (cluster-wide, created once, kept when the extension is
-- dropped): ff_reader sees the read models; ff_worker claims and works
-- executions; ff_submitter submits, cancels, signals and builds flows;
-- ff_admin has every function.  Grant them to login roles.
--
-- Nobody but the extension's owner reaches the tables: every function runs
-- as its owner (SECURITY DEFINER) with search_path pinned to pg_catalog, ff
-- and pg_temp last, and the views run with the owner's rights too.  What a
-- role may do is therefore exactly which functions and views it is granted.

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ff_reader', 'ff_worker', 'ff_submitter', 'ff_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $roles$;

-- Every function of the extension runs as its owner with a pinned search_path.
DO $definer$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'ff' AND p.prokind = 'f' LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, ff, pg_temp', f);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $definer$;

REVOKE ALL ON ALL TABLES IN SCHEMA ff FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA ff FROM PUBLIC;
GRANT USAGE ON SCHEMA ff TO ff_reader, ff_worker, ff_submitter, ff_admin;

-- Grants by role: a function list per role.
DO $grants$
DECLARE
    grants jsonb := '{
      "ff_reader": ["read_execution_state", "read_execution_info", "describe_execution", "get_execution_result",
                    "get_execution_tag", "read_execution_context", "list_executions", "describe_flow", "list_flows",
                    "list_edges", "describe_edge", "read_stream_meta", "read_attempt_stream", "tail_attempt_stream",
                    "read_summary", "list_pending_waitpoints", "list_suspended", "get_budget_status", "list_workers",
                    "list_expired_leases", "execution_id", "flow_member_execution_id", "parse_execution_id",
                    "format_execution_id", "crc16", "solo_partition", "flow_partition", "budget_partition",
                    "quota_partition", "now_ms", "derive_public_state", "lane_channel", "completion_channel", "lease_channel", "scanner_interval_ms", "_jobs", "_is_admin",
                    "_namespaces", "list_schedules", "cron_next_fire", "_quota_refusing"],
      "ff_worker": ["claim_next", "claim_execution", "claim_resumed_execution", "renew_lease", "update_progress",
                    "complete_execution", "fail_execution", "complete_executions", "fail_executions",
                    "delay_execution", "move_to_waiting_children", "append_frame", "suspend_execution",
                    "create_pending_waitpoint", "close_waitpoint", "observe_signals", "report_usage_and_check",
                    "record_spend", "register_worker", "heartbeat_worker", "mark_worker_dead"],
      "ff_submitter": ["create_execution", "create_executions", "cancel_execution", "set_execution_tags",
                       "change_priority", "deliver_signal", "buffer_signal_for_pending_waitpoint", "create_flow",
                       "add_execution_to_flow", "set_flow_tags", "stage_dependency_edge", "apply_dependency_to_child",
                       "add_dependency", "set_edge_group_policy", "cancel_flow",
                       "create_schedule", "update_schedule", "pause_schedule", "resume_schedule",
                       "delete_schedule", "trigger_schedule"]
    }';
    r text;
    fn text;
    f regprocedure;
BEGIN
    FOR r IN SELECT jsonb_object_keys(grants) LOOP
        FOR fn IN SELECT jsonb_array_elements_text(grants -> r) LOOP
            FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
                     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'ff' AND p.proname = fn LOOP
                EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, r);
            END LOOP;
        END LOOP;
    END LOOP;
END $grants$;

-- workers and submitters read what they work on; the admin has every
-- function and view (the waitpoints view shows tokens), never a table
GRANT ff_reader TO ff_worker, ff_submitter;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ff TO ff_admin;
GRANT SELECT ON ff.executions, ff.flows, ff.flow_edges, ff.edge_groups, ff.suspensions, ff.signals,
                ff.budget_status, ff.quota_status, ff.scanner_status, ff.sibling_cancel_status,
                ff.consistency_violations, ff.schedules, ff.dead_letter TO ff_reader;
GRANT ff_reader TO ff_admin;
GRANT SELECT ON ff.waitpoints, ff.namespace_bindings, ff.lease_history, ff.attempt, ff.lanes TO ff_admin;
