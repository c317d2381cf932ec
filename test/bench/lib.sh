# Shared by the benchmark scripts (sourced first): test/lib.sh's cluster
# helpers, pgbench_stats.sh's summaries and the setup every script repeats.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pgbench_stats.sh"

# bench_cluster: the build installed and a fresh durable cluster started
# (start_cluster's FF_* settings pass through: FF_LISTEN=... bench_cluster).
bench_cluster() {
  ensure_deps
  build_install
  FF_DURABLE=1 start_cluster
}

# bench_work: $work, a scratch directory pgbench (user postgres) can write.
bench_work() {
  work=$(mktemp -d)
  chmod 777 "$work"
}

# bench_db <name> [engine]: a database with ff_engine created in it, B's
# database from then on; "engine": the engine worker runs in it.
bench_db() {
  BENCH_DB=$1
  psql -X -q -c "CREATE DATABASE $1" >/dev/null
  if [ "${2:-}" = engine ]; then psql -X -q -c "ALTER DATABASE $1 SET ff_engine.enabled = on" >/dev/null; fi
  B -c "CREATE EXTENSION ff_engine" >/dev/null
}
B() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }

# summary_table <width> <heading> <unit> <label> <results file> [<label> <file> ...]:
# the median / min / max / p50 / p99 table of pgbench_stats.sh's results.
summary_table() {
  local w=$1 heading=$2 unit=$3
  shift 3
  printf "%-${w}s %8s %8s %8s %9s %9s\n" "$heading" "$unit" "min" "max" "p50 ms" "p99 ms"
  while [ $# -ge 2 ]; do
    printf "%-${w}s %s\n" "$1" "$(summary "$2")"
    shift 2
  done
}

# median_ratio <results a> <results b>: median rate of a over that of b.
median_ratio() {
  ratio "$(awk '{print $1}' "$1" | median)" "$(awk '{print $1}' "$2" | median)"
}

# lat_table <label width> <count noun> <order> <mode> <label> [<mode> <label> ...]:
# per mode of table lat (mode, ms): runs, p50, p99 and max in ms.
lat_table() {
  local w=$1 noun=$2 order=$3 cases=""
  shift 3
  while [ $# -ge 2 ]; do cases="$cases WHEN '$1' THEN '$2'"; shift 2; done
  B -F '|' -c "SELECT CASE mode $cases ELSE mode END, count(*),
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms)
               FROM lat GROUP BY mode ORDER BY mode $order" |
    awk -F'|' -v w="$w" -v noun="$noun" '{printf "  %-*s %4d %s  p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", w, $1, $2, noun, $3, $4, $5}'
}
