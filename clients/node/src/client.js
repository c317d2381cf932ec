// The ff_engine client: every call runs on the connection it is given (a
// pg Client or PoolClient), inside whatever transaction the caller has open,
// so an enqueue commits or rolls back with the caller's own writes.
// Arguments are checked here, before any query: a wrong one throws an
// FfError with code "invalid_argument" and nothing reaches the database.
import { FfError, argError, wrapDbError, checkEnvelope } from './errors.js';

const EXEC_ID = /^\{fp:\d{1,5}\}:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const LANE = /^[\x21-\x7e]{1,64}$/;
const TAG_KEY = /^[a-z][a-z0-9_]*\.[a-z0-9_][a-z0-9_.]*$/;
const CAPABILITY = /^[^,\s\x00-\x1f\x7f]+$/;
export const TERMINAL_STATES = ['completed', 'failed', 'cancelled', 'expired', 'skipped'];

// ---- payloads: a Buffer / Uint8Array travels as bytes, anything else as JSON text ----

export function encodePayload(v) {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const s = JSON.stringify(v);
  if (s === undefined) throw argError(`payload: ${typeof v} is not JSON-serialisable`);
  return Buffer.from(s, 'utf8');
}

/** Bytes back to what was sent: parsed JSON when they are JSON, else the Buffer; null stays null. */
export function decodePayload(buf) {
  if (buf === null || buf === undefined) return null;
  try { return JSON.parse(buf.toString('utf8')); } catch { return buf; }
}

// ---- argument checks ----

function checkDb(db) {
  if (!db || typeof db.query !== 'function') throw argError('db: expected a pg Client, PoolClient or Pool');
}
export function checkExecId(v, name = 'executionId') {
  if (typeof v !== 'string' || !EXEC_ID.test(v)) throw argError(`${name}: expected an execution id {fp:N}:<uuid>, got ${JSON.stringify(v)}`);
  return v;
}
export function checkUuid(v, name) {
  if (typeof v !== 'string' || !UUID.test(v)) throw argError(`${name}: expected a uuid, got ${JSON.stringify(v)}`);
  return v;
}
export function checkString(v, name, { min = 0, max = 256, pattern, hint } = {}) {
  if (typeof v !== 'string') throw argError(`${name}: expected a string, got ${v === null ? 'null' : typeof v}`);
  if (Buffer.byteLength(v) < min || Buffer.byteLength(v) > max) throw argError(`${name}: expected ${min}..${max} bytes, got ${Buffer.byteLength(v)}`);
  if (pattern && !pattern.test(v)) throw argError(`${name}: ${hint || 'malformed'}: ${JSON.stringify(v)}`);
  return v;
}
export function checkInt(v, name, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw argError(`${name}: expected an integer, got ${JSON.stringify(v)}`);
  if (v < min || v > max) throw argError(`${name}: expected ${min}..${max}, got ${v}`);
  return v;
}
export function checkLane(v, name = 'lane') {
  return checkString(v, name, { min: 1, max: 64, pattern: LANE, hint: 'a lane is 1..64 bytes of printable ASCII without spaces' });
}
function checkKeys(obj, allowed, what) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw argError(`${what}: expected an object`);
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw argError(`${what}: unknown option "${k}" (known: ${allowed.join(', ')})`);
  }
}

const RETRY_KEYS = ['maxRetries', 'initialDelayMs', 'multiplier', 'maxDelayMs', 'fixedDelayMs'];

// {maxRetries, initialDelayMs, multiplier, maxDelayMs} (exponential) or {maxRetries, fixedDelayMs}
function retryPolicy(r) {
  checkKeys(r, RETRY_KEYS, 'retry');
  const p = { max_retries: checkInt(r.maxRetries ?? 0, 'retry.maxRetries', { max: 10000 }) };
  if (r.fixedDelayMs !== undefined) {
    if (r.initialDelayMs !== undefined || r.multiplier !== undefined || r.maxDelayMs !== undefined)
      throw argError('retry: fixedDelayMs excludes initialDelayMs, multiplier and maxDelayMs');
    p.backoff = { type: 'fixed', delay_ms: checkInt(r.fixedDelayMs, 'retry.fixedDelayMs') };
  } else {
    const b = { type: 'exponential' };
    if (r.initialDelayMs !== undefined) b.initial_delay_ms = checkInt(r.initialDelayMs, 'retry.initialDelayMs');
    if (r.maxDelayMs !== undefined) b.max_delay_ms = checkInt(r.maxDelayMs, 'retry.maxDelayMs');
    if (r.multiplier !== undefined) {
      if (typeof r.multiplier !== 'number' || !(r.multiplier >= 1) || !Number.isFinite(r.multiplier)) throw argError('retry.multiplier: expected a number >= 1');
      b.multiplier = r.multiplier;
    }
    p.backoff = b;
  }
  return p;
}

const ENQUEUE_KEYS = ['id', 'lane', 'kind', 'input', 'priority', 'delayMs', 'runAt', 'idempotencyKey', 'dedupTtlMs',
  'retry', 'tags', 'capabilities', 'namespace', 'deadlineMs', 'flow', 'creator', 'policy'];

// One enqueue's options, checked, as the JSON item the SQL below reads.
function enqueueItem(o, what) {
  checkKeys(o, ENQUEUE_KEYS, what);
  const lane = checkLane(o.lane ?? 'default', `${what}.lane`);
  const x = {
    lane,
    namespace: checkString(o.namespace ?? 'default', `${what}.namespace`, { min: 1, max: 256 }),
    kind: checkString(o.kind ?? '', `${what}.kind`, { max: 256 }),
    priority: checkInt(o.priority ?? 0, `${what}.priority`, { max: 9000 }),
    creator: checkString(o.creator ?? '', `${what}.creator`, { max: 256 }),
    dedup_ttl_ms: checkInt(o.dedupTtlMs ?? 86400000, `${what}.dedupTtlMs`, { min: 1 }),
  };
  if (o.id !== undefined) x.id = checkExecId(o.id, `${what}.id`);
  if (o.flow !== undefined) x.flow = checkUuid(o.flow, `${what}.flow`);
  if (o.id !== undefined && o.flow !== undefined) throw argError(`${what}: give id or flow (which mints an id in the flow's partition), not both`);
  if (o.delayMs !== undefined && o.runAt !== undefined) throw argError(`${what}: give delayMs or runAt, not both`);
  if (o.delayMs !== undefined) x.delay_ms = checkInt(o.delayMs, `${what}.delayMs`);
  if (o.runAt !== undefined) {
    const t = o.runAt instanceof Date ? o.runAt.getTime() : o.runAt;
    x.run_at = checkInt(t, `${what}.runAt`);
  }
  if (o.deadlineMs !== undefined) x.deadline_ms = checkInt(o.deadlineMs, `${what}.deadlineMs`, { min: 1 });
  if (o.idempotencyKey !== undefined) x.idempotency_key = checkString(o.idempotencyKey, `${what}.idempotencyKey`, { min: 1, max: 512 });
  if (o.tags !== undefined) {
    if (o.tags === null || typeof o.tags !== 'object' || Array.isArray(o.tags)) throw argError(`${what}.tags: expected an object {"app.key": "value"}`);
    for (const [k, v] of Object.entries(o.tags)) {
      checkString(k, `${what}.tags key`, { min: 3, max: 256, pattern: TAG_KEY, hint: 'tag keys look like app.field' });
      if (typeof v !== 'string') throw argError(`${what}.tags["${k}"]: expected a string value`);
    }
    x.tags = o.tags;
  }
  const policy = o.policy === undefined ? {} : o.policy;
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) throw argError(`${what}.policy: expected an object`);
  const p = { ...policy };
  if (o.retry !== undefined) p.retry_policy = retryPolicy(o.retry);
  if (o.capabilities !== undefined) {
    if (!Array.isArray(o.capabilities) || o.capabilities.length > 256) throw argError(`${what}.capabilities: expected an array of at most 256 strings`);
    o.capabilities.forEach((c, i) => checkString(c, `${what}.capabilities[${i}]`, { min: 1, max: 4096, pattern: CAPABILITY, hint: 'no commas, whitespace or control characters' }));
    p.routing_requirements = { ...(p.routing_requirements || {}), required_capabilities: o.capabilities };
  }
  if (Object.keys(p).length) x.policy = JSON.stringify(p);
  const payload = encodePayload(o.input);
  if (payload !== null) x.payload = payload.toString('base64');
  return x;
}

// One statement creates every item (and adds flow members to their flow),
// in order; ids are minted by the database (ff.execution_id(lane), or
// ff.flow_member_execution_id(flow)) unless given.
const ENQUEUE_SQL = `
WITH c AS MATERIALIZED (
  SELECT t.ord, t.x, ff.create_execution(
      COALESCE(t.x->>'id', CASE WHEN t.x ? 'flow' THEN ff.flow_member_execution_id((t.x->>'flow')::uuid)
                                ELSE ff.execution_id(t.x->>'lane') END),
      namespace => t.x->>'namespace', lane_id => t.x->>'lane', execution_kind => t.x->>'kind',
      priority => (t.x->>'priority')::bigint, creator_identity => t.x->>'creator', policy_json => t.x->>'policy',
      input_payload => decode(t.x->>'payload', 'base64'),
      delay_until => CASE WHEN t.x ? 'delay_ms' THEN ff.now_ms() + (t.x->>'delay_ms')::bigint ELSE (t.x->>'run_at')::bigint END,
      idempotency_key => t.x->>'idempotency_key', dedup_ttl_ms => (t.x->>'dedup_ttl_ms')::bigint, tags => t.x->'tags',
      execution_deadline_at => ff.now_ms() + (t.x->>'deadline_ms')::bigint) AS r
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(x, ord))
SELECT c.r, CASE WHEN c.x ? 'flow' AND c.r->>'status' = 'OK'
                 THEN ff.add_execution_to_flow((c.x->>'flow')::uuid, c.r->>'execution_id') END AS f
FROM c ORDER BY c.ord`;
const ENQUEUE_SQL_NO_FLOW = ENQUEUE_SQL.replace(/SELECT c\.r, CASE[\s\S]*END AS f/, 'SELECT c.r, NULL::jsonb AS f');

async function q(db, text, values) {
  try {
    return await db.query(text, values);
  } catch (e) {
    throw wrapDbError(e);
  }
}

function enqueueResult(r, f) {
  checkEnvelope(r, 'create_execution');
  if (f) checkEnvelope(f, 'add_execution_to_flow');
  return { executionId: r.execution_id, status: r.status, publicState: r.public_state ?? null, duplicate: r.status === 'DUPLICATE' };
}

/**
 * Creates one execution on db, in the caller's transaction.
 * Returns {executionId, status: "OK" | "DUPLICATE", publicState, duplicate}.
 */
export async function enqueue(db, options = {}) {
  checkDb(db);
  const item = enqueueItem(options, 'enqueue');
  const res = await q(db, item.flow ? ENQUEUE_SQL : ENQUEUE_SQL_NO_FLOW, [JSON.stringify([item])]);
  return enqueueResult(res.rows[0].r, res.rows[0].f);
}

/** Creates many executions (each its own options) in one statement; throws on the first refused one. */
export async function enqueueMany(db, items) {
  checkDb(db);
  if (!Array.isArray(items) || items.length === 0 || items.length > 10000) throw argError('items: expected an array of 1..10000 enqueue options');
  const xs = items.map((o, i) => enqueueItem(o ?? {}, `items[${i}]`));
  const res = await q(db, xs.some((x) => x.flow) ? ENQUEUE_SQL : ENQUEUE_SQL_NO_FLOW, [JSON.stringify(xs)]);
  return res.rows.map((row) => enqueueResult(row.r, row.f));
}

/** Creates a flow: returns its id (minted when not given). */
export async function createFlow(db, { flowId, kind = '', namespace = 'default', ...rest } = {}) {
  checkDb(db);
  checkKeys(rest, [], 'createFlow');
  if (flowId !== undefined) checkUuid(flowId, 'flowId');
  checkString(kind, 'kind', { max: 256 });
  checkString(namespace, 'namespace', { min: 1, max: 256 });
  const res = await q(db, 'SELECT ff.create_flow(COALESCE($1::uuid, gen_random_uuid()), $2, $3) AS r', [flowId ?? null, kind, namespace]);
  const r = checkEnvelope(res.rows[0].r, 'create_flow');
  return r.flow_id;
}

/** Adds the edge upstream -> downstream: the downstream waits for it (both must be members of the flow). */
export async function addDependency(db, flowId, upstreamId, downstreamId, { dependencyKind = 'success_only', dataPassingRef, ...rest } = {}) {
  checkDb(db);
  checkKeys(rest, [], 'addDependency');
  checkUuid(flowId, 'flowId');
  checkExecId(upstreamId, 'upstreamId');
  checkExecId(downstreamId, 'downstreamId');
  checkString(dependencyKind, 'dependencyKind', { min: 1, max: 64 });
  if (dataPassingRef !== undefined) checkString(dataPassingRef, 'dataPassingRef', { min: 1, max: 256 });
  const res = await q(db, 'SELECT ff.add_dependency($1, $2, $3, dependency_kind => $4, data_passing_ref => $5) AS r',
    [flowId, upstreamId, downstreamId, dependencyKind, dataPassingRef ?? null]);
  return checkEnvelope(res.rows[0].r, 'add_dependency');
}

/** Cancels a flow (and, by default, its live members). */
export async function cancelFlow(db, flowId, { reason = '', policy = 'cancel_all', wait = true, ...rest } = {}) {
  checkDb(db);
  checkKeys(rest, [], 'cancelFlow');
  checkUuid(flowId, 'flowId');
  checkString(reason, 'reason', { max: 4096 });
  if (!['cancel_all', 'cancel_pending', 'flow_only'].includes(policy)) throw argError('policy: expected cancel_all, cancel_pending or flow_only');
  const res = await q(db, 'SELECT ff.cancel_flow($1, $2, $3, wait => $4) AS r', [flowId, reason, policy, !!wait]);
  return checkEnvelope(res.rows[0].r, 'cancel_flow');
}

/**
 * Cancels an execution. A waiting, delayed or suspended one is cancelled by
 * any submitter; a running one needs ff_admin (operator override).
 */
export async function cancel(db, executionId, { reason = '', ...rest } = {}) {
  checkDb(db);
  checkKeys(rest, [], 'cancel');
  checkExecId(executionId);
  checkString(reason, 'reason', { max: 4096 });
  const res = await q(db, 'SELECT ff.cancel_execution($1, $2) AS r', [executionId, reason]);
  return checkEnvelope(res.rows[0].r, 'cancel_execution');
}

/**
 * Delivers a signal to a suspended execution's waitpoint, authorised by the
 * token the worker got when it suspended. Returns {signalId, effect, ...}.
 */
export async function deliverSignal(db, { executionId, waitpointId, token, name, payload, idempotencyKey, sourceType = '', sourceIdentity = '', ...rest } = {}) {
  checkDb(db);
  checkKeys(rest, [], 'deliverSignal');
  checkExecId(executionId);
  checkUuid(waitpointId, 'waitpointId');
  checkString(token, 'token', { min: 1, max: 512 });
  checkString(name, 'name', { min: 1, max: 256 });
  if (idempotencyKey !== undefined) checkString(idempotencyKey, 'idempotencyKey', { min: 1, max: 512 });
  checkString(sourceType, 'sourceType', { max: 256 });
  checkString(sourceIdentity, 'sourceIdentity', { max: 256 });
  const res = await q(db, `SELECT ff.deliver_signal($1, $2, gen_random_uuid(), $3, $4, payload => $5, source_type => $6,
                                  source_identity => $7, idempotency_key => COALESCE($8, '')) AS r`,
    [executionId, waitpointId, name, token, encodePayload(payload), sourceType, sourceIdentity, idempotencyKey ?? null]);
  const r = checkEnvelope(res.rows[0].r, 'deliver_signal');
  return { ...r, signalId: r.signal_id, effect: r.effect };
}

/** The execution's state vector and timestamps (read_execution_info), or null when not found. */
export async function getState(db, executionId) {
  checkDb(db);
  checkExecId(executionId);
  const res = await q(db, 'SELECT ff.read_execution_info($1) AS r', [executionId]);
  const r = res.rows[0].r;
  if (r.ok === false && r.error === 'execution_not_found') return null;
  return checkEnvelope(r, 'read_execution_info');
}

/**
 * The state and result of an execution: {executionId, state, outcome,
 * terminal, value (decoded result), payload (bytes), failureReason}; null
 * when not found.
 */
export async function getResult(db, executionId) {
  checkDb(db);
  checkExecId(executionId);
  const res = await q(db, 'SELECT ff.read_execution_info($1) AS r, ff.get_execution_result($1) AS result', [executionId]);
  return resultOf(executionId, res.rows[0].r, res.rows[0].result);
}

function resultOf(executionId, info, bytes) {
  if (info.ok === false && info.error === 'execution_not_found') return null;
  checkEnvelope(info, 'read_execution_info');
  return {
    executionId,
    state: info.public_state,
    outcome: info.terminal_outcome === 'none' ? null : info.terminal_outcome,
    terminal: info.lifecycle_phase === 'terminal',
    value: decodePayload(bytes),
    payload: bytes ?? null,
    failureReason: info.failure_reason || null,
    namespace: info.namespace,
  };
}

const quoteIdent = (s) => '"' + s.replace(/"/g, '""') + '"';

/**
 * Waits until the execution is terminal and returns getResult's answer.
 * LISTENs on its namespace's completion channel and polls every pollMs as
 * the fallback (notifications are at most once). db: a pg Pool (a
 * connection is taken for the wait) or a Client outside a transaction (a
 * LISTEN inside one starts only at its commit; the poll still works).
 * Throws FfError code "timeout" after timeoutMs, "execution_not_found".
 */
export async function waitForResult(db, executionId, { timeoutMs = 30000, pollMs = 1000, ...rest } = {}) {
  checkDb(db);
  checkKeys(rest, [], 'waitForResult');
  checkExecId(executionId);
  checkInt(timeoutMs, 'timeoutMs', { min: 0 });
  checkInt(pollMs, 'pollMs', { min: 10 });
  const isPool = typeof db.totalCount === 'number' && typeof db.connect === 'function';
  const conn = isPool ? await db.connect().catch((e) => { throw wrapDbError(e); }) : db;
  const deadline = Date.now() + timeoutMs;
  let channel = null;
  let wake = null;
  const onNote = (msg) => {
    if (msg.channel !== channel) return;
    try { if (JSON.parse(msg.payload).execution_id !== executionId) return; } catch { return; }
    if (wake) wake();
  };
  try {
    const look = async () => {
      const res = await q(conn, 'SELECT ff.read_execution_info($1) AS r, ff.get_execution_result($1) AS result', [executionId]);
      const r = resultOf(executionId, res.rows[0].r, res.rows[0].result);
      if (r === null) throw new FfError(`execution ${executionId} not found`, { code: 'execution_not_found' });
      return r;
    };
    let r = await look();
    if (r.terminal) return r;
    try {
      channel = (await q(conn, 'SELECT ff.completion_channel($1) AS ch', [r.namespace])).rows[0].ch;
      conn.on('notification', onNote);
      await q(conn, `LISTEN ${quoteIdent(channel)}`);
    } catch (e) {
      channel = null;   // no channel for this role: polling alone
      if (!(e instanceof FfError && e.sqlstate === '42501')) throw e;
    }
    for (;;) {
      r = await look();
      if (r.terminal) return r;
      const left = deadline - Date.now();
      if (left <= 0) throw new FfError(`execution ${executionId} not terminal within ${timeoutMs} ms (state ${r.state})`, { code: 'timeout' });
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.min(pollMs, left));
        wake = () => { clearTimeout(t); resolve(); };
      });
      wake = null;
    }
  } finally {
    if (channel) {
      conn.removeListener('notification', onNote);
      await conn.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
    }
    if (isPool) conn.release();
  }
}
