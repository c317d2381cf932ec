#!/usr/bin/env bash
# Router benchmark (issue 25): the lifecycle workload (create one execution,
# claim one and complete it, per transaction) direct to one server, through
# the PL/Proxy router to one shard, and through it to two and four shards,
# in one run on five local clusters; then the router's cost per call (one
# client, a one-row read by execution id, direct and routed).
# Last, the worker question: drain N executions on four shards with four
# workers claiming through the router's ff.claim_next, and with four
# workers each claiming from one shard directly (doc/scale-out.md).
#   bash test/bench/router.sh        (CLIENTS=4 SECS=10 N=4000)
# All clusters share this machine's cores and run with fsync off: the
# figures compare CPU per job, not disk latency (doc/scale-out.md reads them).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLIENTS=${CLIENTS:-4}
SECS=${SECS:-10}
N=${N:-4000}
ensure_deps
build_install

B_DIR=$(mktemp -d /tmp/ff_router_bench.XXXXXX)
chown postgres:postgres "$B_DIR"
PORTS=()
p=$((PGPORT + 201))
while [ ${#PORTS[@]} -lt 5 ]; do [ -e "/tmp/.s.PGSQL.$p" ] || PORTS+=("$p"); p=$((p + 1)); done
b_stop() {
  local d
  for d in "$B_DIR"/c*; do [ -d "$d" ] && as_postgres $PGBIN/pg_ctl -D "$d" -m fast -w stop >/dev/null 2>&1; done
  rm -rf "$B_DIR"
}
trap b_stop EXIT
as_postgres $PGBIN/initdb -D "$B_DIR/tmpl" -U postgres -A trust --no-sync >/dev/null
cat >> "$B_DIR/tmpl/postgresql.conf" <<CONF
unix_socket_directories = '/tmp'
listen_addresses = ''
shared_buffers = 64MB
max_connections = 60
fsync = off
synchronous_commit = off
full_page_writes = off
ff_engine.enabled = off
CONF
for i in 0 1 2 3 4; do
  cp -a "$B_DIR/tmpl" "$B_DIR/c$i"
  echo "port = ${PORTS[$i]}" >> "$B_DIR/c$i/postgresql.conf"
  [ "$i" -gt 0 ] && echo "shared_preload_libraries = 'ff_engine'" >> "$B_DIR/c$i/postgresql.conf"
  as_postgres $PGBIN/pg_ctl -D "$B_DIR/c$i" -l "$B_DIR/c$i/server.log" -w start >/dev/null
done
R=${PORTS[0]}
for i in 1 2 3 4; do psql -X -q -p "${PORTS[$i]}" -c "CREATE EXTENSION ff_engine" >/dev/null; done
# one router database per shard count
for k in 1 2 4; do
  psql -X -q -p "$R" -c "CREATE DATABASE r$k" >/dev/null
  psql -X -q -p "$R" -d "r$k" -c "CREATE EXTENSION ff_engine_router CASCADE" \
    -c "INSERT INTO ffr.shard SELECT s, format('host=/tmp port=%s dbname=postgres', (ARRAY[${PORTS[1]}, ${PORTS[2]}, ${PORTS[3]}, ${PORTS[4]}])[s + 1]) FROM generate_series(0, $k - 1) s" >/dev/null
done

cat > "$B_DIR/life.sql" <<'SQL'
\set l random(0, 63)
SELECT ff.create_execution(ff.execution_id('b' || :l), lane_id => 'b' || :l);
SELECT ff.complete_execution(c.claim) FROM ff.claim_next('b' || :l, 'w', 'w-' || :client_id) c;
SQL
echo 'SELECT 1;' > "$B_DIR/one.sql"
bench() {  # bench <port> <db> <script> <clients>: "tps latency_ms"
  pgbench -n -p "$1" -d "$2" -f "$3" -c "$4" -j "$4" -T "$SECS" 2>/dev/null |
    awk '/latency average/ {lat = $4} /^tps/ {tps = $3} END {printf "%.0f %.3f\n", tps, lat}'
}
printf '%-28s %10s %12s\n' "lifecycle ($CLIENTS clients)" "jobs/s" "latency ms"
read -r t l < <(bench "${PORTS[1]}" postgres "$B_DIR/life.sql" "$CLIENTS"); printf '%-28s %10s %12s\n' "direct, one server" "$t" "$l"
for k in 1 2 4; do
  read -r t l < <(bench "$R" "r$k" "$B_DIR/life.sql" "$CLIENTS"); printf '%-28s %10s %12s\n' "router, $k shard(s)" "$t" "$l"
done
echo
printf '%-28s %10s %12s\n' "one read (1 client)" "calls/s" "latency ms"
read -r t0 l0 < <(bench "${PORTS[1]}" postgres "$B_DIR/one.sql" 1); printf '%-28s %10s %12s\n' "SELECT 1, direct" "$t0" "$l0"
# an existing execution, read on its shard directly and through the router
RID=$(psql -X -q -At -p "$R" -d r4 -c "SELECT ff.execution_id('rd')")
psql -X -q -p "$R" -d r4 -c "SELECT ff.create_execution('$RID', lane_id => 'rd')" >/dev/null
RPORT=${PORTS[$(( $(psql -X -q -At -p "$R" -d r4 -c "SELECT ffr.shard_of_execution('$RID')") + 1 ))]}
echo "SELECT ff.read_execution_state('$RID');" > "$B_DIR/read.sql"
read -r t1 l1 < <(bench "$RPORT" postgres "$B_DIR/read.sql" 1); printf '%-28s %10s %12s\n' "direct" "$t1" "$l1"
read -r t2 l2 < <(bench "$R" r4 "$B_DIR/read.sql" 1); printf '%-28s %10s %12s\n' "router (4 shards)" "$t2" "$l2"
awk -v a="$l1" -v b="$l2" 'BEGIN {printf "router cost per call: %.3f ms\n", b - a}'

# ---- draining: workers through the router vs on the shards directly ----
cat > "$B_DIR/drain.sql" <<'SQL'
DO $$
DECLARE lane text := current_setting('b.lane'); fences jsonb[];
BEGIN
    LOOP
        fences := ARRAY(SELECT c.claim FROM ff.claim_next(lane, 'd', current_setting('b.wid'), max_count => 1) c);
        EXIT WHEN cardinality(fences) = 0;
        PERFORM ff.complete_executions(fences);
        COMMIT;
    END LOOP;
END $$;
SQL
# one lane per shard
mapfile -t BL < <(psql -X -q -At -p "$R" -d r4 -c "SELECT DISTINCT ON (ffr.shard_of_partition(ff.solo_partition(l))) l
    FROM (SELECT 'd' || g AS l FROM generate_series(1, 100) g) x ORDER BY ffr.shard_of_partition(ff.solo_partition(l)), l")
fill() {
  psql -X -q -p "$R" -d r4 -c "SELECT ff.create_executions(ARRAY(SELECT ff.execution_id(l) FROM generate_series(1, 250)), l)
      FROM unnest(ARRAY['${BL[0]}', '${BL[1]}', '${BL[2]}', '${BL[3]}']) l, generate_series(1, $N / 1000)" >/dev/null
}
echo
printf '%-40s %10s\n' "drain $N on 4 shards, 4 workers, 1 per claim" "jobs/s"
# drain <label> <direct: 0 through the router, 1 each worker on its shard>: N jobs, four workers
drain() {
  local t0 i port db wid
  fill
  t0=$(date +%s.%N)
  for i in 0 1 2 3; do
    if [ "$2" = 1 ]; then port=${PORTS[$((i + 1))]} db=postgres wid=d-$i; else port=$R db=r4 wid=r-$i; fi
    PGOPTIONS="-c b.lane=${BL[$i]} -c b.wid=$wid" psql -X -q -p "$port" -d "$db" -f "$B_DIR/drain.sql" >/dev/null 2>&1 &
  done
  wait
  printf '%-40s %10.0f\n' "$1" "$(awk -v n="$N" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print n / (b - a)}')"
}
drain "through the router's ff.claim_next" 0
drain "on the shards directly" 1
