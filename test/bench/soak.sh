#!/usr/bin/env bash
# Soak (issue 9): MINUTES minutes at a steady 70% of the measured peak, with
# retention trimming on (terminal executions kept 60 s, trimmed every 5 s by
# the engine worker).  Producers submit at the rate; consumers claim and
# complete (in one transaction) as work appears.  Every 30 s: completions
# in the interval (half the update counter of ff.execution: a claim and a
# completion update the row once each, and the counter survives trimming;
# ff.completion_event holds rows only for flows' executions by default),
# the backlog, dead tuples and the size of every ff table.  Reports the last minute's throughput against the first's and
# the size over time.
#   bash test/bench/soak.sh        (MINUTES=10)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MINUTES=${MINUTES:-10}
bench_cluster
bench_work
psql -X -q -c "CREATE DATABASE bench_soak" -c "ALTER DATABASE bench_soak SET ff_engine.enabled = on" \
     -c "ALTER SYSTEM SET ff_engine.default_retention = 60" -c "ALTER SYSTEM SET ff_engine.retention_interval = '5s'" \
     -c "SELECT pg_reload_conf()" >/dev/null
psql -X -q -d bench_soak -c "CREATE EXTENSION ff_engine" >/dev/null
export PGDATABASE=bench_soak
cat > "$work/produce.sql" <<'SQL'
SELECT ff.create_execution(ff.execution_id('soak'), lane_id => 'soak', input_payload => '\x7b7d');
SQL
cat > "$work/consume.sql" <<'SQL'
SELECT count(ff.complete_execution(c.claim->>'execution_id', (c.claim->>'lease_id')::uuid,
       (c.claim->>'lease_epoch')::bigint, (c.claim->>'attempt_id')::uuid))
FROM ff.claim_next('soak', 'bench', 'bench-' || :client_id) c;
SQL
completions() { psql -X -q -At -c "SELECT coalesce(n_tup_upd, 0) / 2 FROM pg_stat_user_tables WHERE relid = 'ff.execution'::regclass"; }

# the peak: 4 consumers draining a backlog for 15 s
for _ in 1 2; do psql -X -q -c "SELECT count(*) FROM ff.create_executions(ARRAY(SELECT ff.execution_id('soak') FROM generate_series(1, 10000)), 'soak')" >/dev/null; done
sleep 1; c0=$(completions)
pgbench -n -c 4 -j 2 -T 15 -f "$work/consume.sql" >/dev/null 2>&1
sleep 1; c1=$(completions)
peak=$(( (c1 - c0) / 15 ))
[ "$peak" -gt 0 ] || { echo "no peak measured (the consumers completed nothing)"; stop_cluster; exit 1; }
rate=$(( peak * 7 / 10 ))
psql -X -q -c "TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant" \
     -c "VACUUM ANALYZE" >/dev/null
echo "peak $peak completions/s; soak at $rate/s for $MINUTES min"

secs=$((MINUTES * 60))
# the load runs past the last sample (the samples drift by their own
# queries' time): every sampled interval is under load
pgbench -n -c 2 -j 2 -R "$rate" -T "$((secs + 30))" -f "$work/produce.sql" >"$work/produce.out" 2>&1 &
pgbench -n -c 4 -j 2 -R $((rate * 2)) -T "$((secs + 30))" -f "$work/consume.sql" >"$work/consume.out" 2>&1 &
prev=$(completions)
prev_at=$(date +%s.%N)
echo "t_s completions_per_s backlog dead_tuples ff_bytes" >"$work/samples"
for t in $(seq 30 30 "$secs"); do
  sleep 30
  now=$(completions)
  now_at=$(date +%s.%N)
  psql -X -q -At -F ' ' -c "SELECT $t, round(($now - $prev) / ($now_at - $prev_at)), (SELECT count(*) FROM ff.execution WHERE lifecycle_phase <> 'terminal'),
      (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'ff.execution'::regclass),
      (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'ff' AND c.relkind = 'r')" >>"$work/samples"
  prev=$now
  prev_at=$now_at
done
wait
stop_cluster

echo
echo "Soak: $MINUTES min at $rate/s (70% of a $peak/s peak), retention 60 s, fsync on ($(nproc) cores)"
column -t "$work/samples"
first=$(awk 'NR == 2 || NR == 3 {s += $2} END {print s / 2}' "$work/samples")
last=$(tail -n 2 "$work/samples" | awk '{s += $2} END {print s / 2}')
r=$(ratio "$last" "$first")
at2=$(awk 'NR == 5 {print $5}' "$work/samples")
echo "first minute: $first/s, last minute: $last/s, ratio $r (target >= 0.95)"
echo "size after 2 min: $at2 bytes; at the end: $(tail -n 1 "$work/samples" | awk '{print $5}') bytes"
grep -h "number of transactions actually processed\|tps" "$work"/produce.out "$work"/consume.out | head -4
mb() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1048576}'; }
bench_row "soak $MINUTES min at $rate/s, completions/s last minute (first)" "$last ($first); ff tables $(mb "$at2") MB at 2 min, $(mb "$(awk 'NR > 5 {print $5}' "$work/samples" | sort -n | head -1)")-$(mb "$(awk 'NR > 5 {print $5}' "$work/samples" | sort -n | tail -1)") MB after" \
  "" "$r" ">= 0.95: $(verdict "$r" ge 0.95)"
rm -rf "$work"
