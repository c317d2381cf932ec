// The Node runtime's side of test/bench/runtime_drain.sh.
// node node.mjs drain|latency|produce   (env NODEDIR DB N C RATE SECS PGPORT)
//   drain   — N no-op executions (kind 'noop', lane 'drain') made in SQL,
//             then one Worker (concurrency C) claims, runs and completes them
//             all: jobs/s from start() to the last completion
//   latency — a producer process commits one create_execution every 1/RATE s
//             for SECS s (after a second of warm-up executions, unmeasured);
//             commit (the creating transaction's commit timestamp) -> handler
//             started, p50 / p99
//   produce — that producer (also used for the Python runtime's latency)
// Prints one JSON line.
import { createRequire } from 'node:module';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const NODEDIR = process.env.NODEDIR;
const require = createRequire(NODEDIR + '/package.json');
const pg = require('pg');
const conn = { host: '127.0.0.1', port: Number(process.env.PGPORT), user: 'postgres', database: process.env.DB || 'bench_rt' };
const N = Number(process.env.N), C = Number(process.env.C), RATE = Number(process.env.RATE), SECS = Number(process.env.SECS);
// errors only; level 'error' tells the Worker not to build per-job debug lines
const quiet = { level: 'error', debug() {}, info() {}, warn() {}, error(m, f) { console.error(m, JSON.stringify(f)); } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mode = process.argv[2];
const q = async (sql, args) => { const c = new pg.Client(conn); await c.connect(); try { return (await c.query(sql, args)).rows; } finally { await c.end(); } };
import { serverCpu, cpuDetail } from './cpu.mjs';
const pct = (v, p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];

if (mode === 'drain') {
  const { Worker } = await import(NODEDIR + '/src/index.js');
  let done;
  const finished = new Promise((r) => (done = r));
  const w = new Worker({ connection: conn, lanes: ['drain'], concurrency: C, ...(process.env.NOLEASE ? { namespaces: [] } : {}), ...(process.env.NORECLAIM ? { reclaim: false } : {}), ...(process.env.PREFETCH && process.env.PREFETCH !== 'auto' ? { prefetch: Number(process.env.PREFETCH) } : {}), logger: quiet, handleSignals: false, pollIntervalMs: 1000,
    handlers: { noop: async () => {} } });
  // the counters polled, as a user without listeners runs: no per-job event
  const poll = setInterval(() => { if (w.counters.completed >= N) { clearInterval(poll); done(); } }, 2);
  if (process.env.NOLEASE) w._watchNamespace = async () => {};
  const st = { claims: 0, claimMs: 0, claimed: 0, batches: 0, batchMs: 0, batched: 0 };
  if (process.env.DETAIL) {   // where the time goes: claim and complete round trips
    const cl = w._claim.bind(w), cb = w._completeBatch.bind(w);
    w._claim = async (...a) => { const t = performance.now(); const got = await cl(...a); st.claims++; st.claimMs += performance.now() - t; st.claimed += got; return got; };
    w._completeBatch = async (b) => { const t = performance.now(); await cb(b); st.batches++; st.batchMs += performance.now() - t; st.batched += b.length; };
  }
  const srv0 = process.env.DETAIL ? serverCpu() : null;
  const t0 = performance.now(), cpu0 = process.cpuUsage();
  await w.start();
  await Promise.race([finished, sleep(600000)]);
  const dt = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const srv1 = process.env.DETAIL ? serverCpu() : null;
  await w.stop();
  const left = (await q("SELECT count(*)::int AS n FROM ff.execution WHERE public_state <> 'completed'"))[0].n;
  console.log(JSON.stringify({ runtime: 'node', mode, n: N, concurrency: C, prefetch: process.env.PREFETCH || 'auto', jobs_per_s: w.counters.completed / dt, completed: w.counters.completed, left, refused: w.counters.refused, ...(process.env.DETAIL ? { detail: { ...st, claimAvgMs: st.claimMs / st.claims, claimAvgN: st.claimed / st.claims, batchAvgMs: st.batchMs / st.batches, batchAvgN: st.batched / st.batches, ...cpuDetail(cpu, srv0, srv1, N) } } : {}) }));
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
  const { Worker } = await import(NODEDIR + '/src/index.js');
  const started = [];
  const w = new Worker({ connection: conn, lanes: ['lat'], concurrency: C, ...(process.env.PREFETCH && process.env.PREFETCH !== 'auto' ? { prefetch: Number(process.env.PREFETCH) } : {}), logger: quiet, handleSignals: false, pollIntervalMs: 1000,
    handlers: { noop: async (job) => { if (job.payload[0] !== 0x77) started.push([job.id, performance.timeOrigin + performance.now()]); } } });
  await w.start();
  const p = fork(fileURLToPath(import.meta.url), ['produce'], { env: process.env });
  await new Promise((r) => p.on('exit', r));
  const end = Date.now() + 10000;
  while (started.length < RATE * SECS && Date.now() < end) await sleep(20);
  await w.stop();
  const at = new Map((await q(`SELECT ff.format_execution_id(d.partition, d.execution_id) AS id,
      extract(epoch FROM pg_xact_commit_timestamp(d.xmin)) * 1000 AS at FROM ff.execution_data d`)).map((r) => [r.id, Number(r.at)]));
  const lat = started.map(([id, t]) => t - at.get(id)).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  console.log(JSON.stringify({ runtime: 'node', mode, rate: RATE, secs: SECS, expected: RATE * SECS, n: lat.length, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), max_ms: lat[lat.length - 1] }));
}
process.exit(0);
