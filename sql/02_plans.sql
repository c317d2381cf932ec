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
-- SUSPENSION_TIMEOUT: open suspensions past their timeout
EXPLAIN (COSTS OFF)
SELECT s.execution_id FROM ff.suspension s JOIN ff.execution e ON e.partition = s.partition AND e.execution_id = s.execution_id
WHERE s.closed_at IS NULL AND s.timeout_at <= 1700000000000 AND e.lifecycle_phase = 'suspended'
ORDER BY s.timeout_at, s.partition, s.execution_id LIMIT 50 FOR UPDATE OF e SKIP LOCKED;
-- PENDING_WP_EXPIRY: pending waitpoints past their expiry
EXPLAIN (COSTS OFF)
SELECT w.waitpoint_id FROM ff.waitpoint w WHERE w.state = 'pending' AND w.expires_at <= 1700000000000
ORDER BY w.expires_at, w.partition, w.waitpoint_id LIMIT 100 FOR UPDATE OF w SKIP LOCKED;
-- a waitpoint's signal log, in order (activation replay)
EXPLAIN (COSTS OFF)
SELECT signal_id FROM ff.signal WHERE partition = 0 AND waitpoint_id = '00000000-0000-4000-a000-000000000001'
ORDER BY seq DESC LIMIT 1000;
-- Statements the engine keeps as generic plans (planned once per backend,
-- whatever the arguments) must still be served by the indexes.
SET plan_cache_mode = force_generic_plan;
-- ff.claim_next's candidates, with their payload
PREPARE candidates(text, text[], bigint, int, text[]) AS
SELECT e.execution_id, (SELECT d.payload FROM ff.execution_data d WHERE d.partition = e.partition AND d.execution_id = e.execution_id)
FROM ff.execution e
WHERE lane_id = $1 AND lifecycle_phase = 'runnable' AND eligibility_state = 'eligible_now'
  AND (required_capabilities IS NULL OR required_capabilities <@ $2)
  AND ($5::text[] IS NULL OR namespace = ANY ($5))
  AND NOT EXISTS (SELECT 1 FROM ff.claim_grant g WHERE g.partition = e.partition AND g.execution_id = e.execution_id AND g.grant_expires_at >= $3)
ORDER BY priority DESC, created_at, partition, execution_id LIMIT $4 FOR UPDATE OF e SKIP LOCKED;
EXPLAIN (COSTS OFF) EXECUTE candidates('default', '{}', 0, 10, NULL);
-- ff.claim_next's reclaim candidates, each statement on its own index (no
-- index of all active executions, which every claim would insert into):
-- the lane's leases marked expired or revoked (LEASE_LOST) ...
PREPARE lost_candidates(text, int) AS
SELECT e.execution_id FROM ff.execution e
WHERE lane_id = $1 AND lifecycle_phase = 'active'
  AND ownership_state IN ('lease_expired_reclaimable', 'lease_revoked')
ORDER BY lease_expires_at LIMIT $2 FOR UPDATE OF e SKIP LOCKED;
EXPLAIN (COSTS OFF) EXECUTE lost_candidates('default', 10);
-- ... then its leases past their expiry (LEASE_EXPIRY)
PREPARE expired_candidates(text, bigint, int) AS
SELECT e.execution_id FROM ff.execution e
WHERE lifecycle_phase = 'active' AND ownership_state = 'leased'
  AND lease_expires_at <= $2 AND lane_id = $1
ORDER BY lease_expires_at LIMIT $3 FOR UPDATE OF e SKIP LOCKED;
EXPLAIN (COSTS OFF) EXECUTE expired_candidates('default', 1700000000000, 10);
-- ff.list_expired_leases: both indexes, every lane
EXPLAIN (COSTS OFF)
SELECT e.execution_id FROM ff.execution e
WHERE e.lifecycle_phase = 'active' AND e.ownership_state = 'leased' AND e.lease_expires_at <= 1700000000000
UNION ALL
SELECT e.execution_id FROM ff.execution e
WHERE e.lifecycle_phase = 'active' AND e.ownership_state IN ('lease_expired_reclaimable', 'lease_revoked')
  AND e.lease_expires_at <= 1700000000000;
-- A batch's statements reach rows by key and are planned as index lookups
-- even over an empty table (FFPlan.key_lookups: sequential and bitmap
-- scans, hash and merge joins off, as a generic plan made while a table is
-- small is kept as it grows).  Its executions, locked by one statement in
-- id order:
SET enable_hashjoin = off;
SET enable_mergejoin = off;
-- a batch's executions, locked by one statement in id order
PREPARE lock_many(int2[], uuid[]) AS
SELECT execution_id FROM ff.execution WHERE (partition, execution_id) IN
  (SELECT v.p, v.u FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS v(p, u))
ORDER BY partition, execution_id FOR UPDATE;
EXPLAIN (COSTS OFF) EXECUTE lock_many('{1}', '{00000000-0000-4000-8000-000000000001}');
-- its deferred writes: one statement per table for all its rows, given as
-- one array of rows
PREPARE store_many(record[]) AS
UPDATE ff.execution e SET priority = v.a3
FROM pg_catalog.unnest($1) AS v(a1 smallint, a2 uuid, a3 integer)
WHERE e.partition = v.a1 AND e.execution_id = v.a2;
EXPLAIN (COSTS OFF) EXECUTE store_many(ARRAY[ROW(1::int2, '00000000-0000-4000-8000-000000000001'::uuid, 0)]);
PREPARE end_attempts(record[]) AS
UPDATE ff.attempt_record t SET ended_at = v.a4
FROM pg_catalog.unnest($1) AS v(a1 smallint, a2 uuid, a3 integer, a4 bigint)
WHERE t.partition = v.a1 AND t.execution_id = v.a2 AND t.attempt_index = v.a3;
EXPLAIN (COSTS OFF) EXECUTE end_attempts(ARRAY[ROW(1::int2, '00000000-0000-4000-8000-000000000001'::uuid, 0, 0::bigint)]);
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET plan_cache_mode;
