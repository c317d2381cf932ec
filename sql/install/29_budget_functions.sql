-- ff_engine install script: budgets, quotas and admission (behaviour/budgets).
-- The state-changing operations are C; the reads are SQL over the tables.
-- A role bound to namespaces reaches only budgets and quota policies of its
-- namespaces (budget.c); the reads filter the same way.

CREATE FUNCTION ff.create_budget(
    budget_id uuid,
    dimensions text[] DEFAULT '{}',
    hard_limits bigint[] DEFAULT '{}',
    soft_limits bigint[] DEFAULT '{}',
    reset_interval_ms bigint DEFAULT 0,
    scope_type text DEFAULT '',
    scope_id text DEFAULT '',
    enforcement_mode text DEFAULT '',
    on_hard_limit text DEFAULT '',
    on_soft_limit text DEFAULT '',
    now_ms bigint DEFAULT NULL,
    namespace text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_budget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_budget(uuid, text[], bigint[], bigint[], bigint, text, text, text, text, text, bigint, text) IS
    'Creates a budget of a namespace (NULL: global) with hard and soft limits per dimension (0 = none), optionally resetting every reset_interval_ms (behaviour/budgets §3.1)';

CREATE FUNCTION ff.report_usage_and_check(
    budget_id uuid,
    dimensions text[],
    deltas bigint[],
    dedup_key text DEFAULT NULL,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_report_usage_and_check' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.report_usage_and_check(uuid, text[], bigint[], text, bigint) IS
    'Adds usage unless a hard limit would be exceeded: OK, SOFT_BREACH, HARD_BREACH (nothing applied) or ALREADY_APPLIED (behaviour/budgets §3.2)';

CREATE FUNCTION ff.record_spend(
    budget_id uuid,
    execution_id text,
    dimensions text[],
    deltas bigint[],
    idempotency_key text DEFAULT NULL,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_record_spend' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.record_spend(uuid, text, text[], bigint[], text, bigint) IS
    'As report_usage_and_check, and attributes the spend to the execution so release_budget can reverse it (behaviour/budgets §3.3)';

CREATE FUNCTION ff.release_budget(budget_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_release_budget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.release_budget(uuid, text) IS
    'Reverses the spend record_spend attributed to the execution (clamped at 0): released or noop (behaviour/budgets §3.4)';

CREATE FUNCTION ff.reset_budget(budget_id uuid, now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_reset_budget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.reset_budget(uuid, bigint) IS
    'Zeroes a budget''s usage and schedules its next reset (behaviour/budgets §3.5)';

CREATE FUNCTION ff.create_quota_policy(
    quota_policy_id uuid,
    window_seconds bigint,
    max_requests_per_window bigint,
    max_concurrent bigint,
    jitter_ms bigint DEFAULT 0,
    now_ms bigint DEFAULT NULL,
    namespace text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_quota_policy' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_quota_policy(uuid, bigint, bigint, bigint, bigint, bigint, text) IS
    'Creates a quota of a namespace (NULL: global): at most max_requests_per_window admissions per window, at most max_concurrent admissions live (0 = no limit) (behaviour/budgets §4.1)';

CREATE FUNCTION ff.check_admission_and_record(
    quota_policy_id uuid,
    execution_id text,
    window_seconds bigint,
    rate_limit bigint,
    concurrency_cap bigint,
    dimension text DEFAULT 'default',
    jitter_ms bigint DEFAULT 0,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_check_admission_and_record' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.check_admission_and_record(uuid, text, bigint, bigint, bigint, text, bigint, bigint) IS
    'Sliding-window rate and concurrency check with the given limits: ADMITTED, ALREADY_ADMITTED, RATE_EXCEEDED (retry_after_ms), CONCURRENCY_EXCEEDED (behaviour/budgets §4.2)';

CREATE FUNCTION ff.release_admission(quota_policy_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_release_admission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.release_admission(uuid, text) IS
    'Gives an admission''s concurrency slot back; its window entry keeps counting (behaviour/budgets §4.3)';

CREATE FUNCTION ff.set_execution_admission(execution_id text, budget_ids uuid[] DEFAULT NULL,
                                           quota_policy_id uuid DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_execution_admission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_execution_admission(text, uuid[], uuid) IS
    'Attaches budgets and a quota policy of the execution''s namespace (or global ones) to a non-terminal execution (NULL detaches); claims then admit it against them';

-- ---- admission evaluation shared by claim_next and the unblock scanner ----

-- The block detail of the first attached budget at or over a hard limit
-- (usage >= limit), NULL when every budget admits.  Ids that are not UUIDs,
-- budgets without limits and budgets of a namespace other than the
-- execution's admit.  The same C code decides at claim time.
CREATE FUNCTION ff._budget_block_detail(budget_ids text, namespace text) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_budget_block_detail_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._budget_block_detail(text, text) IS
    'Internal: why attached budgets refuse admission to an execution of the namespace, or NULL';

-- Whether a quota would refuse an admission now to an execution of the
-- namespace: every rate slot up to the limit busy, or every concurrency
-- slot.  The C rule claim admission applies (quota.c); a policy of another
-- namespace refuses nothing.
CREATE FUNCTION ff._quota_refuses(policy uuid, now_ms bigint, namespace text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'ff_quota_refuses_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._quota_refuses(uuid, bigint, text) IS
    'Internal: whether a quota policy refuses an admission now to an execution of the namespace';

-- The same rule for ff.quota_status, for a policy in its own namespace, now;
-- NULL for a policy the caller may not see (readers may call it).
CREATE FUNCTION ff._quota_refusing(policy uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'ff_quota_refusing_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._quota_refusing(uuid) IS
    'Internal: whether a quota policy the caller may see refuses an admission now (ff.quota_status.refusing)';

-- ---- read models ----
-- A role bound to namespaces reads only budgets and policies of its
-- namespaces (global ones included in none); the views are security
-- barriers, so a function in a reader's WHERE sees only those rows.

CREATE FUNCTION ff.get_budget_status(budget_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT jsonb_build_object('ok', true, 'status', 'OK', 'budget_id', b.budget_id, 'namespace', b.namespace,
            'scope_type', b.scope_type, 'scope_id', b.scope_id, 'enforcement_mode', b.enforcement_mode,
            'on_hard_limit', b.on_hard_limit, 'on_soft_limit', b.on_soft_limit,
            'usage', coalesce((SELECT jsonb_object_agg(u.dimension, u.value) FROM ff.budget_usage u WHERE u.budget_id = b.budget_id), '{}'),
            'hard_limits', coalesce((SELECT jsonb_object_agg(l.dimension, l.hard_limit) FROM ff.budget_limit l WHERE l.budget_id = b.budget_id), '{}'),
            'soft_limits', coalesce((SELECT jsonb_object_agg(l.dimension, l.soft_limit) FROM ff.budget_limit l WHERE l.budget_id = b.budget_id), '{}'),
            'breach_count', b.breach_count, 'soft_breach_count', b.soft_breach_count,
            'last_breach_at', b.last_breach_at, 'last_breach_dim', b.last_breach_dim,
            'reset_interval_ms', b.reset_interval_ms, 'next_reset_at', b.next_reset_at,
            'reset_count', b.reset_count, 'last_reset_at', b.last_reset_at,
            'reconciled_breach_at', b.reconciled_breach_at,
            'created_at', b.created_at, 'last_updated_at', b.last_updated_at)
        FROM ff.budget b WHERE b.budget_id = get_budget_status.budget_id
          AND ((SELECT ff._namespaces()) IS NULL OR b.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[])))),
        '{"ok": false, "error": "budget_not_found"}')
$$;
COMMENT ON FUNCTION ff.get_budget_status(uuid) IS
    'A budget with its namespace, usage, hard and soft limits per dimension, breach and reset counters; budget_not_found for another tenant''s';

CREATE VIEW ff.budget_status WITH (security_barrier) AS
SELECT b.budget_id, b.scope_type, b.scope_id, l.dimension, coalesce(u.value, 0) AS usage,
       l.hard_limit, l.soft_limit,
       l.hard_limit > 0 AND coalesce(u.value, 0) >= l.hard_limit AS exhausted,
       l.soft_limit > 0 AND coalesce(u.value, 0) > l.soft_limit AS over_soft_limit,
       b.next_reset_at, b.namespace
FROM ff.budget b
JOIN ff.budget_limit l ON l.budget_id = b.budget_id
LEFT JOIN ff.budget_usage u ON u.budget_id = l.budget_id AND u.dimension = l.dimension
WHERE (SELECT ff._namespaces()) IS NULL OR b.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]));
COMMENT ON VIEW ff.budget_status IS
    'Every limited dimension of every budget the caller may see: usage against its limits';

CREATE VIEW ff.quota_status WITH (security_barrier) AS
SELECT q.quota_policy_id, q.window_seconds, q.max_requests_per_window, q.active_concurrency_cap, q.jitter_ms,
       (SELECT count(*) FROM ff.quota_slot s WHERE s.quota_policy_id = q.quota_policy_id AND s.kind = 'r'
          AND s.dimension = 'default' AND s.free_at > ff.now_ms()) AS admitted_in_window,
       (SELECT count(*) FROM ff.quota_slot s WHERE s.quota_policy_id = q.quota_policy_id AND s.kind = 'c'
          AND s.free_at > ff.now_ms()) AS active_concurrency,
       (SELECT count(*) FROM ff.quota_admission a WHERE a.quota_policy_id = q.quota_policy_id
          AND a.expires_at > ff.now_ms()) AS live_admissions,
       ff._quota_refusing(q.quota_policy_id) AS refusing,
       q.namespace
FROM ff.quota_policy q
WHERE (SELECT ff._namespaces()) IS NULL OR q.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]));
COMMENT ON VIEW ff.quota_status IS
    'Every quota policy the caller may see: its limits, admissions in the current window, live admissions, whether it refuses now';
