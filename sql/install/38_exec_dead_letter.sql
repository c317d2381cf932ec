-- ff_engine install script: the dead-letter view (issue 26).
--
-- Terminal failures (outcome failed or expired) with their last error, as
-- the caller may see them (its namespaces only), newest first by the
-- index below.  How long they stay: ff_engine.retention_failed (else
-- ff_engine.default_retention); purge_after says when retention takes one.

CREATE INDEX execution_dead_letter_idx ON ff.execution (completed_at)
    WHERE terminal_outcome IN ('failed', 'expired');

CREATE VIEW ff.dead_letter WITH (security_barrier) AS
SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, e.namespace, e.lane_id, e.execution_kind,
       e.terminal_outcome::text AS outcome, e.failure_reason AS last_error, e.retry_count,
       e.current_attempt_index AS last_attempt_index, e.created_at, e.completed_at, e.purge_after,
       to_timestamp(e.completed_at / 1000.0) AS failed_at
FROM ff.visible_execution e
WHERE e.terminal_outcome IN ('failed', 'expired');
COMMENT ON VIEW ff.dead_letter IS
    'Terminal failures (failed, expired) the caller may see, with their last error, retries and when retention purges them (ff_engine.retention_failed)';
