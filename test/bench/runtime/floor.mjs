// A Node runner over the lease-queue floor (../shared/peers/sqlq/lease_schema.sql),
// for test/bench/runtime_drain.sh: what a runtime with per-job leases costs at
// the least, beside the engine's Node runtime and graphile-worker's runner.
// The same shape as clients/node's Worker drains with: C slots, claims of up
// to the free slots plus PREFETCH (500, graphile-worker's localQueue) ahead,
// two claims in flight at most, each on its own connection; completions of
// handlers finishing within 5 ms sent as one statement, two in flight at most.
// Claim and completion are the floor's own statements (lease_batched.pgbench),
// with a lease, an epoch, an attempt and one history row per job; nothing of
// the engine (attempt table, lease events, flows, tenants, renewals).
//   node floor.mjs drain   (env NODEDIR DB N C PGPORT) -> one JSON line
import { createRequire } from 'node:module';
import { serverCpu, cpuDetail } from './cpu.mjs';
const require = createRequire(process.env.NODEDIR + '/package.json');
const pg = require('pg');
const N = Number(process.env.N), C = Number(process.env.C), PREFETCH = 500;
const pool = new pg.Pool({ host: '127.0.0.1', port: Number(process.env.PGPORT), user: 'postgres',
                           database: process.env.DB || 'peer_floor', max: 6 });
const CLAIM = `WITH c AS (UPDATE lq SET state = 1, epoch = epoch + 1, lease_id = gen_random_uuid(),
    lease_until = now() + interval '30 s', attempt = attempt + 1
  WHERE id IN (SELECT id FROM lq WHERE lane = $1 AND state = 0 ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED)
  RETURNING id, lease_id, epoch, payload) SELECT id, lease_id, epoch, payload FROM c`;
const COMPLETE = `WITH u AS (UPDATE lq SET state = 2, lease_id = NULL, lease_until = NULL, result = '\\x'
    FROM unnest($1::bigint[], $2::uuid[], $3::int[]) AS x(id, lid, ep)
    WHERE lq.id = x.id AND lq.lease_id = x.lid AND lq.epoch = x.ep RETURNING lq.id, lq.attempt, lq.epoch)
  INSERT INTO lq_history (job_id, attempt, epoch, outcome) SELECT id, attempt, epoch, 2 FROM u`;
const handler = async () => {};
const fail = (e) => { console.error('floor runner:', e.message); process.exit(1); };

let stopped = false, active = 0, claiming = 0, asked = 0, completing = 0, done = 0, empty = false, flushTimer = null;
const queued = [], finished = [];
let finish;
const all = new Promise((r) => (finish = r));

function pump() {
  while (!empty && !stopped && claiming < 2) {
    const free = C + PREFETCH - active - queued.length - asked;
    if (free <= 0 || (claiming > 0 && free < (C + PREFETCH) >> 2)) return;
    const n = Math.min(free, Math.ceil((C + PREFETCH) / 2));
    claiming++; asked += n;
    pool.query({ name: 'claim', text: CLAIM, values: ['bench', n] }).then((res) => {
      for (const row of res.rows) queued.push(row);
      // none left, or all held by the other claim: look again shortly
      if (res.rows.length === 0) { empty = true; setTimeout(() => { empty = false; pump(); }, 10); }
    }).catch(fail).finally(() => { claiming--; asked -= n; start(); pump(); });
  }
}
function start() {
  while (active < C && queued.length) {
    const job = queued.shift();
    active++;
    handler(job).then(() => {
      active--;
      finished.push(job);
      if (!flushTimer) flushTimer = setTimeout(flush, 5);
      start(); pump();
    });
  }
}
function flush() {
  flushTimer = null;
  while (finished.length && completing < 2) {
    const b = finished.splice(0, 1000);
    completing++;
    pool.query({ name: 'complete', text: COMPLETE, values: [b.map((j) => j.id), b.map((j) => j.lease_id), b.map((j) => j.epoch)] })
      .then(() => { done += b.length; if (done >= N) finish(); }).catch(fail)
      .finally(() => { completing--; if (finished.length) flush(); });
  }
}

if (process.argv[2] === 'drain') {
  const srv0 = process.env.DETAIL ? serverCpu() : null;
  const t0 = performance.now(), cpu0 = process.cpuUsage();
  pump();
  await all;
  const dt = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const srv1 = process.env.DETAIL ? serverCpu() : null;
  stopped = true;
  const left = (await pool.query('SELECT count(*)::int AS n FROM lq WHERE state <> 2')).rows[0].n;
  console.log(JSON.stringify({ runtime: 'floor', mode: 'drain', n: N, concurrency: C, jobs_per_s: done / dt, left,
    ...(process.env.DETAIL ? { detail: cpuDetail(cpu, srv0, srv1, N) } : {}) }));
  process.exit(0);
}
