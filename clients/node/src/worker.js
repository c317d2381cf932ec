// The ff_engine worker runtime: claims executions of its lanes, runs the
// handler registered for each execution's kind, renews leases, finishes
// every execution under the fence of its own claim, and hands unfinished
// work back on shutdown.
//
// Connections (one pg Pool): one held connection LISTENs for the whole
// worker (the lanes' wake-up channels and the namespaces' lease
// channels), one held connection renews leases, up to two held connections
// claim (a second claim goes out while the first is in flight when the
// worker claims ahead), and the rest complete (batched, up to two calls in
// flight), fail and serve the handlers' helpers.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { FfError, Permanent, argError, wrapDbError } from './errors.js';
import { encodePayload, decodePayload, checkLane, checkString, checkInt, checkUuid } from './client.js';

const LOST = new Set(['lease_expired', 'lease_revoked', 'stale_lease', 'execution_not_active']);
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing one JSON object per line to stderr, at `level` and above. */
export function jsonLogger(level = 'info', stream = process.stderr) {
  const min = LEVELS[level] ?? 20;
  const out = (lvl) => (msg, fields) => {
    if (LEVELS[lvl] < min) return;
    stream.write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }) + '\n');
  };
  return { level, debug: out('debug'), info: out('info'), warn: out('warn'), error: out('error') };
}
// the claim's fields as columns, in the order Job takes them: the server
// extracts them from the envelope cheaper than it writes the whole envelope
// out as text, and the worker parses no JSON per job
const CLAIM_SQL = `SELECT t.claim->>'execution_id', t.claim->>'lease_id', t.claim->>'lease_epoch', t.claim->>'attempt_id',
  t.claim->>'execution_kind', t.claim->>'namespace', t.claim->>'attempt_index', t.claim->>'attempt_type', t.input_payload
  FROM ff.claim_next($1, $2, $3, $4, $5, $6, $7, $8) AS t`;
const COMPLETE_SQL = 'SELECT ff.complete_execution($1, $2, $3, $4, $5) AS r';
// a batch all of whose items completed answers its count alone; only
// otherwise the envelope, with each item's outcome, travels and is parsed
const COMPLETE_MANY_SQL = `SELECT CASE WHEN t.r->>'succeeded' = t.r->>'count' THEN (t.r->>'count')::int END,
  CASE WHEN t.r->>'succeeded' IS DISTINCT FROM t.r->>'count' THEN t.r END
  FROM ff.complete_executions($1, $2, $3, $4, $5) AS t(r)`;
const COMPLETED = { ok: true };
// prefetch 'auto': claim ahead as many executions as the slots are expected
// to start within AUTO_WAIT_MS (from the handlers' mean duration), at most
// AUTO_MAX; none until a handler has run
const AUTO_WAIT_MS = 50;
const AUTO_MAX = 500;
// renewal rounds for leases announced lost: the first at once, then at most
// one per this many ms (anyone who may read the namespace may announce)
const HINT_ROUND_MS = 250;
const quoteIdent = (s) => '"' + s.replace(/"/g, '""') + '"';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const WORKER_KEYS = ['pool', 'connection', 'lanes', 'handlers', 'concurrency', 'leaseTtlMs', 'pollIntervalMs', 'reclaim',
  'capabilities', 'namespaces', 'workerId', 'instanceId', 'shutdownTimeoutMs', 'handleSignals', 'logger', 'poolSize', 'attemptTimeoutMs', 'prefetch',
  'completeDelayMs'];

/**
 * One claimed execution, as its handler sees it.  The fence (lease id,
 * epoch, attempt id) stays inside: every helper presents it for you.
 */
export class Job {
  #w; #fence; #ctl = null;
  // r: a row of CLAIM_SQL (the claim's fields, then its input payload)
  constructor(worker, r, lane) {
    this.#w = worker;
    this.#fence = { leaseId: r[1], epoch: Number(r[2]), attemptId: r[3] };
    this.id = r[0];
    this.kind = r[4] ?? '';
    this.namespace = r[5] ?? 'default';
    this.lane = lane;
    this.attempt = Number(r[6]);
    this.attemptType = r[7];             // initial, retry, reclaim, resumed, replay
    this.resumed = r[7] === 'resumed';
    this.payload = r[8] ?? null;
    this.leaseExpiresAt = 0;             // local clock, set by the worker
    this.renewAt = 0;                    // when the worker renews the lease next (local clock)
    this.finishing = false;              // its completion or failure is on its way
    this.settled = null;                 // 'delayed' | 'suspended' | 'handed_back' once the lease is given up
    this.lost = null;                    // why the lease was lost
    this.hints = 0;                      // announcements of its loss heard: a renewal sent before one cannot clear it
  }
  /** Aborted the moment the lease is lost, revoked or the execution cancelled (reason: the cause). */
  get signal() { return (this.#ctl ??= new AbortController()).signal; }
  // made on first use: most handlers never look
  _abort(reason) { (this.#ctl ??= new AbortController()).abort(reason); }
  /** The input: parsed JSON when it is JSON, else the bytes; null when none. */
  get input() { return decodePayload(this.payload); }
  get fence() { return this.#fence; }

  async #call(sql, args, what) {
    if (this.lost) throw new FfError(`${what}: the lease is lost (${this.lost})`, { code: this.lost });
    const env = await this.#w._query(sql, args);
    if (env && env.ok === false) {
      if (LOST.has(env.error) || env.error === 'stale_owner_cannot_append') this.#w._lose(this, env.error === 'stale_owner_cannot_append' ? 'stale_lease' : env.error);
      throw new FfError(`${what}: ${env.error}${env.detail ? ` (${env.detail})` : ''}`, { code: env.error, envelope: env });
    }
    return env;
  }

  /** Records progress (0..100) and a message. */
  async progress(pct, message = null) {
    checkInt(pct, 'pct', { max: 100 });
    if (message !== null) checkString(message, 'message', { max: 4096 });
    const f = this.#fence;
    return this.#call('SELECT ff.update_progress($1, $2, $3, $4, $5) AS r', [this.id, f.leaseId, f.epoch, pct, message], 'update_progress');
  }

  /**
   * Appends one frame to the attempt's output stream (readers follow it with
   * ff.tail_attempt_stream). data: a string (text) or bytes or JSON.
   * options: {mode: 'durable' | 'summary' | 'best_effort', ttlMs}.
   */
  async appendFrame(frameType, data, { mode = 'durable', ttlMs = 0 } = {}) {
    checkString(frameType, 'frameType', { min: 1, max: 256 });
    if (!['durable', 'summary', 'best_effort'].includes(mode)) throw argError('mode: expected durable, summary or best_effort');
    checkInt(ttlMs, 'ttlMs');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : encodePayload(data) ?? Buffer.alloc(0);
    const f = this.#fence;
    return this.#call(`SELECT ff.append_frame($1, $2, $3, $4, $5, $6, attempt_id => $7, stream_mode => $8, ttl_ms => $9) AS r`,
      [this.id, this.attempt, f.leaseId, f.epoch, frameType, bytes, f.attemptId, mode, ttlMs], 'append_frame');
  }

  /**
   * Parks the execution for ms: the lease is given up and the handler runs
   * again (job.resumed true, same attempt) once the delay has passed.
   * Return from the handler after it.
   */
  async delay(ms) {
    checkInt(ms, 'ms');
    const f = this.#fence;
    const env = await this.#call('SELECT ff.delay_execution($1, $2, $3, $4, ff.now_ms() + $5) AS r',
      [this.id, f.leaseId, f.epoch, f.attemptId, ms], 'delay_execution');
    this.settled = 'delayed';
    this.#w._settled(this);
    return env;
  }

  /**
   * Suspends until a signal arrives (or the timeout): the lease is given up
   * and the handler runs again (job.resumed true; job.signals() tells what
   * woke it). Returns {waitpointId, token} — hand the token to whoever will
   * signal (client deliverSignal) — or, when signals buffered earlier already
   * satisfy the condition, {alreadySatisfied: true} with the lease kept.
   * options: {key, signals: names ([] = any), timeoutMs, onTimeout: fail |
   * cancel | expire | auto_resume, waitpointId}.
   */
  async suspend({ key = 'signal', signals = [], timeoutMs, onTimeout = 'fail', waitpointId = randomUUID(), reason = 'waiting_for_signal' } = {}) {
    checkString(key, 'key', { min: 1, max: 256 });
    if (!Array.isArray(signals)) throw argError('signals: expected an array of signal names');
    signals.forEach((s, i) => checkString(s, `signals[${i}]`, { min: 1, max: 256 }));
    if (timeoutMs !== undefined) checkInt(timeoutMs, 'timeoutMs', { min: 1 });
    if (!['fail', 'cancel', 'expire', 'auto_resume', 'auto_resume_with_timeout_signal', 'escalate'].includes(onTimeout)) throw argError(`onTimeout: unknown behaviour ${onTimeout}`);
    checkUuid(waitpointId, 'waitpointId');
    const f = this.#fence;
    const env = await this.#call(`SELECT ff.suspend_execution($1, $2, $3, $4, $5, gen_random_uuid(), $6, $7, $8, $9::jsonb,
                                        timeout_at => ff.now_ms() + $10::bigint, timeout_behavior => $11) AS r`,
      [this.id, this.attempt, f.leaseId, f.epoch, f.attemptId, waitpointId, key, reason,
        JSON.stringify({ required_signal_names: signals }), timeoutMs ?? null, onTimeout], 'suspend_execution');
    if (env.status === 'ALREADY_SATISFIED') return { alreadySatisfied: true, waitpointId };
    this.settled = 'suspended';
    this.#w._settled(this);
    return { alreadySatisfied: false, waitpointId: env.waitpoint_id, token: env.waitpoint_token };
  }

  /** The signals that resumed this attempt's last suspension: [{name, value, payload, ...}]. */
  async signals() {
    const res = await this.#w._rows('SELECT * FROM ff.observe_signals($1, $2)', [this.id, this.attempt]);
    return res.map((s) => ({ signalId: s.signal_id, name: s.signal_name, value: decodePayload(s.payload), payload: s.payload,
      category: s.signal_category, sourceType: s.source_type, sourceIdentity: s.source_identity, acceptedAt: Number(s.accepted_at) }));
  }
}

/**
 * The worker.  Events (counters): 'claimed', 'started', 'completed',
 * 'failed' (terminal), 'retried', 'lease_lost', 'refused' (a finishing call
 * the fence refused), 'handed_back', 'error' only when listened to
 * (otherwise logged), 'stopped'.  worker.counters holds their counts.
 */
export class Worker extends EventEmitter {
  constructor(options = {}) {
    super();
    for (const k of Object.keys(options)) if (!WORKER_KEYS.includes(k)) throw argError(`Worker: unknown option "${k}" (known: ${WORKER_KEYS.join(', ')})`);
    const o = options;
    if (!o.pool && !o.connection) throw argError('Worker: give pool (a pg Pool) or connection (a connection string or pg config)');
    this.lanes = (o.lanes ?? ['default']).map((l, i) => checkLane(l, `lanes[${i}]`));
    if (this.lanes.length === 0) throw argError('lanes: expected at least one lane');
    this.concurrency = checkInt(o.concurrency ?? 10, 'concurrency', { min: 1, max: 1000 });
    // claimed ahead of free slots, waiting their turn under a renewed lease
    // (fewer, larger claims for short jobs; other workers cannot take them):
    // a number, or 'auto' (default) — what the slots start within ~50 ms
    this.prefetchAuto = o.prefetch === undefined || o.prefetch === 'auto';
    if (!this.prefetchAuto && !(Number.isSafeInteger(o.prefetch) && o.prefetch >= 0 && o.prefetch <= 10000)) {
      throw argError(`prefetch: expected 'auto' or an integer 0..10000, got ${JSON.stringify(o.prefetch)}`);
    }
    this.prefetch = this.prefetchAuto ? 0 : o.prefetch;
    // a finished job's completion waits this long for others to share its
    // commit (one complete_executions, one WAL flush): fewer commits leave
    // the disk's flushes to the claims that start the next jobs
    this.completeDelayMs = checkInt(o.completeDelayMs ?? 5, 'completeDelayMs', { min: 0, max: 1000 });
    this.avgHandlerMs = null;
    this.leaseTtlMs = checkInt(o.leaseTtlMs ?? 30000, 'leaseTtlMs', { min: 100 });
    this.pollIntervalMs = checkInt(o.pollIntervalMs ?? 2000, 'pollIntervalMs', { min: 10 });
    this.shutdownTimeoutMs = checkInt(o.shutdownTimeoutMs ?? 10000, 'shutdownTimeoutMs');
    this.attemptTimeoutMs = o.attemptTimeoutMs === undefined ? null : checkInt(o.attemptTimeoutMs, 'attemptTimeoutMs', { min: 1 });
    this.reclaim = o.reclaim ?? true;
    this.capabilities = o.capabilities ?? [];
    if (!Array.isArray(this.capabilities)) throw argError('capabilities: expected an array of strings');
    this.workerId = checkString(o.workerId ?? 'ff-node', 'workerId', { min: 1, max: 256, pattern: /^\S+$/, hint: 'no whitespace' });
    this.instanceId = checkString(o.instanceId ?? `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`, 'instanceId', { min: 1, max: 256, pattern: /^\S+$/, hint: 'no whitespace' });
    this.handleSignals = o.handleSignals ?? true;
    this.namespaces = (o.namespaces ?? ['default']).map((n, i) => checkString(n, `namespaces[${i}]`, { min: 1, max: 256 }));
    this.log = o.logger ?? jsonLogger();
    // the per-job debug lines are built only when the logger takes them
    // (a logger telling its level: jsonLogger, pino)
    const lg = this.log;
    this.debugLogged = typeof lg.isLevelEnabled === 'function' ? !!lg.isLevelEnabled('debug')
      : typeof lg.level === 'string' && lg.level in LEVELS ? LEVELS[lg.level] <= LEVELS.debug : true;
    this.handlers = new Map();
    for (const [kind, fn] of Object.entries(o.handlers ?? {})) this.register(kind, fn);
    if (o.pool) { this.pool = o.pool; this.ownPool = false; } else {
      const cfg = typeof o.connection === 'string' ? { connectionString: o.connection } : { ...o.connection };
      this.pool = new pg.Pool({ ...cfg, max: (o.poolSize ?? Math.min(this.concurrency, 8) + 1) + 4 });
      this.ownPool = true;
    }
    this.counters = { claimed: 0, started: 0, completed: 0, failed: 0, retried: 0, lease_lost: 0, refused: 0, handed_back: 0, errors: 0 };
    this.running = new Map();          // execution id -> Job, from its claim until its finishing call returns
    this.active = 0;                   // handlers running: what the concurrency limit counts
    this.queued = [];                  // claimed (prefetch), waiting for a slot
    this.completeQueue = [];           // [{job, bytes, ms, resolve}]
    this.completing = 0;
    this.state = 'new';
  }

  /** Registers the handler of an execution kind ('*' for every kind without one). */
  register(kind, fn) {
    checkString(kind, 'kind', { max: 256 });
    if (typeof fn !== 'function') throw argError(`handler for kind "${kind}": expected a function`);
    this.handlers.set(kind, fn);
    return this;
  }

  _count(event, fields, level = 'debug', msg = event, counted = false) {
    if (!counted && event in this.counters) this.counters[event]++;
    if (event === 'error') {
      if (this.listenerCount('error') > 0) this.emit('error', fields.error);
      this.log.error(msg, { worker: this.instanceId, ...fields, error: String(fields.error?.message ?? fields.error) });
      return;
    }
    this.emit(event, fields);
    if (level !== 'debug' || this.debugLogged) this.log[level](msg, { event, worker: this.instanceId, ...fields });
  }

  async _query(sql, args) {
    try {
      const res = await this.pool.query(sql, args);
      return res.rows[0]?.r;
    } catch (e) { throw wrapDbError(e); }
  }
  async _rows(sql, args) {
    try { return (await this.pool.query(sql, args)).rows; } catch (e) { throw wrapDbError(e); }
  }

  /** Starts claiming; resolves once the worker listens. */
  async start() {
    if (this.state !== 'new') throw new FfError('the worker was started already', { code: 'invalid_state' });
    this.state = 'running';
    this.stopping = false;
    this.wakePending = true;             // the first claim goes out at once
    this.more = false;                   // the last claim was full: claim again when a slot frees
    this.claiming = 0;                   // claims in flight
    this.claimAsked = 0;                 // what they asked for
    this.claimConns = [];                // held claim connections not in use
    this.pollTimer = null;
    this.hintTimer = null;
    this.hintRoundAt = 0;
    this.nextLane = 0;
    this.channels = new Map();           // channel -> 'lane' | namespace (leases lost)
    this.nsSeen = new Set();             // namespaces whose lease channel was looked for
    if (this.ownPool || this.pool.listenerCount('error') === 0) this.pool.on('error', (e) => this._count('error', { error: e, where: 'pool' }));
    this.isAdmin = (await this._rows('SELECT ff._is_admin() AS a'))[0].a === true;
    // the lease channels are listened to from the start (a cancel right
    // after the first claim must not slip by); other namespaces as met
    for (const ns of this.namespaces) {
      try {
        this.channels.set((await this._rows('SELECT ff.lease_channel($1) AS ch', [ns]))[0].ch, ns);
      } catch (e) { this.log.debug('no lease channel', { worker: this.instanceId, namespace: ns, error: e.message }); }
    }
    await this._connectListener();
    this.renewTimer = setInterval(() => this._renewTick(), Math.max(20, Math.floor(this.leaseTtlMs / 6)));
    this._pump();
    if (this.handleSignals) {
      // kept until stop() ends: a signal sent twice (timeout(1) signals the
      // child and its process group) must not fall through to the default
      // action and kill the process in the middle of its hand-back
      this._onSignal = (sig) => {
        this.log.info('signal received, stopping', { worker: this.instanceId, signal: sig });
        this.stop().catch((e) => this._count('error', { error: e, where: 'stop' }));
      };
      process.on('SIGTERM', this._onSignal);
      process.on('SIGINT', this._onSignal);
    }
    this.log.info('worker started', { event: 'started', worker: this.instanceId, lanes: this.lanes, concurrency: this.concurrency });
    return this;
  }

  // The listening connection: the lanes' channels wake the claim loop, the
  // namespaces' lease channels tell a running handler its lease was lost
  // (expired, revoked, its execution cancelled or timed out).  Reconnects
  // after a loss; polling and renewal cover the gap.
  async _connectListener() {
    try {
      const c = await this.pool.connect();
      this.listener = c;
      c.on('notification', (m) => this._onNotification(m));
      c.on('error', (e) => {
        this._count('error', { error: e, where: 'listener' });
        if (this.listener === c) { this.listener = null; c.release(true); }
        if (!this.stopping) setTimeout(() => this._connectListener(), this.pollIntervalMs);
      });
      for (const lane of this.lanes) {
        const ch = (await c.query('SELECT ff.lane_channel($1) AS ch', [lane])).rows[0].ch;
        this.channels.set(ch, 'lane');
        await c.query(`LISTEN ${quoteIdent(ch)}`);
      }
      for (const [ch, kind] of this.channels) if (kind !== 'lane') await c.query(`LISTEN ${quoteIdent(ch)}`);
    } catch (e) {
      this._count('error', { error: e, where: 'listen' });
      if (!this.stopping) setTimeout(() => this._connectListener(), this.pollIntervalMs);
    }
  }

  // Learns a namespace's lease channel the first time one of its jobs runs.
  async _watchNamespace(ns) {
    if ([...this.channels.values()].includes(ns) || this.watching?.has(ns)) return;
    (this.watching ??= new Set()).add(ns);
    try {
      const ch = (await this.pool.query('SELECT ff.lease_channel($1) AS ch', [ns])).rows[0].ch;
      this.channels.set(ch, ns);
      if (this.listener) await this.listener.query(`LISTEN ${quoteIdent(ch)}`);
    } catch (e) {
      this.log.debug('no lease channel: lost leases are seen at renewal', { worker: this.instanceId, namespace: ns, error: e.message });
    }
  }

  _onNotification(m) {
    const kind = this.channels.get(m.channel);
    // no setImmediate hop: the claim goes out in this turn
    if (kind === 'lane') { this.wakePending = true; this._pumpNow(); return; }
    if (kind === undefined) return;
    // a lease lost ({execution_id, lease_epoch, reason}), for the lease
    // this worker holds (not an older one it has reclaimed since): a hint,
    // checked by renewing that lease at once, whose refusal loses it.  Any
    // role that may read the namespace may NOTIFY on its channel.
    let p;
    try { p = JSON.parse(m.payload); } catch { return; }
    if (p === null || typeof p !== 'object' || typeof p.execution_id !== 'string') return;
    const job = this.running.get(p.execution_id);
    if (job && job.fence.epoch === p.lease_epoch && !job.settled && !job.lost) {
      job.renewAt = 0;
      job.hints++;
      this._renewSoon();
    }
  }

  _wake() {
    this.wakePending = true;
    this._pump();
  }

  // Claiming.  A claim goes out when a notification came (wakePending), when
  // the last claim was full (more may be waiting) or at the poll interval,
  // for the slots free (plus prefetch) minus what claims in flight asked
  // for.  Claiming ahead, up to two claims travel at once, each on its own
  // held connection and for half of the capacity, so the next batch is
  // being claimed while the previous one runs.
  _pump() {
    if (this.pumpScheduled || this.stopping) return;
    this.pumpScheduled = true;
    // let every release of the same completed batch land first: one claim
    // of many slots, not many claims of one
    setImmediate(() => { this.pumpScheduled = false; this._pumpNow(); });
  }
  _pumpNow() {
    while (!this.stopping && this.claiming < 2 && (this.wakePending || this.more)) {
      const cap = this.concurrency + this.prefetch;
      const free = cap - this.active - this.queued.length - this.claimAsked;
      if (free <= 0) break;
      if (this.claiming > 0 && (this.prefetch === 0 || free < cap >> 2)) break;
      const n = Math.min(free, this.prefetch > 0 ? Math.ceil(cap / 2) : free, 1000);
      this.wakePending = false;
      this._claimRound(n);
    }
    // polling, the fallback of notifications (and how expired leases are
    // found): a claim at least every pollIntervalMs
    if (this.claiming === 0 && !this.stopping && !this.pollTimer) {
      this.pollTimer = setTimeout(() => { this.pollTimer = null; this._wake(); }, this.backoffMs || this.pollIntervalMs);
    }
  }
  async _claimRound(n) {
    this.claiming++;
    this.claimAsked += n;
    if (this.pollTimer) { clearTimeout(this.pollTimer); this.pollTimer = null; }
    let got = 0;
    const conn = this.claimConns.pop() ?? null;
    const slot = { conn };
    try {
      for (let i = 0; i < this.lanes.length && got < n && !this.stopping; i++) {
        const lane = this.lanes[(this.nextLane + i) % this.lanes.length];
        got += await this._claim(slot, lane, n - got);
      }
      this.nextLane = (this.nextLane + 1) % this.lanes.length;
      this.more = got === n;
      this.failures = 0;
      this.backoffMs = 0;
    } catch (e) {
      this.failures = (this.failures ?? 0) + 1;
      this.more = false;
      this.backoffMs = Math.min(this.pollIntervalMs, 100 * 2 ** Math.min(this.failures, 6));
      this._count('error', { error: e, where: 'claim' });
    } finally {
      if (slot.conn) this.claimConns.push(slot.conn);
      this.claiming--;
      this.claimAsked -= n;
      if (this.claiming === 0 && this.claimIdle) this.claimIdle();
      this._pumpNow();
    }
  }

  // One claim_next of up to n; each claim carries the execution's kind and
  // namespace, which is what the handler dispatch needs.
  // Claims run on connections of their own (held), so that a claim and
  // the previous batch's completion travel side by side.
  async _claim(slot, lane, n) {
    const sent = Date.now();
    if (!slot.conn) {
      const c = await this.pool.connect();
      c.on('error', () => {});          // a dead connection fails its next query, which replaces it
      slot.conn = c;
    }
    let res;
    try {
      // rows as arrays: no object made per row
      res = await slot.conn.query({ name: 'ff_claim', text: CLAIM_SQL, rowMode: 'array',
        values: [lane, this.workerId, this.instanceId, this.capabilities, this.leaseTtlMs, n, this.attemptTimeoutMs, this.reclaim] });
    } catch (e) {
      const c = slot.conn;
      slot.conn = null;
      c.release(true);
      throw wrapDbError(e);
    }
    let got = 0;
    // claim_next returns claimed executions only (one failed over its
    // reclaim cap is not returned)
    for (const row of res.rows) {
      got++;
      const job = new Job(this, row, lane);
      job.leaseExpiresAt = sent + this.leaseTtlMs;
      job.renewAt = sent + Math.floor(this.leaseTtlMs / 3);
      // this worker took over its own lost lease (a revoke or an expiry is
      // announced, and reclaims answer at once): the old run is over
      const old = this.running.get(job.id);
      if (old) this._lose(old, 'stale_lease');
      this.running.set(job.id, job);
      this.queued.push(job);
      this.counters.claimed++;
      if (this.debugLogged || this.listenerCount('claimed') > 0) this._count('claimed', { executionId: job.id, kind: job.kind, attemptType: job.attemptType, lane }, 'debug', 'claimed', true);
    }
    this._startQueued();
    return got;
  }

  // Starts claimed jobs while slots are free; a job whose lease was lost
  // while it waited never starts.
  _startQueued() {
    while (this.active < this.concurrency && this.queued.length && !this.stopping) {
      const job = this.queued.shift();
      if (job.lost || job.settled) { this._release(job); continue; }
      this.active++;
      this._run(job);
    }
  }

  // Runs the job's handler; _ran takes over once it settles.  Not an async
  // function: its frame and promise were a fifth of what a job allocated,
  // and the collector's work grew with them (test/bench/README.md).
  _run(job) {
    if (!this.nsSeen.has(job.namespace)) { this.nsSeen.add(job.namespace); this._watchNamespace(job.namespace); }
    const handler = this.handlers.get(job.kind) ?? this.handlers.get('*');
    const t0 = performance.now();
    if (!handler) { this._ran(job, false, t0, undefined, new Permanent(`no handler for kind "${job.kind}"`)); return; }
    this.counters.started++;
    if (this.debugLogged || this.listenerCount('started') > 0) this._count('started', { executionId: job.id, kind: job.kind, attempt: job.attempt, attemptType: job.attemptType }, 'debug', 'started', true);
    let p;
    try { p = handler(job); } catch (e) { this._ran(job, true, t0, undefined, e ?? new Error('handler threw a nullish value')); return; }
    // a value, a promise or any thenable taken up in a later microtask, as
    // await did (Promise.resolve returns a native promise as it is)
    Promise.resolve(p).then((v) => this._ran(job, true, t0, v, null),
      (e) => this._ran(job, true, t0, undefined, e ?? new Error('handler threw a nullish value')));
  }

  _ran(job, handled, t0, value, error) {
    const ms = performance.now() - t0;
    if (this.prefetchAuto && handled) {
      // the mean handler duration sets how far ahead to claim
      const avg = this.avgHandlerMs = this.avgHandlerMs === null ? ms : this.avgHandlerMs * 0.9 + ms * 0.1;
      this.prefetch = Math.min(AUTO_MAX, Math.floor((this.concurrency * AUTO_WAIT_MS) / Math.max(avg, 0.001)));
    }
    // the slot is free once the handler returns: the next claim need not
    // wait for this one's finishing call (the lease is kept, and renewed,
    // until that call returns)
    this.active--;
    this._startQueued();
    if (this.more || this.wakePending) this._pump();
    if (job.settled) { this._release(job); return; }   // delayed, suspended or handed back: nothing to finish
    job.finishing = true;   // its completion or failure is on its way: never handed back
    if (!error) { this._complete(job, value, Math.round(ms)); return; }   // released once its batch returns
    this._fail(job, error, Math.round(ms))
      .catch((e) => this._count('error', { error: e, where: 'finish', executionId: job.id }))
      .finally(() => this._release(job));
  }

  _release(job) {
    if (this.running.get(job.id) === job) this.running.delete(job.id);
    if (this.running.size === 0 && this.idleWaiter) this.idleWaiter();
  }
  _settled(job) {
    this.log.debug(job.settled, { event: job.settled, worker: this.instanceId, executionId: job.id });
  }

  // Lost: aborted at once; whatever the handler still writes, the fence refuses.
  _lose(job, reason) {
    if (job.lost || job.settled) return;
    job.lost = reason;
    this._count('lease_lost', { executionId: job.id, reason }, 'warn', 'lease lost');
    job._abort(new FfError(`lease lost: ${reason}`, { code: reason }));
  }

  _refused(job, env, what) {
    if (LOST.has(env.error)) this._lose(job, env.error);
    this._count('refused', { executionId: job.id, call: what, error: env.error }, 'warn', `${what} refused`);
  }

  // Completions are batched: handlers finishing within completeDelayMs of
  // the first, and what accumulates while batches are in flight (at most
  // 2), share one complete_executions; each handler's item gets its own
  // outcome.  A job stays in the running set (its lease renewed) until its
  // batch returns.
  _complete(job, value, ms) {
    let bytes;
    try { bytes = encodePayload(value); } catch (e) {
      this._fail(job, new Permanent(`result not serialisable: ${e.message}`), ms).finally(() => this._release(job));
      return;
    }
    this.completeQueue.push({ job, bytes, ms });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      const flush = () => { this.flushScheduled = false; this._flushCompletes(); };
      if (this.completeDelayMs > 0) setTimeout(flush, this.completeDelayMs);
      else setImmediate(flush);
    }
  }
  _flushCompletes() {
    while (this.completeQueue.length && this.completing < 2) {
      const batch = this.completeQueue.splice(0, 1000);
      this.completing++;
      this._completeBatch(batch).catch((e) => this._count('error', { error: e, where: 'complete' })).finally(() => {
        for (const b of batch) this._release(b.job);
        this.completing--;
        this._flushCompletes();
      });
    }
  }
  async _completeBatch(batch) {
    if (batch.length === 1) return this._completeOne(batch[0]);
    let env;
    try {
      // the arrays as literals (ids and uuids from the claims need no
      // escaping); no results at all (no-op handlers) as one NULL
      let ids = '{', leases = '{', epochs = '{', attempts = '{', anyBytes = false;
      for (let i = 0; i < batch.length; i++) {
        const b = batch[i], f = b.job.fence, sep = i ? ',' : '';
        ids += sep + '"' + b.job.id + '"';
        leases += sep + f.leaseId;
        epochs += sep + f.epoch;
        attempts += sep + f.attemptId;
        if (b.bytes != null) anyBytes = true;
      }
      const [allOk, r] = (await this._rows({ name: 'ff_complete_many', text: COMPLETE_MANY_SQL, rowMode: 'array',
        values: [ids + '}', leases + '}', epochs + '}', attempts + '}', anyBytes ? batch.map((b) => b.bytes) : null] }))[0] ?? [];
      if (allOk === batch.length) {
        for (let i = 0; i < batch.length; i++) this._completed(batch[i], COMPLETED);
        return;
      }
      env = r;
      if (!Array.isArray(env?.results) || env.results.length !== batch.length) throw new FfError('complete_executions: unexpected answer', { envelope: env });
    } catch (e) {
      // the statement failed as a whole (one result over
      // ff_engine.max_payload_bytes, a lost connection): each item again on
      // its own, so every handler gets the outcome a single complete gives it
      this.log.debug('batched complete failed, completing one by one', { worker: this.instanceId, count: batch.length, error: e.message });
      for (const b of batch) await this._completeOne(b);
      return;
    }
    for (let i = 0; i < batch.length; i++) this._completed(batch[i], env.results[i]);
  }
  async _completeOne(b) {
    const f = b.job.fence;
    try {
      this._completed(b, await this._query({ name: 'ff_complete', text: COMPLETE_SQL, values: [b.job.id, f.leaseId, f.epoch, f.attemptId, b.bytes] }));
    } catch (e) {
      // a result the engine refuses to store (SQLSTATE class 54 or 22: too
      // large, malformed) would be refused again after a reclaim: the
      // execution fails for good instead of running again
      if (e instanceof FfError && /^(54|22)/.test(e.sqlstate ?? '')) await this._fail(b.job, new Permanent(`result refused: ${e.message}`), b.ms);
      else this._count('error', { error: e, where: 'complete', executionId: b.job.id });
    }
  }
  _completed(b, r) {
    if (!r.ok) { this._refused(b.job, r, 'complete_execution'); return; }
    this.counters.completed++;
    if (this.debugLogged || this.listenerCount('completed') > 0) this._count('completed', { executionId: b.job.id, kind: b.job.kind, durationMs: b.ms }, 'debug', 'completed', true);
  }

  // A thrown error fails the attempt: retried as the execution's policy
  // allows (and its retryable_categories, when it names them), unless it is
  // Permanent: category "permanent", which the engine never retries.
  async _fail(job, error, ms) {
    const permanent = error instanceof Permanent;
    const category = permanent ? 'permanent' : String(error.category ?? 'transient').slice(0, 256) || 'transient';
    const reason = String(error.message ?? error).slice(0, 4000) || error.name || 'error';
    const f = job.fence;
    try {
      const env = await this._query('SELECT ff.fail_execution($1, $2, $3, $4, $5, $6) AS r', [job.id, f.leaseId, f.epoch, f.attemptId, reason, category]);
      if (!env.ok) { this._refused(job, env, 'fail_execution'); return; }
      const fields = { executionId: job.id, kind: job.kind, reason, category, permanent, durationMs: ms };
      if (env.result === 'retry_scheduled') this._count('retried', { ...fields, delayUntil: env.delay_until }, 'warn', 'attempt failed, retry scheduled');
      else this._count('failed', fields, 'error', 'execution failed');
    } catch (e) {
      this._count('error', { error: e, where: 'fail', executionId: job.id });
    }
  }

  // A renewal round for announced leases: at once (or right after the one
  // in flight), then at most one every HINT_ROUND_MS.
  _renewSoon() {
    if (this.hintTimer || this.stopping) return;
    const wait = Math.max(0, this.hintRoundAt + HINT_ROUND_MS - Date.now());
    this.hintTimer = setTimeout(() => {
      this.hintTimer = null;
      this.hintRoundAt = Date.now();
      if (this.renewing) this.renewAgain = true;
      else this._renewTick();
    }, wait);
  }

  // Lease renewal at a third of the TTL, every due lease in one statement on
  // a connection of its own; a lease whose local deadline passes with no
  // renewal is given up at once (its writes would be refused anyway).
  async _renewTick() {
    if (this.renewing) return;
    const now = Date.now();
    const due = [];
    for (const job of this.running.values()) {
      if (job.lost || job.settled) continue;
      if (now >= job.leaseExpiresAt) { this._lose(job, 'lease_expired'); continue; }
      if (now >= job.renewAt) due.push(job);
    }
    if (!due.length) return;
    const hints = due.map((j) => j.hints);
    this.renewing = true;
    try {
      if (!this.renewConn) {
        this.renewConn = await this.pool.connect();
        this.renewConn.on('error', () => {});
      }
      const res = await this.renewConn.query(
        `SELECT ff.renew_lease(u.id, u.idx, u.att, u.lease, u.epoch, $6) AS r
           FROM unnest($1::text[], $2::int[], $3::uuid[], $4::uuid[], $5::bigint[]) WITH ORDINALITY AS u(id, idx, att, lease, epoch, ord)
          ORDER BY u.ord`,
        [due.map((j) => j.id), due.map((j) => j.attempt), due.map((j) => j.fence.attemptId), due.map((j) => j.fence.leaseId),
          due.map((j) => j.fence.epoch), this.leaseTtlMs]);
      res.rows.forEach((row, i) => {
        const job = due[i];
        if (job.settled) return;
        if (row.r.ok) {
          job.leaseExpiresAt = now + this.leaseTtlMs;
          // an announcement heard meanwhile is checked by the next round
          job.renewAt = job.hints === hints[i] ? now + Math.floor(this.leaseTtlMs / 3) : 0;
        } else if (LOST.has(row.r.error)) {
          this._lose(job, row.r.error === 'execution_not_active' && row.r.terminal_outcome === 'cancelled' ? 'cancelled' : row.r.error);
        } else {
          this._count('error', { error: new FfError(`renew_lease: ${row.r.error}`, { code: row.r.error }), where: 'renew', executionId: job.id });
        }
      });
    } catch (e) {
      this._count('error', { error: wrapDbError(e), where: 'renew' });
      if (this.renewConn) { this.renewConn.release(true); this.renewConn = null; }
    } finally {
      this.renewing = false;
      if (this.renewAgain && !this.stopping) { this.renewAgain = false; this._renewTick(); }
    }
  }

  /**
   * Graceful stop: claims stop, running handlers get until timeoutMs to
   * finish, then the unfinished are handed back (their lease given up with
   * delay_execution to now, so another worker claims them at once rather
   * than after the lease's expiry) and their signals aborted.
   */
  async stop({ timeoutMs = this.shutdownTimeoutMs } = {}) {
    if (this.state === 'stopped' || this.state === 'new') return;
    if (this.stopPromise) return this.stopPromise;
    this.stopPromise = (async () => {
      this.stopping = true;
      this.state = 'stopping';
      this._wake();
      if (this.pollTimer) { clearTimeout(this.pollTimer); this.pollTimer = null; }
      if (this.hintTimer) { clearTimeout(this.hintTimer); this.hintTimer = null; }
      if (this.claiming > 0) await new Promise((r) => { this.claimIdle = r; });
      this.claimIdle = null;
      // claimed ahead and not started: handed back at once
      for (const job of this.queued.splice(0)) await this._handBack(job);
      if (this.running.size > 0) {
        this.log.info('waiting for running handlers', { worker: this.instanceId, running: this.running.size, timeoutMs });
        await new Promise((resolve) => {
          const t = setTimeout(resolve, timeoutMs);
          this.idleWaiter = () => { clearTimeout(t); resolve(); };
        });
        this.idleWaiter = null;
      }
      for (const job of [...this.running.values()]) if (!job.finishing) await this._handBack(job);
      while (this.completeQueue.length || this.completing) await sleep(5);
      clearInterval(this.renewTimer);
      while (this.renewing) await sleep(5);
      if (this.renewConn) { this.renewConn.release(); this.renewConn = null; }
      for (const c of this.claimConns.splice(0)) c.release();
      if (this.listener) { const l = this.listener; this.listener = null; l.release(true); }
      if (this.ownPool) await this.pool.end();
      this.state = 'stopped';
      if (this._onSignal) {
        // timeout(1) signals the child, then its process group: the second
        // signal can land just after a quick stop.  The handlers (a no-op
        // once stopped) stay one more second so it cannot kill the process
        // with the default action; the timer keeps nothing alive.
        const h = this._onSignal;
        this._onSignal = null;
        setTimeout(() => { process.removeListener('SIGTERM', h); process.removeListener('SIGINT', h); }, 1000).unref();
      }
      this._count('stopped', { counters: { ...this.counters } }, 'info', 'worker stopped');
    })();
    return this.stopPromise;
  }

  // delay_execution to now parks the attempt; an admin's promote_delayed
  // makes it claimable in the same transaction, otherwise the delayed
  // scanner does within its interval (750 ms).  Nothing else lets a lease
  // holder give its lease up without ending or failing the attempt.
  async _handBack(job) {
    if (job.settled || job.lost) return;
    job.settled = 'handed_back';
    const f = job.fence;
    let conn;
    try {
      conn = await this.pool.connect();
      await conn.query('BEGIN');
      const env = (await conn.query('SELECT ff.delay_execution($1, $2, $3, $4, ff.now_ms()) AS r', [job.id, f.leaseId, f.epoch, f.attemptId])).rows[0].r;
      if (env.ok && this.isAdmin) await conn.query('SELECT ff.promote_delayed($1)', [job.id]);
      await conn.query('COMMIT');
      if (env.ok) this._count('handed_back', { executionId: job.id, kind: job.kind }, 'warn', 'handler unfinished at shutdown, execution handed back');
      else this._count('refused', { executionId: job.id, call: 'delay_execution', error: env.error }, 'warn', 'hand back refused');
    } catch (e) {
      if (conn) await conn.query('ROLLBACK').catch(() => {});
      this._count('error', { error: e, where: 'hand_back', executionId: job.id });
    } finally {
      if (conn) conn.release();
      job._abort(new FfError('worker shutting down: execution handed back', { code: 'shutdown' }));
      this.running.delete(job.id);
    }
  }
}
