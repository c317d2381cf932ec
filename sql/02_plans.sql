-- The claim query and the scanners' selections are served by partial
-- indexes (no sequential scan of ff.execution), whatever the table size.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
-- ELIGIBLE(lane): ff.claim_next's candidate query
EXPLAIN (COSTS OFF)
SELECT e.execution_id FROM ff.execution e
WHERE lane_id = 'default' AND lifecycle_phase = 'runnable' AND eligibility_state = 'eligible_now'
  AND (required_capabilities IS NULL OR required_capabilities <@ '{}'::text[])
ORDER BY priority DESC, created_at, partition, execution_id LIMIT 10 FOR UPDATE OF e SKIP LOCKED;
-- DELAYED: due delayed executions
EXPLAIN (COSTS OFF)
SELECT execution_id FROM ff.execution
WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'not_eligible_until_time' AND delay_until <= 1700000000000
ORDER BY delay_until LIMIT 50 FOR UPDATE SKIP LOCKED;
-- LEASE_EXPIRY: leases past their expiry
EXPLAIN (COSTS OFF)
SELECT execution_id FROM ff.execution
WHERE lifecycle_phase = 'active' AND ownership_state = 'leased' AND lease_expires_at <= 1700000000000
ORDER BY lease_expires_at LIMIT 50 FOR UPDATE SKIP LOCKED;
-- ATTEMPT_TIMEOUT and EXECUTION_DEADLINE
EXPLAIN (COSTS OFF)
SELECT execution_id FROM ff.execution WHERE attempt_timeout_at <= 1700000000000 ORDER BY attempt_timeout_at LIMIT 50;
EXPLAIN (COSTS OFF)
SELECT execution_id FROM ff.execution WHERE execution_deadline_at <= 1700000000000 ORDER BY execution_deadline_at LIMIT 50;
-- TERMINAL by each row's own retention
EXPLAIN (COSTS OFF)
SELECT execution_id FROM ff.execution WHERE lifecycle_phase = 'terminal' AND purge_after <= 1700000000000
ORDER BY purge_after LIMIT 20;
-- BLOCKED_* for the unblock scanner
EXPLAIN (COSTS OFF)
SELECT execution_id FROM ff.execution WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'blocked_by_route'
ORDER BY created_at LIMIT 100;
-- WORKER_LEASES(worker_instance_id)
EXPLAIN (COSTS OFF)
SELECT execution_id FROM ff.execution WHERE ownership_state = 'leased' AND current_worker_instance_id = 'w1-a';
-- ff.claim_next's reclaim candidates: the lane's expired or revoked leases
EXPLAIN (COSTS OFF)
SELECT e.execution_id FROM ff.execution e
WHERE lane_id = 'default' AND lifecycle_phase = 'active'
  AND (ownership_state IN ('lease_expired_reclaimable', 'lease_revoked') OR lease_expires_at <= 1700000000000)
ORDER BY lease_expires_at LIMIT 10 FOR UPDATE OF e SKIP LOCKED;
