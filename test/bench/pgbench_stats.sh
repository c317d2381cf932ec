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

# bench_row <benchmark> <ff_engine figure> <baseline figure> <ratio> <target>:
# one row of the table test/bench/run.sh prints, appended to
# $FF_BENCH_SUMMARY when a script runs under it (fields tab-separated).
bench_row() {
  [ -z "${FF_BENCH_SUMMARY:-}" ] || printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$FF_BENCH_SUMMARY"
}

# spread: numbers on stdin -> "median (min-max)", rounded to PLACES (0).
spread() {
  sort -g | awk -v d="${PLACES:-0}" '{a[NR] = $1} END {if (NR) printf "%.*f (%.*f-%.*f)", d, a[int((NR + 1) / 2)], d, a[1], d, a[NR]}'
}

# ratio <a> <b>: a / b to two places; verdict <value> <ge|le> <target>: met or NOT met
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
verdict() {
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {ok = (op == "ge") ? v >= t : v <= t; print (ok ? "met" : "NOT met")}'
}
