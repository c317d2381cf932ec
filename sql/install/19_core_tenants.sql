-- ff_engine install script: namespace isolation.
--
-- A role bound here to namespaces - or any role that is a member of a bound
-- role - sees and touches only objects of those namespaces: executions,
-- flows, budgets, quota policies and workers of other namespaces read as
-- not found, claim_next offers none of them, and creating anything
-- elsewhere is 42501.  Bindings are kept by role OID, so renaming a role
-- keeps its binding.  Revoking a role's last namespace leaves it bound to
-- none (it sees nothing); only ff.unbind_role makes it unrestricted again.
-- Roles without a binding are unrestricted unless
-- ff_engine.require_namespace_binding is on; ff_admin members and
-- superusers (and so the engine's workers) are never restricted.  The
-- binding follows the caller's role (session user or SET ROLE), not the
-- function owner.

CREATE TABLE ff.namespace_binding (
    role        regrole PRIMARY KEY,
    namespaces  text[] NOT NULL DEFAULT '{}'
);
SELECT pg_catalog.pg_extension_config_dump('ff.namespace_binding', '');

CREATE FUNCTION ff._namespaces() RETURNS text[]
    AS 'MODULE_PATHNAME', 'ff_namespaces_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._namespaces() IS
    'Internal: the namespaces the calling role is bound to, NULL when it is not restricted';

CREATE FUNCTION ff._is_admin() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ff_is_admin_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._is_admin() IS
    'Internal: whether the calling role is a superuser or has ff_admin''s privileges';

-- The role a binding function names, or 42704.
CREATE FUNCTION ff._binding_role(role_name name) RETURNS regrole
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r regrole;
BEGIN
    SELECT oid::regrole INTO r FROM pg_catalog.pg_roles WHERE rolname = role_name;
    IF r IS NULL THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = '42704';
    END IF;
    RETURN r;
END $$;
COMMENT ON FUNCTION ff._binding_role(name) IS 'Internal: the role named, or 42704';

CREATE FUNCTION ff.grant_namespace(role_name name, namespace text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r regrole := ff._binding_role(role_name);
BEGIN
    IF namespace IS NULL OR namespace = '' OR octet_length(namespace) > 256 THEN
        RAISE EXCEPTION 'namespace must be 1..256 bytes' USING ERRCODE = '22023';
    END IF;
    INSERT INTO ff.namespace_binding AS b (role, namespaces) VALUES (r, ARRAY[namespace])
    ON CONFLICT (role) DO UPDATE
        SET namespaces = CASE WHEN namespace = ANY (b.namespaces) THEN b.namespaces
                              ELSE b.namespaces || namespace END;
    RETURN jsonb_build_object('ok', true, 'status', 'OK');
END $$;
COMMENT ON FUNCTION ff.grant_namespace(name, text) IS
    'Binds a role (and every member of it) to a namespace: from its first binding on it sees and touches only its namespaces';

CREATE FUNCTION ff.revoke_namespace(role_name name, namespace text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r regrole := ff._binding_role(role_name);
    found_it boolean;
BEGIN
    UPDATE ff.namespace_binding b SET namespaces = array_remove(b.namespaces, namespace)
    WHERE b.role = r AND namespace = ANY (b.namespaces);
    found_it := FOUND;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'revoked', found_it);
END $$;
COMMENT ON FUNCTION ff.revoke_namespace(name, text) IS
    'Removes one namespace from a role''s binding; the role stays bound (with none left it sees nothing)';

CREATE FUNCTION ff.unbind_role(role_name name) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r regrole := ff._binding_role(role_name);
    found_it boolean;
BEGIN
    DELETE FROM ff.namespace_binding b WHERE b.role = r;
    found_it := FOUND;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'unbound', found_it);
END $$;
COMMENT ON FUNCTION ff.unbind_role(name) IS
    'Removes a role''s binding altogether: it is no longer restricted to namespaces (unless require_namespace_binding is on)';

CREATE VIEW ff.namespace_bindings AS
SELECT b.role::text AS role_name, b.namespaces FROM ff.namespace_binding b;
COMMENT ON VIEW ff.namespace_bindings IS 'Every role bound to namespaces, and its namespaces (administrators only)';

-- The executions the caller may see; every read model reads through it.
-- Its columns keep the order of 0.1.0's table (new ones appended), whatever
-- the table's own order (chosen for the hot path's WAL, 10_exec_tables.sql),
-- so a fresh and an upgraded install read alike.
CREATE VIEW ff.visible_execution WITH (security_barrier) AS
SELECT e.partition, e.execution_id, e.namespace, e.lane_id, e.execution_kind, e.creator_identity, e.priority,
       e.flow_id, e.required_capabilities, e.retention_ms, e.lifecycle_phase, e.ownership_state,
       e.eligibility_state, e.blocking_reason, e.blocking_detail, e.terminal_outcome, e.attempt_state,
       e.public_state, e.total_attempt_count, e.current_attempt_index, e.current_attempt_id, e.retry_count,
       e.replay_count, e.lease_reclaim_count, e.current_lease_id, e.current_lease_epoch, e.current_worker_id,
       e.current_worker_instance_id, e.current_lane, e.lease_acquired_at, e.lease_expires_at,
       e.lease_last_renewed_at, e.lease_renewal_deadline, e.lease_expired_at, e.lease_revoked_at,
       e.lease_revoke_reason, e.created_at, e.started_at, e.completed_at, e.last_transition_at,
       e.last_mutation_at, e.delay_until, e.attempt_timeout_at, e.execution_deadline_at, e.purge_after,
       e.pending_retry_reason, e.pending_replay_reason, e.pending_replay_requested_by,
       e.pending_previous_attempt_index, e.failure_reason, e.cancellation_reason, e.cancelled_by,
       e.current_suspension_id, e.current_waitpoint_id, e.last_hmac_validation_failed_at, e.budget_ids,
       e.quota_policy_id, e.progress_pct, e.progress_message, e.progress_updated_at,
       e.last_capability_mismatch_at, e.history_seq, e.held_attempt_seq, e.held_lease_id, e.held_worker_id,
       e.held_worker_instance_id, e.concurrency_key, e.concurrency_limit
FROM ff.execution e
WHERE (SELECT ff._namespaces()) IS NULL OR e.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]));
COMMENT ON VIEW ff.visible_execution IS
    'Internal: ff.execution as the calling role may see it (its namespaces only when it is bound)';
