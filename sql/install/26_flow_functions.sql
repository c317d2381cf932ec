-- ff_engine install script: flows, edges, edge groups (behaviour/flows §3).

CREATE FUNCTION ff.create_flow(flow_id uuid, flow_kind text DEFAULT '', namespace text DEFAULT 'default')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_flow' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_flow(uuid, text, text) IS
    'Creates a flow (behaviour/flows §3.1): OK {flow_id, partition} or ALREADY_SATISFIED';

CREATE FUNCTION ff.add_execution_to_flow(flow_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_add_execution_to_flow' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.add_execution_to_flow(uuid, text) IS
    'Adds an execution minted in the flow''s partition to the flow (behaviour/flows §3.2): OK {execution_id, node_count}';

CREATE FUNCTION ff.set_flow_tags(flow_id uuid, VARIADIC pairs text[])
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_flow_tags' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_flow_tags(uuid, text[]) IS
    'Upserts key/value tag pairs on a flow; keys like app.field (behaviour/flows §3.3)';

CREATE FUNCTION ff.set_edge_group_policy(flow_id uuid, downstream_execution_id text, policy_variant text,
    on_satisfied text DEFAULT NULL, k bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_edge_group_policy' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_edge_group_policy(uuid, text, text, text, bigint) IS
    'Sets all_of / any_of / quorum (k) for a downstream before its first edge is applied (behaviour/flows §3.4)';

CREATE FUNCTION ff.stage_dependency_edge(flow_id uuid, edge_id uuid, upstream_execution_id text,
    downstream_execution_id text, expected_graph_revision bigint,
    dependency_kind text DEFAULT 'success_only', data_passing_ref text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_stage_dependency_edge' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.stage_dependency_edge(uuid, uuid, text, text, bigint, text, text) IS
    'Stages a flow edge after the cycle check: OK {edge_id, graph_revision} (behaviour/flows §3.5)';

CREATE FUNCTION ff.apply_dependency_to_child(flow_id uuid, edge_id uuid, downstream_execution_id text,
    upstream_execution_id text, graph_revision bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_apply_dependency_to_child' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.apply_dependency_to_child(uuid, uuid, text, text, bigint) IS
    'Records a staged edge on its child and blocks the child: OK {unresolved} (behaviour/flows §3.6)';

CREATE FUNCTION ff.add_dependency(flow_id uuid, upstream_execution_id text, downstream_execution_id text,
    edge_id uuid DEFAULT NULL, dependency_kind text DEFAULT 'success_only', data_passing_ref text DEFAULT NULL,
    expected_graph_revision bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_add_dependency' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.add_dependency(uuid, text, text, uuid, text, text, bigint) IS
    'Stages and applies an edge in one step: OK {edge_id, graph_revision, unresolved} (behaviour/flows §3.7)';

CREATE FUNCTION ff.resolve_dependency(flow_id uuid, edge_id uuid, upstream_outcome text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_resolve_dependency' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.resolve_dependency(uuid, uuid, text) IS
    'Resolves one applied edge with its upstream''s outcome (behaviour/flows §3.8); the dispatcher calls it for you';

CREATE FUNCTION ff.dispatch_completions(max_events integer DEFAULT 100)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_dispatch_completions' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.dispatch_completions(integer) IS
    'Resolves the downstream edges of up to max_events completion events, oldest first (behaviour/flows §5.3)';

CREATE FUNCTION ff._reconcile_dependencies_of(execution_id text)
    RETURNS integer AS 'MODULE_PATHNAME', 'ff_reconcile_dependencies_of' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._reconcile_dependencies_of(text) IS
    'Internal: resolves a child''s unresolved edges whose upstream already ended';

CREATE FUNCTION ff.cancel_flow(flow_id uuid, reason text DEFAULT '', cancellation_policy text DEFAULT 'cancel_all',
    grace_ms bigint DEFAULT 30000, wait boolean DEFAULT true)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_cancel_flow' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.cancel_flow(uuid, text, text, bigint, boolean) IS
    'Cancels a flow and (cancel_all / cancel_pending) its members, now or after grace_ms (behaviour/flows §3.12)';

CREATE FUNCTION ff.ack_cancel_member(flow_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_ack_cancel_member' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.ack_cancel_member(uuid, text) IS
    'Marks a member''s owed cancel as done (behaviour/flows §3.12.4)';

-- ---- read models (behaviour/flows §3.15) ----

-- The flows the caller may see (its namespaces only when it is bound);
-- every flow read model reads through it.
CREATE VIEW ff.visible_flow WITH (security_barrier) AS
SELECT f.* FROM ff.flow f
WHERE (SELECT ff._namespaces()) IS NULL OR f.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]));
COMMENT ON VIEW ff.visible_flow IS
    'Internal: ff.flow as the calling role may see it (its namespaces only when it is bound)';

CREATE VIEW ff.flows WITH (security_barrier) AS
SELECT f.flow_id, f.partition, f.flow_kind, f.namespace, f.public_flow_state, f.graph_revision,
       f.node_count, f.edge_count, f.created_at, f.last_mutation_at, f.cancelled_at, f.cancel_reason,
       f.cancellation_policy, f.tags, s.public_flow_state AS summary_state
FROM ff.visible_flow f LEFT JOIN ff.flow_summary s ON s.partition = f.partition AND s.flow_id = f.flow_id;
COMMENT ON VIEW ff.flows IS 'Every flow with its core state and its projected summary state';

CREATE VIEW ff.flow_edges WITH (security_barrier) AS
SELECT e.flow_id, e.edge_id, ff.format_execution_id(e.partition, e.upstream_execution_id) AS upstream_execution_id,
       ff.format_execution_id(e.partition, e.downstream_execution_id) AS downstream_execution_id,
       e.dependency_kind, e.data_passing_ref, e.created_at, d.state AS dependency_state, d.last_resolved_at
FROM ff.flow_edge e
JOIN ff.visible_flow f ON f.partition = e.partition AND f.flow_id = e.flow_id
LEFT JOIN ff.dependency d ON d.partition = e.partition AND d.downstream_execution_id = e.downstream_execution_id
                         AND d.edge_id = e.edge_id;
COMMENT ON VIEW ff.flow_edges IS 'Every edge with its resolution state on the child (NULL while staged only)';

CREATE VIEW ff.edge_groups WITH (security_barrier) AS
SELECT g.flow_id, ff.format_execution_id(g.partition, g.downstream_execution_id) AS downstream_execution_id,
       g.policy_variant, g.on_satisfied, CASE WHEN g.policy_variant = 'quorum' THEN g.k ELSE 1 END AS k,
       g.n, g.succeeded, g.failed, g.skipped, greatest(0, g.n - g.succeeded - g.failed - g.skipped) AS running,
       g.group_state, g.satisfied_at, g.cancel_siblings_pending, g.cancel_siblings_reason
FROM ff.edge_group g
JOIN ff.visible_flow f ON f.partition = g.partition AND f.flow_id = g.flow_id;
COMMENT ON VIEW ff.edge_groups IS 'Every edge group with its counters (running = n - succeeded - failed - skipped)';

CREATE FUNCTION ff.describe_flow(flow_id uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK', 'flow_id', f.flow_id, 'flow_kind', f.flow_kind,
            'namespace', f.namespace, 'public_flow_state', f.public_flow_state,
            'graph_revision', f.graph_revision, 'node_count', f.node_count, 'edge_count', f.edge_count,
            'created_at', f.created_at, 'last_mutation_at', f.last_mutation_at,
            'cancelled_at', f.cancelled_at, 'cancel_reason', f.cancel_reason,
            'cancellation_policy', f.cancellation_policy, 'tags', f.tags,
            'edge_groups', COALESCE((SELECT jsonb_agg(to_jsonb(g) - 'flow_id' ORDER BY g.downstream_execution_id)
                                     FROM ff.edge_groups g WHERE g.flow_id = f.flow_id), '[]'::jsonb))
         FROM ff.visible_flow f WHERE f.partition = ff.flow_partition($1) AND f.flow_id = $1),
        '{"ok": false, "error": "flow_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.describe_flow(uuid) IS 'A flow, its tags and one entry per edge group';

CREATE FUNCTION ff.describe_edge(flow_id uuid, edge_id uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT jsonb_build_object('ok', true, 'status', 'OK') || to_jsonb(e)
                     FROM ff.flow_edges e WHERE e.flow_id = $1 AND e.edge_id = $2),
                    '{"ok": false, "error": "edge_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.describe_edge(uuid, uuid) IS 'One edge and its resolution state';

CREATE FUNCTION ff.list_edges(flow_id uuid, execution_id text, direction text DEFAULT 'outgoing')
RETURNS SETOF ff.flow_edges LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF direction NOT IN ('outgoing', 'incoming') THEN
        RAISE EXCEPTION 'direction must be outgoing or incoming, got "%"', direction USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT * FROM ff.flow_edges e WHERE e.flow_id = list_edges.flow_id
        AND CASE WHEN direction = 'outgoing' THEN e.upstream_execution_id ELSE e.downstream_execution_id END
            = ff.format_execution_id((ff.parse_execution_id(execution_id)).partition,
                                     (ff.parse_execution_id(execution_id)).execution_uuid)
        ORDER BY e.created_at, e.edge_id;
END $$;
COMMENT ON FUNCTION ff.list_edges(uuid, text, text) IS 'The outgoing (or incoming) edges of a member';

CREATE FUNCTION ff.list_flows(partition smallint, cursor uuid DEFAULT NULL, page_limit integer DEFAULT 100)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    rows jsonb;
    more boolean;
BEGIN
    IF page_limit IS NULL OR page_limit < 0 OR page_limit > 1000 THEN
        RAISE EXCEPTION 'page_limit must be between 0 and 1000, got %', page_limit USING ERRCODE = '22023';
    END IF;
    SELECT jsonb_agg(jsonb_build_object('flow_id', x.flow_id, 'created_at', x.created_at,
                                        'status', x.public_flow_state) ORDER BY x.flow_id),
           count(*) > page_limit
      INTO rows, more
      FROM (SELECT f.flow_id, f.created_at, f.public_flow_state FROM ff.visible_flow f
            WHERE f.partition = list_flows.partition AND (cursor IS NULL OR f.flow_id > cursor)
            ORDER BY f.flow_id LIMIT page_limit + 1) x;
    IF more THEN
        rows := rows - page_limit;
    END IF;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'flows', coalesce(rows, '[]'::jsonb),
                              'next_cursor', CASE WHEN more THEN rows -> (page_limit - 1) -> 'flow_id' END);
END $$;
COMMENT ON FUNCTION ff.list_flows(smallint, uuid, integer) IS
    'Flows of a partition by id, page by page (every flow until purged, not only live ones)';
