#!/usr/bin/env bash
# Scanner benchmark (issue 6): how long the delayed promoter takes to make
# 100 000 due executions eligible, and the lease-expiry scanner to mark
# 100 000 expired leases, in a table of 200 000 rows (just those) and of
# 1 000 000 rows (plus 800 000 terminal ones).
# Each batch is its own committed transaction, as in the engine worker.
# Cost must grow with the due items, not with the table: compare the
# per-item figures of the two sizes.  Durable cluster (fsync on).
#   bash test/bench/scanners.sh            (DUE=100000 SIZES="100000 1000000")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DUE=${DUE:-100000}
SIZES=${SIZES:-"200000 1000000"}
BATCH=${BATCH:-50}
bench_cluster

results=$(mktemp)
# warm-up, not reported: the fresh cluster allocates its WAL segments here
psql -X -q -c "CREATE DATABASE bench_warmup" >/dev/null
psql -X -q -d bench_warmup -c "CREATE TABLE w AS SELECT g, md5(g::text) FROM generate_series(1, 3000000) g" -c "CHECKPOINT" >/dev/null
psql -X -q -c "DROP DATABASE bench_warmup" >/dev/null
for size in $SIZES; do
  db=bench_$size
  psql -X -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  psql -X -q -d $db -v ON_ERROR_STOP=1 -v size=$size -v due=$DUE -v batch=$BATCH >>"$results" <<'SQL'
CREATE EXTENSION ff_engine;
-- the scanners, as the worker runs them: one batch per committed transaction
CREATE PROCEDURE drain(scanner text, batch integer, INOUT total bigint DEFAULT 0, INOUT batches integer DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  LOOP
    r := CASE scanner WHEN 'delayed' THEN ff.scan_delayed(batch) ELSE ff.scan_lease_expiry(batch) END;
    COMMIT;
    total := total + (r ->> 'processed')::bigint;
    batches := batches + 1;
    EXIT WHEN NOT (r ->> 'more')::boolean;
  END LOOP;
END $$;
-- filler: terminal executions (retention far away), so the table is :size rows
INSERT INTO ff.execution (partition, execution_id, namespace, lane_id, lifecycle_phase, ownership_state,
    eligibility_state, blocking_reason, terminal_outcome, attempt_state, public_state, created_at,
    last_transition_at, last_mutation_at, completed_at, purge_after)
SELECT g % 256, gen_random_uuid(), 'default', 'default', 'terminal', 'unowned', 'not_applicable', 'none',
       'success', 'attempt_terminal', 'completed', 1, 1, 1, 1, 9e15::bigint
FROM generate_series(1, greatest(:size - 2 * :due, 0)) g;
-- :due delayed executions, all due
INSERT INTO ff.execution (partition, execution_id, namespace, lane_id, lifecycle_phase, ownership_state,
    eligibility_state, blocking_reason, terminal_outcome, attempt_state, public_state, created_at,
    last_transition_at, last_mutation_at, delay_until)
SELECT g % 256, gen_random_uuid(), 'default', 'default', 'runnable', 'unowned', 'not_eligible_until_time',
       'waiting_for_delay', 'none', 'pending_first_attempt', 'delayed', 1, 1, 1, ff.now_ms() - 1000
FROM generate_series(1, :due) g;
-- :due leased executions whose lease has expired
INSERT INTO ff.execution (partition, execution_id, namespace, lane_id, lifecycle_phase, ownership_state,
    eligibility_state, blocking_reason, terminal_outcome, attempt_state, public_state, created_at,
    last_transition_at, last_mutation_at, total_attempt_count, current_attempt_index, current_attempt_id,
    current_lease_id, current_lease_epoch, current_worker_id, current_worker_instance_id, lease_expires_at)
SELECT g % 256, gen_random_uuid(), 'default', 'default', 'active', 'leased', 'not_applicable', 'none',
       'none', 'running_attempt', 'active', 1, 1, 1, 1, 0, gen_random_uuid(), gen_random_uuid(), 1, 'w', 'w-1',
       ff.now_ms() - 1000
FROM generate_series(1, :due) g;
VACUUM ANALYZE ff.execution;
\pset format unaligned
\pset tuples_only on
\echo PLAN :size delayed
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT e.execution_id FROM ff.execution e
WHERE e.lifecycle_phase = 'runnable' AND e.eligibility_state = 'not_eligible_until_time' AND e.delay_until <= ff.now_ms()
ORDER BY e.delay_until LIMIT 50 FOR UPDATE OF e SKIP LOCKED;
\echo PLAN :size lease_expiry
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT e.execution_id FROM ff.execution e
WHERE e.lifecycle_phase = 'active' AND e.ownership_state = 'leased' AND e.lease_expires_at <= ff.now_ms()
ORDER BY e.lease_expires_at LIMIT 50 FOR UPDATE OF e SKIP LOCKED;
SELECT clock_timestamp() AS t0 \gset
CALL drain('delayed', :batch);
SELECT 'RESULT|' || :size || '|delayed|' || count(*) FILTER (WHERE public_state = 'waiting') || '|'
       || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) FROM ff.execution;
SELECT clock_timestamp() AS t0 \gset
CALL drain('lease_expiry', :batch);
SELECT 'RESULT|' || :size || '|lease_expiry|' || count(*) FILTER (WHERE ownership_state = 'lease_expired_reclaimable') || '|'
       || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) FROM ff.execution;
SELECT 'SIZE|' || :size || '|' || count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('ff.execution')) FROM ff.execution;
SQL
  psql -X -q -c "DROP DATABASE $db" >/dev/null
done
stop_cluster

echo
echo "Plans (index scans; rows and buffers touched per batch of $BATCH):"
grep -vE '^(RESULT|SIZE)' "$results" | grep -E 'PLAN|Scan|Buffers|Index Cond|Limit|rows=' | sed 's/^/  /'
echo
echo "Scanner drain, $DUE due items, batches of $BATCH, one commit per batch, fsync on ($(nproc) cores):"
printf '%-10s %-13s %9s %9s %10s %12s\n' "table" "scanner" "items" "seconds" "items/s" "us/item"
grep '^RESULT' "$results" | while IFS='|' read -r _ size scanner items secs; do
  awk -v s="$size" -v sc="$scanner" -v i="$items" -v t="$secs" \
    'BEGIN { printf "%-10s %-13s %9d %9.2f %10.0f %12.1f\n", s, sc, i, t, i / t, t * 1e6 / i }'
done
grep '^SIZE' "$results" | while IFS='|' read -r _ size pretty; do echo "  table $size: $pretty (indexes included)"; done
rm -f "$results"
