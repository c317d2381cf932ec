#!/usr/bin/env bash
# Enqueue benchmark (issue 9): submissions per second, single (one
# ff.create_execution per transaction) and bulk (ff.create_executions of
# 100 per transaction), against the bare SKIP LOCKED queue's INSERT
# (../shared/peers/sqlq) single and 100 rows per INSERT, on one durable
# cluster in the same run.  CLIENTS clients, SECS seconds, median of REPS
# runs with min and max; the figure is executions (jobs) per second.
#   bash test/bench/enqueue.sh        (CLIENTS=4 SECS=10 REPS=3)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLIENTS=${CLIENTS:-4}
SECS=${SECS:-10}
REPS=${REPS:-3}
PEERDIR=$(cd "$FF_ROOT/../shared/peers" && pwd)
bench_cluster
bench_work
bench_db bench_enq engine
psql -X -q -c "CREATE DATABASE peer_sql" >/dev/null
psql -X -q -d peer_sql -f "$PEERDIR/sqlq/schema.sql" >/dev/null

cat > "$work/ff_single.sql" <<'SQL'
SELECT ff.create_execution(ff.execution_id('enq'), lane_id => 'enq', input_payload => '\x7b7d');
SQL
cat > "$work/ff_bulk.sql" <<'SQL'
SELECT ff.create_executions(ARRAY(SELECT ff.execution_id('enq') FROM generate_series(1, 100)), 'enq',
                            ARRAY(SELECT '\x7b7d'::bytea FROM generate_series(1, 100)));
SQL
cp "$PEERDIR/sqlq/enqueue.pgbench" "$work/q_single.sql"
cat > "$work/q_bulk.sql" <<'SQL'
INSERT INTO q (payload) SELECT '{"i":1}' FROM generate_series(1, 100);
SQL

run() {  # run <name> <db> <rep> <per_txn>: appends "jobs_per_s p50 p99"
  local name=$1 db=$2 rep=$3 per=$4
  PGDATABASE=$db pgbench_run "$name" "$rep" | awk -v k="$per" '{printf "%.0f %s %s\n", $1 * k, $2, $3}' >>"$work/$name.results"
}
for rep in $(seq 1 "$REPS"); do
  run ff_single bench_enq "$rep" 1
  run q_single peer_sql "$rep" 1
  run ff_bulk bench_enq "$rep" 100
  run q_bulk peer_sql "$rep" 100
done
created=$(psql -X -q -At -d bench_enq -c "SELECT count(*) FROM ff.execution")
inserted=$(psql -X -q -At -d peer_sql -c "SELECT count(*) FROM q")
stop_cluster

echo
echo "Enqueue: $CLIENTS clients, ${SECS}s x $REPS runs, fsync on ($(nproc) cores); jobs per second (p50/p99 per transaction)"
summary_table 46 "" jobs/s "ff.create_execution, one per transaction" "$work/ff_single.results" \
  "bare queue INSERT, one per transaction" "$work/q_single.results" \
  "ff.create_executions, 100 per transaction" "$work/ff_bulk.results" "bare queue INSERT of 100 rows" "$work/q_bulk.results"
for k in single bulk; do
  r=$(median_ratio "$work/ff_$k.results" "$work/q_$k.results")
  echo "ratio ff/bare queue, $k: $r"
  [ $k = single ] && what="one ff.create_execution per transaction" || what="ff.create_executions of 100"
  bench_row "enqueue, $CLIENTS clients, $what, jobs/s" "$(awk '{print $1}' "$work/ff_$k.results" | spread)" \
    "bare queue INSERT $(awk '{print $1}' "$work/q_$k.results" | spread)" "$r" ""
done
echo "executions created: $created; queue rows inserted: $inserted"
rm -rf "$work"
