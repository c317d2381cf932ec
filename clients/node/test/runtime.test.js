// The runtime against a live cluster (see helpers.js for the database).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  Worker, Permanent, FfError, enqueue, enqueueMany, createFlow, addDependency, cancel, deliverSignal,
  getState, getResult, waitForResult,
} from '../src/index.js';
import { setupDb, conn, silent, sleep, lane, waitFor, inTx, row } from './helpers.js';

let pool;
before(async () => { pool = await setupDb(); });
after(async () => { await pool.end(); });

function worker(opts) {
  return new Worker({ pool, logger: process.env.DEBUG_LOG ? undefined : silent, pollIntervalMs: 200, handleSignals: false, ...opts });
}

test('enqueue in a rolled-back transaction enqueues nothing; in a committed one the handler runs once', async () => {
  const L = lane('life');
  const runs = [];
  const w = worker({ lanes: [L], handlers: { greet: async (job) => {
    runs.push(job.id);
    await job.progress(50, 'half');
    await job.appendFrame('stdout', 'hello ');
    return { hello: job.input.name };
  } } });
  await w.start();
  try {
    await inTx(pool, (c) => enqueue(c, { lane: L, kind: 'greet', input: { name: 'rolled back' } }), { commit: false });
    const { executionId } = await inTx(pool, async (c) => {
      await c.query('SELECT 1');   // the caller's own writes would go here
      return enqueue(c, { lane: L, kind: 'greet', input: { name: 'bob' } });
    });
    const r = await waitForResult(pool, executionId, { timeoutMs: 5000 });
    assert.equal(r.state, 'completed');
    assert.deepEqual(r.value, { hello: 'bob' });
    await sleep(300);
    assert.deepEqual(runs, [executionId], 'the handler ran once, for the committed execution only');
    const n = (await pool.query('SELECT count(*)::int AS n FROM ff.executions WHERE lane_id = $1', [L])).rows[0].n;
    assert.equal(n, 1, 'the rolled-back enqueue left nothing');
    const frames = (await pool.query("SELECT ff.read_attempt_stream($1, 0) AS r", [executionId])).rows[0].r;
    assert.equal(frames.entries.length, 1);
    assert.equal(w.counters.completed, 1);
    assert.equal(w.counters.claimed, 1);
  } finally { await w.stop(); }
});

test('a thrown error is retried per the retry policy; Permanent is not', async () => {
  const L = lane('retry');
  let flaky = 0, perm = 0, plain = 0;
  const events = [];
  const w = worker({ lanes: [L], handlers: {
    flaky: async () => { if (++flaky < 3) throw new Error(`try ${flaky}`); return 'ok'; },
    perm: async () => { perm++; throw new Permanent('bad input'); },
    plain: async () => { plain++; throw new Error('boom'); },
  } });
  w.on('retried', (f) => events.push(['retried', f.executionId]));
  w.on('failed', (f) => events.push(['failed', f.executionId, f.permanent]));
  await w.start();
  try {
    const [a, b, c] = await enqueueMany(pool, [
      { lane: L, kind: 'flaky', retry: { maxRetries: 3, fixedDelayMs: 50 } },
      { lane: L, kind: 'perm', retry: { maxRetries: 3, fixedDelayMs: 50 } },
      { lane: L, kind: 'plain' },
    ]);
    const ra = await waitForResult(pool, a.executionId, { timeoutMs: 8000 });
    assert.equal(ra.state, 'completed');
    assert.equal(ra.value, 'ok');
    assert.equal(flaky, 3, 'two failures, then success on the third attempt');
    assert.equal(Number((await row(pool, a.executionId)).retry_count), 2);
    const rb = await waitForResult(pool, b.executionId, { timeoutMs: 5000 });
    assert.equal(rb.state, 'failed', 'a permanent failure ends it failed (one fail_execution, nothing cancelled)');
    assert.equal(rb.failureReason, 'bad input');
    await sleep(1000);   // a retry (fixed 50 ms, promoted within 750 ms) would have run by now
    assert.equal(perm, 1, 'a permanent failure is not retried');
    assert.deepEqual(events.filter((e) => e[1] === b.executionId), [['failed', b.executionId, true]]);
    const rc = await waitForResult(pool, c.executionId, { timeoutMs: 5000 });
    assert.equal(rc.state, 'failed', 'no retry policy: failed at once');
    assert.equal(rc.failureReason, 'boom');
    assert.equal(plain, 1);
    assert.equal(events.filter((e) => e[0] === 'retried').length, 2);
  } finally { await w.stop(); }
});

// Handlers that finish in the same turn share one complete_executions; the
// wrapper records each batch's size (internal, for the test only).
function recordBatches(w) {
  const sizes = [];
  const orig = w._completeBatch.bind(w);
  w._completeBatch = (b) => { sizes.push(b.length); return orig(b); };
  return sizes;
}

test('batched completions: handlers finishing together share one complete_executions, each gets its own outcome, a refused item fails no other', async () => {
  const L = lane('batch');
  let release;
  const gate = new Promise((r) => (release = r));
  let started = 0;
  const w = worker({ lanes: [L], concurrency: 8, handlers: { k: async (job) => { started++; await gate; return { i: job.input.i }; } } });
  const sizes = recordBatches(w);
  const completed = [], refused = [];
  w.on('completed', (f) => completed.push(f.executionId));
  w.on('refused', (f) => refused.push(f));
  const ids = (await enqueueMany(pool, [0, 1, 2, 3, 4, 5].map((i) => ({ lane: L, kind: 'k', input: { i } })))).map((x) => x.executionId);
  await w.start();
  try {
    await waitFor('all six handlers running', () => started === 6, 5000);
    await cancel(pool, ids[2], { reason: 'gone' });   // its complete will be refused
    release();
    await waitFor('six outcomes', () => completed.length + refused.length === 6, 5000);
    assert.deepEqual(sizes, [6], 'one complete_executions of six');
    assert.deepEqual(refused.map((f) => [f.executionId, f.call]), [[ids[2], 'complete_execution']], 'only the cancelled one refused');
    assert.ok(['execution_not_active', 'lease_revoked', 'stale_lease'].includes(refused[0].error), refused[0].error);
    assert.deepEqual(completed.sort(), ids.filter((_, i) => i !== 2).sort());
    for (const [i, id] of ids.entries()) {
      const r = await getResult(pool, id);
      if (i === 2) assert.equal(r.state, 'cancelled');
      else assert.deepEqual([r.state, r.value], ['completed', { i }]);
    }
    assert.equal(w.counters.completed, 5);
    assert.equal(w.counters.refused, 1);
  } finally { release(); await w.stop(); }
});

test('completeDelayMs: completions finishing within it share one complete_executions; 0 completes each at once', async () => {
  assert.throws(() => worker({ lanes: ['x'], completeDelayMs: -1 }), (e) => e.code === 'invalid_argument');
  assert.throws(() => worker({ lanes: ['x'], completeDelayMs: 5000 }), (e) => e.code === 'invalid_argument');
  // handlers ending 0, 60, 120 and 180 ms after they start
  for (const [delay, expected] of [[500, [4]], [0, [1, 1, 1, 1]]]) {
    const L = lane('delay');
    const w = worker({ lanes: [L], concurrency: 4, completeDelayMs: delay, handlers: { k: async (job) => { await sleep(60 * job.input.i); } } });
    const sizes = recordBatches(w);
    await enqueueMany(pool, [0, 1, 2, 3].map((i) => ({ lane: L, kind: 'k', input: { i } })));
    await w.start();
    try {
      await waitFor('four completed', () => w.counters.completed === 4, 5000);
      assert.deepEqual(sizes, expected, `completeDelayMs ${delay}`);
    } finally { await w.stop(); }
  }
  // a stop whose timeout ends while a finished job's completion waits: the
  // job is completed, never handed back (it would run again)
  const L = lane('delay-stop');
  const w = worker({ lanes: [L], concurrency: 1, completeDelayMs: 400, shutdownTimeoutMs: 50, handlers: { k: async () => 'done' } });
  const [id] = (await enqueueMany(pool, [{ lane: L, kind: 'k' }])).map((x) => x.executionId);
  await w.start();
  await waitFor('the handler ran', () => w.counters.started === 1, 5000);
  await w.stop();
  assert.equal(w.counters.completed, 1);
  assert.equal(w.counters.handed_back ?? 0, 0);
  assert.equal((await getResult(pool, id)).state, 'completed');
});

test('a batch rejected as a whole (one result over max_payload_bytes) is completed item by item: the others complete, that one fails for good', async () => {
  const L = lane('batchbig');
  let release;
  const gate = new Promise((r) => (release = r));
  let started = 0;
  const w = worker({ lanes: [L], concurrency: 8, handlers: {
    k: async (job) => { started++; await gate; return job.input.big ? 'x'.repeat(1100000) : job.input.i; },
  } });
  const sizes = recordBatches(w);
  const failed = [];
  w.on('failed', (f) => failed.push(f));
  const ids = (await enqueueMany(pool, [0, 1, 2, 3].map((i) => ({ lane: L, kind: 'k', input: { i, big: i === 1 }, retry: { maxRetries: 3 } })))).map((x) => x.executionId);
  await w.start();
  try {
    await waitFor('all four handlers running', () => started === 4, 5000);
    release();
    await waitFor('four outcomes', () => w.counters.completed + w.counters.failed === 4, 5000);
    assert.deepEqual(sizes, [4], 'one batch, which the engine rejected');
    for (const [i, id] of ids.entries()) {
      const r = await getResult(pool, id);
      if (i === 1) {
        assert.equal(r.state, 'failed', 'the oversized result fails the execution, with no retry');
        assert.match(r.failureReason, /result refused: .*max_payload_bytes/);
      } else assert.deepEqual([r.state, r.value], ['completed', i]);
    }
    assert.deepEqual(failed.map((f) => [f.executionId, f.permanent]), [[ids[1], true]]);
    assert.equal(w.counters.errors, 0);
  } finally { release(); await w.stop(); }
});

test('prefetch claims ahead of free slots: the extra wait for a slot, and are handed back at stop without running', async () => {
  const L = lane('prefetch');
  const startedIds = [];
  const w = worker({ lanes: [L], concurrency: 1, prefetch: 3, shutdownTimeoutMs: 100, handlers: {
    hold: (job) => { startedIds.push(job.id); return new Promise((resolve) => job.signal.addEventListener('abort', () => resolve())); },
  } });
  const handed = [];
  w.on('handed_back', (f) => handed.push(f.executionId));
  const ids = (await enqueueMany(pool, [0, 1, 2, 3, 4].map(() => ({ lane: L, kind: 'hold' })))).map((x) => x.executionId);
  await w.start();
  try {
    await waitFor('four claimed', () => w.counters.claimed === 4, 5000);
    await sleep(200);
    assert.equal(startedIds.length, 1, 'one slot: one handler running');
    assert.equal(w.counters.claimed, 4, 'concurrency + prefetch claimed, no more');
  } finally { await w.stop(); }
  assert.deepEqual(startedIds.length, 1, 'the claimed-ahead never ran');
  assert.equal(handed.length, 4, 'all four handed back');
  const states = await Promise.all(ids.map(async (id) => (await getState(pool, id)).public_state));
  assert.ok(states.every((st) => ['waiting', 'delayed'].includes(st)), states.join());
});

test("prefetch 'auto' (the default): nothing ahead before a handler has run, far ahead for short handlers, back down for slow ones", async () => {
  const L = lane('auto');
  let release;
  const gate = new Promise((r) => { release = r; });
  const started = new Set();
  const w = worker({ lanes: [L], concurrency: 2, handlers: {
    hold: (job) => { started.add(job.id); return gate; },
    quick: () => null,
    slow: () => sleep(150),
  } });
  assert.throws(() => worker({ lanes: [L], prefetch: 'fast' }), /prefetch: expected 'auto' or an integer/);
  await enqueueMany(pool, [0, 1, 2, 3, 4].map(() => ({ lane: L, kind: 'hold' })));
  await w.start();
  try {
    await waitFor('two claimed', () => w.counters.claimed === 2, 5000);
    await sleep(300);
    assert.equal(w.counters.claimed, 2, 'no handler has run yet: nothing claimed ahead');
    release();
    await waitFor('the five ran', () => w.counters.completed === 5, 5000);
    await enqueueMany(pool, Array.from({ length: 80 }, () => ({ lane: L, kind: 'quick' })));
    await waitFor('the quick ran', () => w.counters.completed === 85, 5000);
    assert.ok(w.prefetch >= 100, `short handlers: far ahead (prefetch ${w.prefetch})`);
    await enqueueMany(pool, Array.from({ length: 10 }, () => ({ lane: L, kind: 'slow' })));
    await waitFor('the slow claimed', () => w.counters.claimed === 95, 5000);
    assert.ok(w.counters.started < 95, 'claimed ahead of the two slots');
    await waitFor('the slow ran', () => w.counters.completed === 95, 10000);
    assert.ok(w.prefetch <= 2, `slow handlers: the slots start ~50 ms of work ahead at most (prefetch ${w.prefetch})`);
  } finally { release(); await w.stop(); }
});

test('plain handlers: a value returned at once completes, a synchronous throw fails, a kind without a handler fails for good', async () => {
  const L = lane('plain');
  const order = [];
  const w = worker({ lanes: [L], concurrency: 1, handlers: {
    value: (job) => { order.push('value'); return { n: job.input.n }; },
    throws: () => { order.push('throws'); throw new Permanent('thrown at once'); },
  } });
  await w.start();
  try {
    const [a, b, c] = await enqueueMany(pool, [
      { lane: L, kind: 'value', input: { n: 7 } },
      { lane: L, kind: 'throws' },
      { lane: L, kind: 'nobody' },
    ]);
    const ra = await waitForResult(pool, a.executionId, { timeoutMs: 5000 });
    assert.equal(ra.state, 'completed');
    assert.deepEqual(ra.value, { n: 7 });
    const rb = await waitForResult(pool, b.executionId, { timeoutMs: 5000 });
    assert.equal(rb.state, 'failed');
    assert.equal(rb.failureReason, 'thrown at once');
    const rc = await waitForResult(pool, c.executionId, { timeoutMs: 5000 });
    assert.equal(rc.state, 'failed');
    assert.match(rc.failureReason, /no handler for kind "nobody"/);
    assert.deepEqual(order, ['value', 'throws'], 'each handler ran once');
    await waitFor('the slot is free again', () => w.active === 0, 2000);
  } finally { await w.stop(); }
});

test('delay and priority order', async () => {
  const L = lane('order');
  const order = [];
  const t0 = Date.now();
  const { executionId: delayed } = await enqueue(pool, { lane: L, kind: 'k', input: 'delayed', delayMs: 1200 });
  assert.equal((await getState(pool, delayed)).public_state, 'delayed');
  await enqueueMany(pool, [0, 5, 100, 1].map((p) => ({ lane: L, kind: 'k', input: `p${p}`, priority: p })));
  const w = worker({ lanes: [L], concurrency: 1, handlers: { k: async (job) => { order.push([job.input, Date.now() - t0]); } } });
  await w.start();
  try {
    await waitFor('all five ran', () => order.length === 5, 8000);
    assert.deepEqual(order.slice(0, 4).map((x) => x[0]), ['p100', 'p5', 'p1', 'p0'], 'highest priority first');
    assert.equal(order[4][0], 'delayed');
    assert.ok(order[4][1] >= 1200, `the delayed one ran after its delay (${order[4][1]} ms)`);
  } finally { await w.stop(); }
});

test('a handler that outlives its lease loses it and its late complete is refused; revoke and cancel abort the signal', async () => {
  const L = lane('lease');
  const refused = [];
  const lost = [];
  let runs = 0;
  const w = worker({ lanes: [L], leaseTtlMs: 500, handlers: {
    // blocks the event loop past the lease's expiry: no renewal can run
    hog: async (job) => { runs++; if (runs === 1) { const end = Date.now() + 900; while (Date.now() < end); } return runs; },
    wait: (job) => new Promise((resolve) => job.signal.addEventListener('abort', () => resolve(String(job.signal.reason.code)))),
  } });
  w.on('refused', (f) => refused.push(f));
  w.on('lease_lost', (f) => lost.push(f));
  await w.start();
  try {
    const { executionId } = await enqueue(pool, { lane: L, kind: 'hog' });
    await waitFor('the late complete is refused', () => refused.some((f) => f.executionId === executionId), 5000);
    assert.ok(['lease_expired', 'stale_lease'].includes(refused.find((f) => f.executionId === executionId).error), 'refused by the fence');
    const r = await waitForResult(pool, executionId, { timeoutMs: 5000 });
    assert.equal(r.value, 2, 'reclaimed and completed by the second run');
    assert.equal((await row(pool, executionId)).current_attempt_index, 1);

    const { executionId: revoked } = await enqueue(pool, { lane: L, kind: 'wait' });
    await waitFor('running', async () => (await getState(pool, revoked)).public_state === 'active', 3000);
    await pool.query('SELECT ff.revoke_lease($1)', [revoked]);
    // the revoke announces the lost lease on the lane channel, so a worker
    // may reclaim it at once: the old run then learns it as stale_lease
    await waitFor('the revoke aborts the handler', () => lost.some((f) => f.executionId === revoked &&
      ['lease_revoked', 'stale_lease'].includes(f.reason)), 3000);

    const { executionId: cancelled } = await enqueue(pool, { lane: L + 'x', kind: 'wait' });
    // reclaim off: only the lease channel can tell a revoke before a renewal at ttl/3 (10 s)
    const w2 = worker({ lanes: [L + 'x'], leaseTtlMs: 30000, reclaim: false, handlers: { wait: w.handlers.get('wait') } });
    const lost2 = [];
    w2.on('lease_lost', (f) => lost2.push(f));
    await w2.start();
    try {
      await waitFor('running', async () => (await getState(pool, cancelled)).public_state === 'active', 3000);
      // a forged announcement (any reader of the namespace may NOTIFY on its
      // lease channel) is checked by renewing the lease, which succeeds
      const ch = (await pool.query('SELECT ff.lease_channel() AS ch')).rows[0].ch;
      const before = await row(pool, cancelled);
      const ep = Number(before.current_lease_epoch);
      // payloads that are not announcements are passed over
      for (const junk of ['null', '[]', '1', '"x"', '{"execution_id": 7}', 'not json', '['.repeat(3000) + ']'.repeat(3000)]) await pool.query('SELECT pg_notify($1, $2)', [ch, junk]);
      await pool.query('SELECT pg_notify($1, $2)', [ch, JSON.stringify({ execution_id: cancelled, lease_epoch: ep, reason: 'cancelled' })]);
      await waitFor('the announced lease renewed at once', async () =>
        Number((await row(pool, cancelled)).lease_last_renewed_at) > Number(before.lease_last_renewed_at), 2000);
      await sleep(300);
      assert.ok(!lost2.some((f) => f.executionId === cancelled), 'a forged announcement aborts nothing');
      const t = Date.now();
      await cancel(pool, cancelled, { reason: 'no longer wanted' });
      await waitFor('the cancel aborts the handler', () => lost2.some((f) => f.executionId === cancelled && f.reason === 'cancelled'), 3000);
      assert.ok(Date.now() - t < 2000, 'told on the lease channel, long before a renewal at ttl/3');

      const { executionId: revoked2 } = await enqueue(pool, { lane: L + 'x', kind: 'wait' });
      await waitFor('running', async () => (await getState(pool, revoked2)).public_state === 'active', 3000);
      const t2 = Date.now();
      assert.equal((await pool.query('SELECT ff.revoke_lease($1) ->> \'result\' AS r', [revoked2])).rows[0].r, 'revoked');
      await waitFor('the revoke aborts the handler', () => lost2.some((f) => f.executionId === revoked2 && f.reason === 'lease_revoked'), 3000);
      assert.ok(Date.now() - t2 < 2000, 'told on the lease channel, long before a renewal at ttl/3');
    } finally { await w2.stop(); }
  } finally { await w.stop(); }
});

const child = fileURLToPath(new URL('./fixtures/child_worker.js', import.meta.url));
function spawnChild(env) {
  const p = spawn(process.execPath, [child], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  p.lines = [];
  let buf = '';
  p.stdout.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\n')) >= 0) { p.lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); } });
  p.exited = new Promise((r) => p.on('exit', (code, sig) => r({ code, sig })));
  return p;
}

test('a worker killed with SIGKILL mid-job: its execution is reclaimed and completed by another worker exactly once', async () => {
  const L = lane('kill');
  const { executionId } = await enqueue(pool, { lane: L, kind: 'job' });
  const p = spawnChild({ LANE: L, TTL: '800' });
  try {
    await waitFor('the child started the job', () => p.lines.includes(`started ${executionId}`), 8000);
    p.kill('SIGKILL');
    await p.exited;
  } finally { p.kill('SIGKILL'); }
  const runs = [];
  const w = worker({ lanes: [L], handlers: { job: async (job) => { runs.push(job.attemptType); return 'second'; } } });
  await w.start();
  try {
    const r = await waitForResult(pool, executionId, { timeoutMs: 6000 });
    assert.equal(r.value, 'second');
    assert.deepEqual(runs, ['reclaim'], 'run once more, as a reclaim');
    const ev = (await pool.query(`SELECT count(*)::int AS n FROM ff.attempt a, ff.parse_execution_id($1) x WHERE a.partition = x.partition AND a.execution_id = x.execution_uuid AND a.attempt_state = 'ended_success'`, [executionId])).rows[0].n;
    assert.equal(ev, 1, 'completed exactly once');
  } finally { await w.stop(); }
});

test('graceful shutdown on SIGTERM hands unfinished work back, taken by another worker long before the lease expires', async () => {
  const L = lane('term');
  const { executionId } = await enqueue(pool, { lane: L, kind: 'job' });
  const p = spawnChild({ LANE: L, TTL: '30000', HONOUR_ABORT: '1' });
  try {
    await waitFor('the child started the job', () => p.lines.includes(`started ${executionId}`), 8000);
    const t = Date.now();
    p.kill('SIGTERM');
    const { code } = await p.exited;
    assert.equal(code, 0, 'the child exits by itself once stopped');
    assert.ok(p.lines.includes(`handed_back ${executionId}`));
    const st = await getState(pool, executionId);
    assert.ok(['waiting', 'delayed'].includes(st.public_state), `handed back (${st.public_state})`);
    const w = worker({ lanes: [L], handlers: { job: async (job) => job.attemptType } });
    await w.start();
    try {
      const r = await waitForResult(pool, executionId, { timeoutMs: 5000 });
      assert.equal(r.value, 'resumed', 'the same attempt, resumed');
      assert.ok(Date.now() - t < 5000, 'far sooner than the 30 s lease');
    } finally { await w.stop(); }
  } finally { p.kill('SIGKILL'); }
});

test('a second SIGTERM just after a quick stop (timeout(1) signals the child, then its group) does not kill the process', async () => {
  const p = spawnChild({ LANE: lane('term2'), TTL: '30000', STAY_MS: '300' });
  try {
    await waitFor('the child is ready', () => p.lines.includes('ready'), 8000);
    p.kill('SIGTERM');
    await waitFor('the child stopped', () => p.lines.includes('stopped'), 8000);
    p.kill('SIGTERM');
    const { code, sig } = await p.exited;
    assert.deepEqual({ code, sig }, { code: 0, sig: null }, 'exits by itself, not by the default action of the signal');
  } finally { p.kill('SIGKILL'); }
});

test('a flow: the child runs after its parents', async () => {
  const L = lane('flow');
  const ran = [];
  const { flowId, a, b, c } = await inTx(pool, async (db) => {
    const flowId = await createFlow(db, { kind: 'dag' });
    const [a, b, c] = await enqueueMany(db, ['a', 'b', 'c'].map((n) => ({ lane: L, kind: 'step', input: n, flow: flowId })));
    await addDependency(db, flowId, a.executionId, c.executionId);
    await addDependency(db, flowId, b.executionId, c.executionId);
    return { flowId, a, b, c };
  });
  assert.ok(flowId);
  assert.equal((await getState(pool, c.executionId)).public_state, 'waiting_children');
  const w = worker({ lanes: [L], concurrency: 4, handlers: { step: async (job) => { ran.push(job.input); await sleep(50); return job.input; } } });
  await w.start();
  try {
    const r = await waitForResult(pool, c.executionId, { timeoutMs: 8000 });
    assert.equal(r.state, 'completed');
    assert.equal(ran[2], 'c', `the child last (${ran})`);
    assert.deepEqual(ran.slice(0, 2).sort(), ['a', 'b']);
    assert.equal((await getResult(pool, a.executionId)).state, 'completed');
    assert.equal((await getResult(pool, b.executionId)).state, 'completed');
  } finally { await w.stop(); }
});

test('suspend, then a signal resumes the handler\'s execution', async () => {
  const L = lane('signal');
  let wp = null;
  const runs = [];
  const w = worker({ lanes: [L], handlers: { approve: async (job) => {
    runs.push(job.attemptType);
    if (!job.resumed) {
      wp = await job.suspend({ key: 'approval', signals: ['approved'], timeoutMs: 30000 });
      return;
    }
    const [s] = await job.signals();
    return { approvedBy: s.value.by, signal: s.name };
  } } });
  await w.start();
  try {
    const { executionId } = await enqueue(pool, { lane: L, kind: 'approve' });
    await waitFor('suspended', async () => wp && (await getState(pool, executionId)).public_state === 'suspended', 5000);
    assert.ok(wp.token);
    const d = await deliverSignal(pool, { executionId, waitpointId: wp.waitpointId, token: wp.token, name: 'approved', payload: { by: 'alice' } });
    assert.equal(d.effect, 'resume_condition_satisfied');
    const r = await waitForResult(pool, executionId, { timeoutMs: 5000 });
    assert.deepEqual(r.value, { approvedBy: 'alice', signal: 'approved' });
    assert.deepEqual(runs, ['initial', 'resumed']);
    await assert.rejects(deliverSignal(pool, { executionId, waitpointId: wp.waitpointId, token: 'k1:00', name: 'approved' }),
      (e) => e instanceof FfError && typeof e.code === 'string');
  } finally { await w.stop(); }
});

test('wrong arguments fail with a clear error before touching the database', async () => {
  const calls = [];
  const spy = { query: async (...a) => { calls.push(a); throw new Error('must not be called'); } };
  const bad = [
    () => enqueue(spy, { lane: '' }),
    () => enqueue(spy, { lane: 'has space' }),
    () => enqueue(spy, { priority: 1.5 }),
    () => enqueue(spy, { priority: -1 }),
    () => enqueue(spy, { delay: 100 }),
    () => enqueue(spy, { delayMs: 10, runAt: Date.now() }),
    () => enqueue(spy, { tags: { NoDot: 'x' } }),
    () => enqueue(spy, { retry: { maxRetries: 'three' } }),
    () => enqueue(spy, { capabilities: ['a,b'] }),
    () => enqueue(spy, { id: 'not-an-id' }),
    () => enqueue(spy, { input: () => 1 }),
    () => enqueueMany(spy, []),
    () => cancel(spy, '{fp:1}:nope'),
    () => deliverSignal(spy, { executionId: '{fp:1}:00000000-0000-4000-8000-000000000001', waitpointId: 'x', token: 't', name: 'n' }),
    () => addDependency(spy, 'not-a-uuid', 'a', 'b'),
    () => getResult(spy, 42),
    () => waitForResult(spy, '{fp:1}:00000000-0000-4000-8000-000000000001', { timeoutMs: -1 }),
    () => enqueue(null, {}),
  ];
  for (const f of bad) {
    await assert.rejects(f, (e) => e instanceof FfError && e.code === 'invalid_argument' && e.message.length > 10, String(f));
  }
  assert.equal(calls.length, 0, 'no query was sent');
  assert.throws(() => new Worker({ pool, lanes: [''] }), (e) => e.code === 'invalid_argument');
  assert.throws(() => new Worker({ pool, concurency: 3 }), /unknown option "concurency"/);
  assert.throws(() => new Worker({ lanes: ['x'] }), /give pool/);
  assert.throws(() => new Worker({ pool, handlers: { k: 'not a function' } }), (e) => e.code === 'invalid_argument');
  // a refused call carries the envelope's code; a database error its SQLSTATE
  await assert.rejects(cancel(pool, '{fp:1}:00000000-0000-4000-8000-000000000001'), (e) => e instanceof FfError && e.code === 'execution_not_found');
  await assert.rejects(getState(pool, '{fp:99999}:00000000-0000-4000-8000-000000000001'), (e) => e instanceof FfError && /^[0-9A-Z]{5}$/.test(e.sqlstate));
});
