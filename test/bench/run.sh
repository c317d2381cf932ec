#!/usr/bin/env bash
# Issue 9's benchmarks in one command, one table at the end: drain
# (per item at 1 / 4 / 16 clients and batched, against the bare SKIP LOCKED
# queue, graphile-worker and pg-boss), create -> claim latency, enqueue,
# storage after 1 000 000 executions and the 10-minute soak.  Each script
# runs on its own fresh durable cluster, one after the other (about 32
# minutes in all); each prints its own detailed table into its log.
#   bash test/bench/run.sh                  (every benchmark)
#   BENCHES="drain latency" bash test/bench/run.sh
# The scripts' own variables apply (N, REPS, MINUTES, ...).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCHES=${BENCHES:-drain instructions latency enqueue storage soak flow_cancel conc_keys schedules}
out=$(mktemp -d /tmp/ff_bench.XXXXXX)
chmod 755 "$out"
export FF_BENCH_SUMMARY=$out/summary.tsv
: >"$FF_BENCH_SUMMARY"
ensure_deps

failed=""
for b in $BENCHES; do
  [ -f "$FF_ROOT/test/bench/$b.sh" ] || { echo "no benchmark test/bench/$b.sh" >&2; exit 2; }
  say "$b (log: $out/$b.log)"
  start=$(date +%s)
  if bash "$FF_ROOT/test/bench/$b.sh" >"$out/$b.log" 2>&1; then
    echo "    $(($(date +%s) - start)) s"
  else
    failed="$failed $b"
    echo "    FAILED after $(($(date +%s) - start)) s; the end of its log:"
    tail -n 15 "$out/$b.log" | sed 's/^/    /'
  fi
done

# the machine, and its disk's sync time (every figure bound by commits follows it)
sync=$(cd "$out" && $PGBIN/pg_test_fsync -s 1 -f "$out/fsync.test" 2>/dev/null |
       awk '/^Compare file sync methods using one 8kB write/ {on = 1} on && /^ +fdatasync +[0-9]/ {print $(NF - 1) " us"; exit}')
rm -f "$out/fsync.test"
echo
echo "ff_engine benchmarks (issue 9): $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
     "PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'), fsync and synchronous_commit on, one 8 kB fdatasync: ${sync:-?}"
echo "Figures are medians of the runs with (min-max); baselines ran on the same cluster in the same script."
echo
{
  printf 'benchmark\tff_engine\tbaseline (same run)\tratio\ttarget\n'
  cat "$FF_BENCH_SUMMARY"
} | awk -F'\t' '
  { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
  END {
    for (r = 1; r <= n; r++) {
      line = ""
      for (i = 1; i <= 5; i++) line = line sprintf("%-" w[i] "s", c[r, i]) (i < 5 ? " | " : "")
      sub(/ +$/, "", line); print line
      if (r == 1) { line = ""; for (i = 1; i <= 5; i++) { s = ""; for (k = 0; k < w[i]; k++) s = s "-"; line = line s (i < 5 ? "-|-" : "") } print line }
    }
  }'
echo
echo "Detailed output of each benchmark: $out/<name>.log"
[ -z "$failed" ] || { echo "FAILED:$failed"; exit 1; }
