# Shared by the pgbench-driven benchmarks (sourced): one run of a script
# with per-transaction logging, and the median / min / max summary.
# Needs $work (a scratch directory), $CLIENTS and either $SECS (-T) or
# $TXNS (-t, transactions per client).

# pgbench_run <name> <rep>: runs $work/<name>.sql, prints "tps p50_us p99_us"
pgbench_run() {
  local name=$1 rep=$2 dir="$work/$1.$2" length
  if [ -n "${TXNS:-}" ]; then length="-t $TXNS"; else length="-T $SECS"; fi
  mkdir -p "$dir" && chmod 777 "$dir"
  (cd "$dir" && pgbench -n -c "$CLIENTS" -j 2 $length -l -f "$work/$name.sql" >"$dir/out" 2>&1)
  local tps=$(grep -oP 'tps = \K[0-9.]+' "$dir/out" | head -1)
  cat "$dir"/pgbench_log.* | awk '{print $3}' | sort -n >"$dir/lat"
  local n=$(wc -l <"$dir/lat")
  local p50=$(sed -n "$((n * 50 / 100 + 1))p" "$dir/lat")
  local p99=$(sed -n "$((n * 99 / 100 + 1))p" "$dir/lat")
  echo "$tps $p50 $p99"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# summary <results file>: "rate_median rate_min rate_max p50_ms p99_ms"
summary() {
  local f=$1
  local tps_med=$(awk '{print $1}' "$f" | median)
  local tps_min=$(awk '{print $1}' "$f" | sort -n | head -1)
  local tps_max=$(awk '{print $1}' "$f" | sort -n | tail -1)
  local p50=$(awk '{print $2}' "$f" | median)
  local p99=$(awk '{print $3}' "$f" | median)
  printf '%8.0f %8.0f %8.0f %9.2f %9.2f' "$tps_med" "$tps_min" "$tps_max" "$(awk -v v="$p50" 'BEGIN {print v / 1000}')" "$(awk -v v="$p99" 'BEGIN {print v / 1000}')"
}
