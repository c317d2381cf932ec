// Create-commit -> worker-claim latency (issue 9) with workers woken by the
// lane's NOTIFY channel, not polling.  A producer (a child process) commits one
// ff.create_execution every 1/RATE s for SECS s (the payload carries the
// time the call was made); WORKERS worker connections LISTEN on ff.lane_channel('lat'),
// and on each notification claim until the lane is empty, completing what
// they claim.  A first second of executions, not measured, warms the
// connections.  One connection LISTENs for the pool and wakes one idle worker
// per notification.  Two latencies per execution, both ending when the claim
// returns to the worker: from the create's commit (the server's commit
// timestamp of the creating transaction: track_commit_timestamp must be on;
// it is taken as the commit record is written, so the commit's flush counts
// as latency) and, stricter, from just before the create call (the create's
// own statement, commit queueing and flush included, as an enqueue-to-handler
// figure).  Prints one JSON line:
// {mode, rate, n, expected, p50_ms, p99_ms, max_ms, call_p50_ms, call_p99_ms, call_max_ms}.
// Usage: node latency.mjs <peers_dir>   (env PGHOST PGPORT PGDATABASE RATE SECS WORKERS)
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const require = createRequire(process.argv[2] + '/package.json');
const pg = require('pg');
const RATE = Number(process.env.RATE || 500), SECS = Number(process.env.SECS || 10);
const WORKERS = Number(process.env.WORKERS || 4);
// The first calls of a new connection load its plans and caches (tens of
// ms): the first second of executions warms every connection, unmeasured,
// as a long-running worker pool is warm.
const WARMUP = RATE;
const POLL_MS = Number(process.env.POLL_MS || 0);   // > 0: ignore notifications, poll (the baseline)
// IN_TRANSACTION=1: each create sends its lane's NOTIFY itself (ff_engine.notify_in_transaction),
// as before the engine worker relayed them: the relay's cost, same run
const IN_TX = process.env.IN_TRANSACTION === '1';
const conn = { host: process.env.PGHOST || '127.0.0.1', port: Number(process.env.PGPORT || 54329),
               user: 'postgres', database: process.env.PGDATABASE || 'bench_latency',
               ...(IN_TX ? { options: '-c ff_engine.notify_in_transaction=on' } : {}) };
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const claims = [];   // [execution uuid, claimed at, create call made at] (ms since the epoch)
const expected = Math.round(RATE * SECS);
let claimedTotal = 0;
let stopping = false;

async function worker(k) {
  const c = new pg.Client(conn);
  await c.connect();
  let busy = false, again = false;
  async function drain() {
    if (busy) { again = true; return; }
    busy = true;
    do {
      again = false;
      for (;;) {
        const r = await c.query("SELECT claim, convert_from(input_payload, 'UTF8') AS sent FROM ff.claim_next('lat', 'lw', 'lw-' || $1::text, max_count => 10)", [k]);
        if (r.rows.length === 0) break;
        const t = nowMs();
        for (const row of r.rows) {
          if (row.sent.startsWith('w')) continue;   // warm-up: not measured
          const id = row.claim.execution_id;   // '{fp:N}:<uuid>'
          claims.push([id.slice(id.indexOf('}:') + 2), t, Number(row.sent)]);
          claimedTotal++;
        }
        await c.query('SELECT ff.complete_executions($1, $2, $3, $4)', [
          r.rows.map((x) => x.claim.execution_id), r.rows.map((x) => x.claim.lease_id),
          r.rows.map((x) => x.claim.lease_epoch), r.rows.map((x) => x.claim.attempt_id)]);
      }
    } while (again);
    busy = false;
  }
  const kick = () => {
    if (stopping) return;
    drain().catch((e) => { if (!stopping) { console.error(e); process.exit(1); } });
  };
  c.idle = () => !busy;
  c.kick = kick;
  if (POLL_MS > 0) c.timer = setInterval(kick, POLL_MS);
  return c;
}

// One connection LISTENs for the pool and wakes one idle worker per
// notification (a busy worker finishes its loop by claiming until the lane
// is empty, so nothing is missed); every worker listening on its own would
// send all of them to claim_next for each new execution.
async function listener(pool) {
  const c = new pg.Client(conn);
  await c.connect();
  const ch = (await c.query("SELECT ff.lane_channel('lat') AS ch")).rows[0].ch;
  let next = 0;
  c.on('notification', () => {
    for (let i = 0; i < pool.length; i++) {
      const w = pool[(next + i) % pool.length];
      if (w.idle()) { next = (next + i + 1) % pool.length; w.kick(); return; }
    }
    pool[next].kick();   // all busy: the next one loops once more
  });
  await c.query(`LISTEN "${ch}"`);
  return c;
}

// The producer is its own process, as an application is: its timing is not
// held up by the workers' event loop (the send time is wall-clock, shared).
async function produce() {
  const p = new pg.Client(conn);
  await p.connect();
  const t0 = nowMs();
  for (let i = -WARMUP; i < expected; i++) {
    const due = t0 + ((i + WARMUP) * 1000) / RATE;
    const wait = due - nowMs();
    if (wait > 1) await sleep(wait);
    // the send time is taken just before the call; the commit is the call's end (autocommit)
    await p.query("SELECT ff.create_execution(ff.execution_id('lat'), lane_id => 'lat', input_payload => convert_to($1, 'UTF8'))",
                  [(i < 0 ? 'w' : '') + String(nowMs())]);
  }
  await p.end();
}
if (process.env.LATENCY_ROLE === 'producer') {
  await produce();
  process.exit(0);
}

const workers = await Promise.all([...Array(WORKERS).keys()].map(worker));
const listen = POLL_MS > 0 ? null : await listener(workers);
const producer = fork(fileURLToPath(import.meta.url), process.argv.slice(2), { env: { ...process.env, LATENCY_ROLE: 'producer' } });
const produced = await new Promise((resolve) => producer.on('exit', (code) => resolve(code === 0)));
if (!produced) { console.error('the producer failed'); process.exit(1); }
const deadline = nowMs() + 10000;
while (claimedTotal < expected && nowMs() < deadline) await sleep(20);
stopping = true;
for (const w of workers) clearInterval(w.timer);
for (let i = 0; i < 200 && !workers.every((w) => w.idle()); i++) await sleep(10);
for (const w of workers) await w.end();
if (listen) await listen.end();
// The creating transaction's commit time: ff.execution_data is written by the
// create alone (these workers complete without a result), so its row's xmin
// is the create's transaction.
const q = new pg.Client(conn);
await q.connect();
const committed = new Map((await q.query(
  `SELECT u.id::text AS id, extract(epoch FROM pg_xact_commit_timestamp(d.xmin)) * 1000 AS at
     FROM unnest($1::uuid[]) AS u(id) JOIN ff.execution_data d ON d.execution_id = u.id`,
  [claims.map((x) => x[0])])).rows.map((x) => [x.id, Number(x.at)]));
await q.end();
const fromCommit = [], fromCall = [];
for (const [id, claimedAt, sentAt] of claims) {
  const at = committed.get(id);
  // a commit after the claim (or none) would mean the row was rewritten: not a latency
  if (!(at >= sentAt && at <= claimedAt)) { console.error(`execution ${id}: commit time ${at} outside [${sentAt}, ${claimedAt}]`); process.exit(1); }
  fromCommit.push(claimedAt - at);
  fromCall.push(claimedAt - sentAt);
}
const pct = (v, q) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
fromCommit.sort((a, b) => a - b);
fromCall.sort((a, b) => a - b);
console.log(JSON.stringify({ mode: POLL_MS > 0 ? `poll ${POLL_MS} ms` : IN_TX ? 'notify in transaction' : 'notify', rate: RATE, n: fromCommit.length, expected,
  p50_ms: pct(fromCommit, 0.5), p99_ms: pct(fromCommit, 0.99), max_ms: fromCommit[fromCommit.length - 1],
  call_p50_ms: pct(fromCall, 0.5), call_p99_ms: pct(fromCall, 0.99), call_max_ms: fromCall[fromCall.length - 1] }));
