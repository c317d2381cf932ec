-- ff_engine install script: RFC-016 sibling cancellation (behaviour/flows §3.10, §3.11, §6.2, §6.3).

-- How many sibling cancels the dispatcher attempted, by reason and disposition.
CREATE TABLE ff.sibling_cancel_stat (
    reason       text NOT NULL,
    disposition  text NOT NULL CHECK (disposition IN ('cancelled', 'already_terminal', 'not_found')),
    count        bigint NOT NULL,
    PRIMARY KEY (reason, disposition)
);
-- Counts over every tenant: shown to unrestricted roles only.
CREATE VIEW ff.sibling_cancel_status WITH (security_barrier) AS
SELECT reason, sum(count) AS dispatched,
       sum(count) FILTER (WHERE disposition = 'cancelled') AS cancelled,
       sum(count) FILTER (WHERE disposition = 'already_terminal') AS already_terminal,
       sum(count) FILTER (WHERE disposition = 'not_found') AS not_found,
       (SELECT count(*) FROM ff.pending_cancel_group) AS groups_pending
FROM ff.sibling_cancel_stat
WHERE (SELECT ff._namespaces()) IS NULL
GROUP BY reason;
COMMENT ON VIEW ff.sibling_cancel_status IS
    'Sibling cancels dispatched, by reason and disposition, and the groups still pending (empty for a role bound to namespaces)';

CREATE FUNCTION ff.drain_sibling_cancel_group(flow_id uuid, downstream_execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_drain_sibling_cancel_group' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.drain_sibling_cancel_group(uuid, text) IS
    'Removes a sibling-cancel request: drained / already_drained / drained_sans_group (behaviour/flows §3.10)';

CREATE FUNCTION ff.reconcile_sibling_cancel_group(flow_id uuid, downstream_execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_reconcile_sibling_cancel_group' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.reconcile_sibling_cancel_group(uuid, text) IS
    'Finishes a sibling-cancel request a crash left behind; never cancels (behaviour/flows §3.11)';

CREATE FUNCTION ff.scan_edge_cancel_dispatch(batch_size integer DEFAULT 50)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_edge_cancel_dispatch' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_edge_cancel_dispatch(integer) IS
    'Cancels the losing siblings of decided any_of/quorum groups and drains the requests, one batch (behaviour/flows §6.2)';

CREATE FUNCTION ff.scan_edge_cancel_reconcile(batch_size integer DEFAULT 50)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_edge_cancel_reconcile' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_edge_cancel_reconcile(integer) IS
    'Finalises sibling-cancel requests left behind by a crash (Invariant Q6), one batch (behaviour/flows §6.3)';
