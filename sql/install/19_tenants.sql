-- ff_engine install script: namespace isolation (issue 10).
--
-- A login role bound here to one or more namespaces sees and touches only
-- executions of those namespaces: any other execution reads as not found,
-- claim_next offers none of them, and it cannot create executions or flows
-- elsewhere.  Roles without a binding, ff_admin members and superusers (and
-- so the engine's workers) are not restricted.  The binding follows the
-- caller's role (session user or SET ROLE), not the function owner.

CREATE TABLE ff.namespace_grant (
    role_name  name NOT NULL,
    namespace  text NOT NULL,
    PRIMARY KEY (role_name, namespace)
);
SELECT pg_catalog.pg_extension_config_dump('ff.namespace_grant', '');

CREATE FUNCTION ff._namespaces() RETURNS text[]
    AS 'MODULE_PATHNAME', 'ff_namespaces_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._namespaces() IS
    'Internal: the namespaces the calling role is bound to, NULL when it is not restricted';

CREATE FUNCTION ff._is_admin() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ff_is_admin_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._is_admin() IS
    'Internal: whether the calling role is a superuser or has ff_admin''s privileges';

CREATE FUNCTION ff.grant_namespace(role_name name, namespace text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = grant_namespace.role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = '42704';
    END IF;
    IF namespace IS NULL OR namespace = '' OR length(namespace) > 256 THEN
        RAISE EXCEPTION 'namespace must be 1..256 bytes' USING ERRCODE = '22023';
    END IF;
    INSERT INTO ff.namespace_grant VALUES (role_name, namespace) ON CONFLICT DO NOTHING;
    RETURN jsonb_build_object('ok', true, 'status', 'OK');
END $$;
COMMENT ON FUNCTION ff.grant_namespace(name, text) IS
    'Binds a role to a namespace: from its first binding on it sees and touches only its namespaces'' executions';

CREATE FUNCTION ff.revoke_namespace(role_name name, namespace text) RETURNS jsonb
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM ff.namespace_grant g WHERE g.role_name = $1 AND g.namespace = $2 RETURNING 1)
    SELECT jsonb_build_object('ok', true, 'status', 'OK', 'revoked', EXISTS (SELECT 1 FROM d))
$$;
COMMENT ON FUNCTION ff.revoke_namespace(name, text) IS
    'Removes a role''s namespace binding (with none left the role is unrestricted again)';

-- The executions the caller may see; every read model reads through it.
CREATE VIEW ff.visible_execution WITH (security_barrier) AS
SELECT e.* FROM ff.execution e
WHERE (SELECT ff._namespaces()) IS NULL OR e.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]));
COMMENT ON VIEW ff.visible_execution IS
    'ff.execution as the calling role may see it (its namespaces only when it is bound to some)';
