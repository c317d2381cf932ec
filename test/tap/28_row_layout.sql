-- The execution row's layout (issue 21; doc/decisions.md "The execution
-- row's layout"): the table's columns are ordered for the WAL of the hot
-- path and its pages half free, while readers see 0.1.0's column order.
BEGIN;
\ir helpers.psql
CREATE EXTENSION IF NOT EXISTS pageinspect;

-- readers: 0.1.0's order (new columns appended), whatever the table's
SELECT is(ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'ff.visible_execution'::regclass
                AND a.attnum > 0 ORDER BY a.attnum),
          ARRAY['partition', 'execution_id', 'namespace', 'lane_id', 'execution_kind', 'creator_identity',
      'priority', 'flow_id', 'required_capabilities', 'retention_ms', 'lifecycle_phase', 'ownership_state',
      'eligibility_state', 'blocking_reason', 'blocking_detail', 'terminal_outcome', 'attempt_state', 'public_state',
      'total_attempt_count', 'current_attempt_index', 'current_attempt_id', 'retry_count', 'replay_count', 'lease_reclaim_count',
      'current_lease_id', 'current_lease_epoch', 'current_worker_id', 'current_worker_instance_id', 'current_lane', 'lease_acquired_at',
      'lease_expires_at', 'lease_last_renewed_at', 'lease_renewal_deadline', 'lease_expired_at', 'lease_revoked_at', 'lease_revoke_reason',
      'created_at', 'started_at', 'completed_at', 'last_transition_at', 'last_mutation_at', 'delay_until',
      'attempt_timeout_at', 'execution_deadline_at', 'purge_after', 'pending_retry_reason', 'pending_replay_reason', 'pending_replay_requested_by',
      'pending_previous_attempt_index', 'failure_reason', 'cancellation_reason', 'cancelled_by', 'current_suspension_id', 'current_waitpoint_id',
      'last_hmac_validation_failed_at', 'budget_ids', 'quota_policy_id', 'progress_pct', 'progress_message', 'progress_updated_at',
      'last_capability_mismatch_at', 'history_seq', 'held_attempt_seq', 'held_lease_id', 'held_worker_id', 'held_worker_instance_id',
      'concurrency_key', 'concurrency_limit']::name[],
          'ff.visible_execution lists 0.1.0''s column order');
SELECT is(ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'ff.executions'::regclass
                AND a.attnum > 0 ORDER BY a.attnum),
          ARRAY['id', 'partition', 'execution_id', 'namespace', 'lane_id', 'execution_kind',
      'creator_identity', 'priority', 'flow_id', 'required_capabilities', 'retention_ms', 'lifecycle_phase',
      'ownership_state', 'eligibility_state', 'blocking_reason', 'blocking_detail', 'terminal_outcome', 'attempt_state',
      'public_state', 'total_attempt_count', 'current_attempt_index', 'current_attempt_id', 'retry_count', 'replay_count',
      'lease_reclaim_count', 'current_lease_id', 'current_lease_epoch', 'current_worker_id', 'current_worker_instance_id', 'current_lane',
      'lease_acquired_at', 'lease_expires_at', 'lease_last_renewed_at', 'lease_renewal_deadline', 'lease_expired_at', 'lease_revoked_at',
      'lease_revoke_reason', 'created_at', 'started_at', 'completed_at', 'last_transition_at', 'last_mutation_at',
      'delay_until', 'attempt_timeout_at', 'execution_deadline_at', 'purge_after', 'pending_retry_reason', 'pending_replay_reason',
      'pending_replay_requested_by', 'pending_previous_attempt_index', 'failure_reason', 'cancellation_reason', 'cancelled_by', 'current_suspension_id',
      'current_waitpoint_id', 'last_hmac_validation_failed_at', 'budget_ids', 'quota_policy_id', 'progress_pct', 'progress_message',
      'progress_updated_at', 'last_capability_mismatch_at', 'history_seq', 'concurrency_key', 'concurrency_limit', 'last_failure_reason']::name[],
          'ff.executions: the text id, the same order without held_*, last_failure_reason');
SELECT ok((SELECT 'fillfactor=50' = ANY (reloptions) FROM pg_class WHERE oid = 'ff.execution'::regclass),
          'ff.execution keeps half of each page free for a batch''s new versions');

-- the bytes an UPDATE that stays on its page logs: the new row minus the
-- prefix and suffix it shares with the old one (log_heap_update)
CREATE TABLE t.snap (step text PRIMARY KEY, data bytea);
CREATE FUNCTION t.snap(step text, id text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO t.snap
    SELECT step, h.t_data FROM ff.execution e,
           LATERAL heap_page_items(get_raw_page('ff.execution', (e.ctid::text::point)[0]::int)) h
    WHERE e.execution_id = t.exec_uuid(id) AND h.lp = (e.ctid::text::point)[1]::int
$$;
CREATE FUNCTION t.logged(a text, b text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE o bytea := (SELECT data FROM t.snap WHERE step = a); n bytea := (SELECT data FROM t.snap WHERE step = b);
        p int := 0; s int := 0;
BEGIN
    WHILE p < least(length(o), length(n)) AND get_byte(o, p) = get_byte(n, p) LOOP p := p + 1; END LOOP;
    WHILE s < least(length(o), length(n)) - p AND get_byte(o, length(o) - 1 - s) = get_byte(n, length(n) - 1 - s) LOOP
        s := s + 1;
    END LOOP;
    RETURN length(n) - p - s;
END $$;
SELECT t.at(1000000000000);
SELECT ok((ff.create_execution(t.id(1), lane_id => 'layout')->>'ok')::boolean, 'created');
SELECT t.snap('created', t.id(1));
SELECT claim->>'lease_id' AS lid, claim->>'lease_epoch' AS ep, claim->>'attempt_id' AS aid
FROM ff.claim_next('layout', 'bench', 'bench-1') \gset
SELECT t.snap('claimed', t.id(1));
SELECT t.at(1000000000100);
SELECT ff.complete_execution(t.id(1), :'lid'::uuid, :ep, :'aid'::uuid) IS NOT NULL;
SELECT t.snap('completed', t.id(1));
-- measured: 166 and 62 bytes (0.1.0's order: 185 and 182)
SELECT cmp_ok(t.logged('created', 'claimed'), '<=', 175, 'a claim logs at most 175 bytes of row');
SELECT cmp_ok(t.logged('claimed', 'completed'), '<=', 80,
              'a completion logs at most 80 bytes of row: the leased row''s last bytes are the completed row''s');

SELECT * FROM finish();
ROLLBACK;
