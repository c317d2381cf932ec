#!/usr/bin/env bash
# Instructions per job (issue 21): the drain loop of instructions/*.sql run
# by one backend under callgrind, for ff_engine and for the lease-queue floor
# (../shared/peers/sqlq/lease_*) in the same run.  Instruction counts do not
# move with the machine's load (the same build counts the same within
# 0.05 %), so a change to the hot path can be weighed on a noisy machine
# where jobs/s cannot; they say nothing of commits, WAL flushes or locks.
# Each workload runs in a single-user backend on the benchmark cluster's
# data (stopped for it, synchronous_commit off): a warm-up call of 2 claims,
# then the measured one; only the CALLs are counted.
#   bash test/bench/instructions.sh      (NI=1000 jobs per item, NB=3000 batched;
#   KEEP=DIR keeps the callgrind files there, for callgrind_annotate)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NI=${NI:-1000}
NB=${NB:-3000}
PEERDIR=$(cd "$FF_ROOT/../shared/peers" && pwd)
HERE=$FF_ROOT/test/bench/instructions
command -v callgrind_annotate >/dev/null || as_root apt-get install -y -qq valgrind >/dev/null
bench_cluster
psql -X -q -c "CREATE DATABASE instr_ff" -c "CREATE DATABASE instr_floor" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d instr_ff -c "CREATE EXTENSION ff_engine" -f "$HERE/ff_drain.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d instr_ff >/dev/null <<SQL
SELECT count(ff.create_execution(ff.execution_id('item'), lane_id => 'item')) FROM generate_series(1, $NI + 10);
SELECT count(ff.create_execution(ff.execution_id('batch'), lane_id => 'batch')) FROM generate_series(1, $NB + 300);
VACUUM ANALYZE ff.execution;
SQL
psql -X -q -v ON_ERROR_STOP=1 -d instr_floor -f "$PEERDIR/sqlq/lease_schema.sql" -f "$HERE/floor_drain.sql" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d instr_floor >/dev/null <<SQL
INSERT INTO lq (lane, payload) SELECT 'item', jsonb_build_object('i', g) FROM generate_series(1, $NI + 10) g;
INSERT INTO lq (lane, payload) SELECT 'batch', jsonb_build_object('i', g) FROM generate_series(1, $NB + 300) g;
VACUUM ANALYZE lq;
SQL
as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -m fast -w stop >/dev/null
work=$(mktemp -d)
chmod 777 "$work"
# count <database> <lane> <jobs> <per call>: instructions per job
count() {
  local db=$1 lane=$2 n=$3 k=$4 tot
  printf "CALL public.bench_drain(%d, %d, '%s')\nCALL public.bench_drain(%d, %d, '%s')\n" \
    $((2 * k)) "$k" "$lane" "$n" "$k" "$lane" >"$work/$db.$lane.sql"
  as_postgres valgrind --tool=callgrind --callgrind-out-file="$work/$db.$lane.out" \
    --collect-atstart=no --toggle-collect=ExecuteCallStmt \
    $PGBIN/postgres --single -D "$FF_PGDATA" -c synchronous_commit=off "$db" \
    <"$work/$db.$lane.sql" >"$work/$db.$lane.log" 2>&1 || { tail -5 "$work/$db.$lane.log" >&2; return 1; }
  tot=$(callgrind_annotate "$work/$db.$lane.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo $((tot / (n + 2 * k)))
}
fi=$(count instr_ff item "$NI" 1)
li=$(count instr_floor item "$NI" 1)
fb=$(count instr_ff batch "$NB" 100)
lb=$(count instr_floor batch "$NB" 100)
echo
echo "Instructions per job (callgrind, one backend, the CALLs only; $NI jobs per item, $NB batched)"
printf "%-44s %12s %12s %8s\n" "workload" "ff_engine" "floor" "ff/floor"
printf "%-44s %12s %12s %8s\n" "per item (claim 1 + complete 1)" "$fi" "$li" "$(ratio "$fi" "$li")"
printf "%-44s %12s %12s %8s\n" "batched (claim 100 + complete 100)" "$fb" "$lb" "$(ratio "$fb" "$lb")"
bench_row "instructions per job, per item" "$fi" "floor $li" "$(ratio "$fi" "$li")" "(CPU only; no target)"
bench_row "instructions per job, batched" "$fb" "floor $lb" "$(ratio "$fb" "$lb")" "(CPU only; no target)"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/*.out "$KEEP"/; fi
rm -rf "$work"
