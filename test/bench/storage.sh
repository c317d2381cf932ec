#!/usr/bin/env bash
# Storage benchmark (issue 9): bytes per execution (tables + indexes +
# TOAST of every ff table) after N executions were submitted, claimed in
# batches of 100 and completed, and the HOT-update ratio of the core table
# over that drain.  Baseline in the same run: the bare SKIP LOCKED queue's
# table (../shared/peers/sqlq) holding the same N jobs before they are
# drained (it deletes a job when done, so it keeps nothing to compare after).
#   bash test/bench/storage.sh        (N=1000000; N=200000 takes ~3 minutes)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${N:-1000000}
PEERDIR=$(cd "$FF_ROOT/../shared/peers" && pwd)
bench_cluster
bench_db bench_storage
psql -X -q -c "CREATE DATABASE peer_sql" >/dev/null
B >/dev/null <<'SQL'
CREATE PROCEDURE submit(n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR k IN 0..(n - 1) / 10000 LOOP
    PERFORM ff.create_executions(ARRAY(SELECT ff.execution_id('store') FROM generate_series(1, least(10000, n - k * 10000))),
                                 lane_id => 'store', input_payloads => ARRAY(SELECT convert_to('{"i": ' || g || '}', 'UTF8') FROM generate_series(1, least(10000, n - k * 10000)) g));
    COMMIT;
  END LOOP;
END $$;
CREATE PROCEDURE drain() LANGUAGE plpgsql AS $$
DECLARE ids text[]; l uuid[]; e bigint[]; a uuid[];
BEGIN
  LOOP
    SELECT array_agg(claim->>'execution_id'), array_agg((claim->>'lease_id')::uuid), array_agg((claim->>'lease_epoch')::bigint), array_agg((claim->>'attempt_id')::uuid)
      INTO ids, l, e, a FROM ff.claim_next('store', 'w', 'w-1', max_count => 100);
    EXIT WHEN ids IS NULL;
    COMMIT;
    PERFORM ff.complete_executions(ids, l, e, a, array_fill('ok'::bytea, ARRAY[cardinality(ids)]));
    COMMIT;
  END LOOP;
END $$;
CREATE VIEW ff_size AS
SELECT c.relname, pg_total_relation_size(c.oid) AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'ff' AND c.relkind = 'r';
SQL
t0=$(date +%s)
B -c "CALL submit($N)"
B -c "SELECT pg_stat_reset()" >/dev/null
B -c "CALL drain()"
t1=$(date +%s)
B -c "VACUUM ANALYZE" >/dev/null
sleep 1   # statistics reach the cumulative stats system
done=$(B -c "SELECT count(*) FROM ff.execution WHERE public_state = 'completed'")
psql -X -q -d peer_sql -f "$PEERDIR/sqlq/schema.sql" >/dev/null 2>&1
psql -X -q -d peer_sql -v n="$N" -f "$PEERDIR/sqlq/fill.sql" >/dev/null 2>&1
qbytes=$(psql -X -q -At -d peer_sql -c "SELECT pg_total_relation_size('q')")

echo
echo "Storage after $N executions submitted, claimed (batches of 100) and completed ($done completed, $((t1 - t0)) s):"
B -F '|' -c "SELECT relname, bytes FROM ff_size WHERE bytes > 8192 * 4 ORDER BY bytes DESC" | awk -F'|' -v n="$N" '{printf "  %-22s %10.1f MB  %7.1f bytes/execution\n", $1, $2 / 1048576, $2 / n}'
total=$(B -c "SELECT sum(bytes) FROM ff_size")
awk -v b="$total" -v n="$N" 'BEGIN {printf "  %-22s %10.1f MB  %7.1f bytes/execution\n", "all ff tables", b / 1048576, b / n}'
echo "  bare SKIP LOCKED queue, $N jobs waiting: $(awk -v b="$qbytes" -v n="$N" 'BEGIN {printf "%.1f MB, %.1f bytes/job", b / 1048576, b / n}')"
IFS='|' read -r upd hot_upd hot < <(B -F '|' -c "SELECT n_tup_upd, n_tup_hot_upd, coalesce(round(100.0 * n_tup_hot_upd / nullif(n_tup_upd, 0), 1), 0) FROM pg_stat_user_tables WHERE schemaname = 'ff' AND relname = 'execution'")
echo "  ff.execution updates over the drain: $upd, HOT: $hot_upd ($hot %)"
bench_row "storage after $N completed, bytes/execution" "$(awk -v b="$total" -v n="$N" 'BEGIN {printf "%.0f", b / n}') (HOT updates of the core row: $hot %)" "bare queue, jobs waiting: $((qbytes / N))" "" ""
stop_cluster
