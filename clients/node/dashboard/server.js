// ff-dashboard: a read-only web view of an ff_engine database, server-rendered
// with Node's http module and pg.  Every connection runs with
// default_transaction_read_only = on, every query is parameterised, every
// value shown is HTML-escaped (html.js), no lease id is ever selected, and
// the pages carry a Content-Security-Policy without script.
import http from 'node:http';
import pg from 'pg';
import { html, Raw, href, query, badge, ts, age, duration, sparkline, bytesText, stateColour, CSS } from './html.js';

const EXEC_ID = /^\{fp:\d{1,5}\}:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const SPARK_MINUTES = 30;
// schedules are another feature's objects: shown only when one of these exists
const SCHEDULE_RELATIONS = ['ff.schedules', 'ff.schedule'];
const DEPTH_STATES = ['waiting', 'delayed', 'rate_limited', 'waiting_children', 'active', 'suspended', 'resumable'];
const END_STATES = ['completed', 'failed', 'cancelled', 'expired', 'skipped'];
const SHORT = { rate_limited: 'rate ltd', waiting_children: 'children', suspended: 'susp.', resumable: 'resum.',
  completed: 'compl.', cancelled: 'cancel.', expired: 'expired', skipped: 'skipped' };

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
const notFound = (what) => new HttpError(404, what);

// Settings every connection starts with, in the startup packet: read-only
// transactions from the first statement, and a bound on each query.
const SESSION_OPTIONS = '-c default_transaction_read_only=on -c statement_timeout=15000';

// pg lets a URL's own ?options= replace the configured ones: add ours to
// it (a later -c wins).  The query part is edited as text, since a URL
// with an empty host (a Unix socket) is not a WHATWG URL.
export function readOnlyUrl(databaseUrl) {
  const url = String(databaseUrl);
  if (!/^postgres(ql)?:\/\//.test(url)) return { connectionString: url, options: SESSION_OPTIONS };
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  const qm = base.indexOf('?');
  const params = new URLSearchParams(qm >= 0 ? base.slice(qm + 1) : '');
  const own = params.get('options');
  params.set('options', own ? own + ' ' + SESSION_OPTIONS : SESSION_OPTIONS);
  return { connectionString: (qm >= 0 ? base.slice(0, qm) : base) + '?' + params.toString(), options: SESSION_OPTIONS };
}

export function createPool(databaseUrl, { max = 4 } = {}) {
  const pool = new pg.Pool({
    ...readOnlyUrl(databaseUrl),
    application_name: 'ff-dashboard',
    max,
    idleTimeoutMillis: 30000,
  });
  pool.on('error', () => {});	// an idle client's lost connection: the next query reconnects
  return pool;
}

export function createDashboard({ pool }) {
  const q = async (sql, params = []) => (await pool.query(sql, params)).rows;
  const q1 = async (sql, params = []) => (await q(sql, params))[0];

  let scheduleRel;	// cached for a minute: another install may add it
  let scheduleAt = 0;
  async function scheduleRelation() {
    if (Date.now() - scheduleAt > 60000) {
      const r = await q1('SELECT to_regclass($1) IS NOT NULL AS a, to_regclass($2) IS NOT NULL AS b', SCHEDULE_RELATIONS);
      scheduleRel = r.a ? SCHEDULE_RELATIONS[0] : r.b ? SCHEDULE_RELATIONS[1] : null;
      scheduleAt = Date.now();
    }
    return scheduleRel;
  }

  async function page(title, active, body) {
    const sched = await scheduleRelation().catch(() => null);
    const nav = [['/', 'Lanes'], ['/failures', 'Failures'], ['/flows', 'Flows'], ['/budgets', 'Budgets & quotas'],
      ['/health', 'Scanners & dispatcher']];
    if (sched) nav.push(['/schedules', 'Schedules']);
    nav.push(['/metrics', 'Metrics']);
    return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · ff_engine</title><style>${new Raw(CSS)}</style></head><body>
<header><b>ff_engine</b>${nav.map(([p, l]) => html`<a href="${p}" class="${p === active ? 'on' : ''}">${l}</a>`)}
<form method="get" action="/execution"><input name="id" placeholder="execution id {fp:N}:uuid" aria-label="execution id"></form></header>
<main><h1>${title}</h1>${body}</main></body></html>`;
  }

  // A section whose query may fail (e.g. a view this role may not read):
  // the error is shown in place, the rest of the page still renders.
  async function section(title, fn) {
    let inner;
    try { inner = await fn(); } catch (e) { inner = html`<div class="err">could not read: ${e.message}</div>`; }
    return html`<h2>${title}</h2>${inner}`;
  }

  const num = (v) => (Number(v) === 0 ? html`<span class="zero">0</span>` : html`${v}`);
  const execLink = (id) => html`<a class="id" href="${href('/execution', id)}">${id}</a>`;
  const flowLink = (id) => html`<a class="id" href="${href('/flow', id)}">${id}</a>`;
  const none = (what) => html`<p class="muted">${what}</p>`;

  // ---- lanes ----
  async function lanesPage() {
    const [{ now }] = await q('SELECT ff.now_ms() AS now');
    const lanes = await q('SELECT * FROM ff.lane_metrics ORDER BY namespace, lane_id');
    const tp = await q('SELECT * FROM ff.lane_throughput($1)', [SPARK_MINUTES]);
    const series = new Map();
    for (const r of tp) {
      const k = r.namespace + '\u0000' + r.lane_id;
      if (!series.has(k)) series.set(k, { claims: Array(SPARK_MINUTES).fill(0), completions: Array(SPARK_MINUTES).fill(0), failures: Array(SPARK_MINUTES).fill(0) });
      const s = series.get(k);
      const i = SPARK_MINUTES - 1 - r.minutes_ago;
      if (i >= 0) { s.claims[i] = Number(r.claims); s.completions[i] = Number(r.completions); s.failures[i] = Number(r.failures); }
    }
    const disp = await q1('SELECT * FROM ff.dispatcher_status').catch(() => null);
    const rows = lanes.map((l) => {
      const s = series.get(l.namespace + '\u0000' + l.lane_id) || { claims: Array(SPARK_MINUTES).fill(0), completions: Array(SPARK_MINUTES).fill(0), failures: Array(SPARK_MINUTES).fill(0) };
      return html`<tr data-namespace="${l.namespace}" data-lane="${l.lane_id}">
<td>${l.namespace}</td><td><a href="${query('/lane', { namespace: l.namespace, lane: l.lane_id })}">${l.lane_id}</a></td>
<td>${sparkline(s)}</td>
${DEPTH_STATES.map((st) => html`<td class="n" data-k="${st}">${num(l[st])}</td>`)}
${END_STATES.map((st) => html`<td class="n" data-k="${st}">${num(l[st])}</td>`)}
<td class="n" data-k="active_leases">${num(l.active_leases)}</td>
<td class="n" data-k="oldest_eligible_age_ms">${l.oldest_eligible_age_ms === null ? html`<span class="zero">–</span>` : duration(l.oldest_eligible_age_ms)}</td>
<td class="n" data-k="claims">${l.claims_1m} / ${l.claims_1h}</td><td class="n" data-k="completions">${l.completions_1m} / ${l.completions_1h}</td>
<td class="n" data-k="failures">${l.failures_1m} / ${l.failures_1h}</td></tr>`;
    });
    const body = html`
${disp ? html`<p>Completion dispatcher: <b>${disp.pending}</b> pending, oldest ${duration(disp.oldest_pending_age_ms)}, ${disp.failing} failing · engine clock ${ts(now)}</p>` : ''}
${lanes.length === 0 ? none('No executions yet.') : html`<div class="scroll"><table id="lanes"><thead><tr><th>Namespace</th><th>Lane</th>
<th>last ${SPARK_MINUTES} min</th>
${DEPTH_STATES.map((s) => html`<th class="n" title="${s}">${SHORT[s] || s}</th>`)}${END_STATES.map((s) => html`<th class="n" title="${s}">${SHORT[s] || s}</th>`)}
<th class="n" title="active leases">leases</th><th class="n" title="age of the oldest eligible execution">oldest</th><th class="n" title="claims in the last minute / hour">claims</th>
<th class="n" title="completions in the last minute / hour">done</th><th class="n" title="failed attempts in the last minute / hour">failed</th></tr></thead>
<tbody>${rows}</tbody></table></div>
<p class="legend"><span><i style="background:#2563eb"></i>claims</span><span><i style="background:#16a34a;height:8px"></i>completions</span><span><i style="background:#dc2626;height:8px"></i>failures</span> per minute ·
state columns count executions (terminal ones while retained); claims / done / failed: last minute / last hour</p>`}`;
    return page('Lanes', '/', body);
  }

  async function lanePage(params) {
    const ns = params.get('namespace');
    const lane = params.get('lane');
    if (!ns || !lane || ns.length > 512 || lane.length > 512) throw notFound('no such lane');
    const [{ now }] = await q('SELECT ff.now_ms() AS now');
    const rows = await q(`SELECT id, public_state, priority, execution_kind, created_at, completed_at, total_attempt_count, failure_reason
                          FROM ff.executions WHERE namespace = $1 AND lane_id = $2 ORDER BY created_at DESC, id LIMIT 200`, [ns, lane]);
    if (rows.length === 0) throw notFound('no such lane');
    const body = html`<p>Namespace <b>${ns}</b> · the 200 newest executions</p>
<table><thead><tr><th>Execution</th><th>State</th><th>Kind</th><th class="n">Priority</th><th class="n">Attempts</th><th>Created</th><th>Ended</th><th>Failure</th></tr></thead><tbody>
${rows.map((r) => html`<tr><td>${execLink(r.id)}</td><td>${badge(r.public_state)}</td><td>${r.execution_kind}</td><td class="n">${r.priority}</td>
<td class="n">${r.total_attempt_count}</td><td>${ts(r.created_at, now)}</td><td>${ts(r.completed_at, now)}</td><td>${r.failure_reason}</td></tr>`)}</tbody></table>`;
    return page(`Lane ${lane}`, '/', body);
  }

  // ---- an execution ----
  async function executionPage(id) {
    if (!EXEC_ID.test(id)) throw notFound('no such execution');
    let info;
    try {
      info = (await q1('SELECT ff.read_execution_info($1) AS r', [id])).r;
    } catch (e) {
      if (e.code === '22P02' || e.code === '22023') throw notFound('no such execution');
      throw e;
    }
    if (!info || info.ok !== true) throw notFound('no such execution');
    const [{ now }] = await q('SELECT ff.now_ms() AS now');
    const desc = (await q1('SELECT ff.describe_execution($1) AS r', [id])).r || {};
    const vector = ['public_state', 'lifecycle_phase', 'ownership_state', 'eligibility_state', 'blocking_reason',
      'blocking_detail', 'terminal_outcome', 'attempt_state'];
    const kv = (rows) => html`<table class="kv">${rows.map(([k, v]) => html`<tr><td>${k}</td><td>${v}</td></tr>`)}</table>`;
    const lease = desc.current_lease;
    const summary = html`<div class="grid">
<div class="card"><b>State vector</b>${kv(vector.map((k) => [k, k === 'public_state' ? badge(info[k]) : html`<span data-k="${k}">${info[k] ?? '–'}</span>`]))}</div>
<div class="card"><b>Execution</b>${kv([
      ['namespace', info.namespace], ['lane', html`<a href="${query('/lane', { namespace: info.namespace, lane: info.lane_id })}">${info.lane_id}</a>`],
      ['kind', info.execution_kind], ['priority', info.priority],
      ['flow', info.flow_id ? flowLink(info.flow_id) : '–'], ['created', ts(info.created_at, now)], ['started', ts(info.started_at, now)],
      ['completed', ts(info.completed_at, now)], ['delay until', ts(info.delay_until, now)],
      ['attempts', desc.total_attempt_count], ['retries', info.retry_count], ['replays', info.replay_count],
      ['progress', desc.progress_pct === null || desc.progress_pct === undefined ? '–' : html`${desc.progress_pct}% ${desc.progress_message ?? ''}`],
      ['failure reason', html`<span class="${info.failure_reason ? 'bad' : ''}" data-k="failure_reason">${info.failure_reason ?? '–'}</span>`],
      ['last failure reason', html`<span data-k="last_failure_reason">${info.last_failure_reason ?? '–'}</span>`]])}</div>
<div class="card"><b>Current lease</b>${lease ? kv([
      // never the lease id: it is the secret part of the fence
      ['epoch', lease.lease_epoch], ['worker', lease.worker_id], ['worker instance', lease.worker_instance_id],
      ['expires', ts(lease.expires_at, now)], ['ownership', lease.ownership_state]]) : none('No lease is held.')}
${desc.current_waitpoint_id ? html`<p>Waiting on waitpoint <span class="id">${desc.current_waitpoint_id}</span></p>` : ''}</div></div>`;

    const ctx = await section('Payload and tags', async () => {
      const c = await q1('SELECT input_payload, tags FROM ff.read_execution_context($1)', [id]);
      const result = (await q1('SELECT ff.get_execution_result($1) AS r', [id])).r;
      return html`<div class="grid"><div class="card"><b>Input payload</b><div id="payload">${bytesText(c ? c.input_payload : null)}</div></div>
<div class="card"><b>Tags</b><pre class="data" id="tags">${c && c.tags ? JSON.stringify(c.tags, null, 2) : '{}'}</pre></div>
<div class="card"><b>Result</b><div id="result">${bytesText(result)}</div></div></div>`;
    });

    const attempts = await q('SELECT * FROM ff.list_attempts($1, 100)', [id]);
    const attemptsSec = html`<h2>Attempts</h2>${attempts.length === 0 ? none('No attempt yet.') : html`<table id="attempts"><thead><tr>
<th class="n">#</th><th>Type</th><th>State</th><th>Worker</th><th class="n">Epoch</th><th>Started</th><th>Ended</th><th>Failure</th><th>Reason</th></tr></thead><tbody>
${attempts.map((a) => html`<tr data-attempt="${a.attempt_index}"><td class="n">${a.attempt_index}</td><td>${a.attempt_type}</td><td>${a.attempt_state}</td>
<td>${a.worker_id ?? '–'}<div class="muted id">${a.worker_instance_id ?? ''}</div></td><td class="n">${a.lease_epoch ?? '–'}</td>
<td>${ts(a.started_at, now)}</td><td>${ts(a.ended_at, now)}</td><td>${a.failure_reason ?? ''}${a.failure_category ? html` <span class="muted">(${a.failure_category})</span>` : ''}</td>
<td>${[a.retry_reason, a.reclaim_reason, a.replay_reason].filter(Boolean).join('; ')}</td></tr>`)}</tbody></table>`}`;

    const hist = await q('SELECT * FROM ff.read_lease_history($1, 100)', [id]);
    const histSec = html`<h2>Lease history</h2>${hist.length === 0 ? none('No lease events.') : html`<table id="lease-history"><thead><tr>
<th class="n">Seq</th><th>Event</th><th>Reason</th><th class="n">Epoch</th><th class="n">Attempt</th><th>Worker</th><th>When</th></tr></thead><tbody>
${hist.map((h) => html`<tr><td class="n">${h.seq}</td><td>${h.event}</td><td>${h.reason ?? ''}</td><td class="n">${h.lease_epoch ?? ''}</td>
<td class="n">${h.attempt_index ?? ''}</td><td>${h.worker_id ?? ''} <span class="muted id">${h.worker_instance_id ?? ''}</span></td><td>${ts(h.ts, now)}</td></tr>`)}</tbody></table>`}`;

    // the newest frames of the newest attempts that have a stream
    const streams = [];
    for (const a of attempts.slice(0, 3)) {
      const s = (await q1('SELECT ff.read_stream_last($1, $2, 50) AS r', [id, a.attempt_index])).r;
      if (s && s.ok) streams.push([a.attempt_index, s]);
    }
    const streamSec = html`<h2>Stream tail</h2>${streams.length === 0 ? none('No output stream.') : streams.map(([idx, s]) => html`
<p>Attempt ${idx}: ${s.frame_count} frames (${s.retained_count} kept)${s.closed_at ? html`, closed ${ts(s.closed_at, now)} (${s.closed_reason})` : ', open'}</p>
<table class="stream" data-attempt="${idx}"><thead><tr><th>Id</th><th>Type</th><th>Payload</th></tr></thead><tbody>
${s.entries.map((f) => html`<tr><td class="id">${f.id}</td><td>${f.frame_type}</td><td><code>${f.payload}</code>${f.encoding !== 'utf8' ? html` <span class="muted">(${f.encoding})</span>` : ''}</td></tr>`)}
</tbody></table>`)}`;

    let flowSec = '';
    if (info.flow_id) {
      flowSec = await section('Flow', async () => {
        const g = await flowGraph(info.flow_id, id);
        return html`<p>Member of flow ${flowLink(info.flow_id)}</p>${g}`;
      });
    }
    return page(`Execution ${id}`, '', html`${summary}${ctx}${attemptsSec}${histSec}${streamSec}${flowSec}`);
  }

  // ---- flows ----
  async function flowGraph(flowId, highlight) {
    const members = await q(`SELECT id, public_state FROM ff.executions WHERE partition = ff.flow_partition($1) AND flow_id = $1
                             ORDER BY created_at, id LIMIT 500`, [flowId]);
    const edges = await q(`SELECT edge_id, upstream_execution_id AS up, downstream_execution_id AS down, dependency_kind,
                           coalesce(dependency_state, 'staged') AS state, last_resolved_at
                           FROM ff.flow_edges WHERE flow_id = $1 ORDER BY created_at, edge_id LIMIT 2000`, [flowId]);
    const state = new Map(members.map((m) => [m.id, m.public_state]));
    for (const e of edges) { if (!state.has(e.up)) state.set(e.up, null); if (!state.has(e.down)) state.set(e.down, null); }
    const edgeTable = html`<table class="edges"><thead><tr><th>Upstream</th><th></th><th>Downstream</th><th>Kind</th><th>Edge state</th></tr></thead><tbody>
${edges.map((e) => html`<tr data-edge="${e.edge_id}"><td>${execLink(e.up)} ${badge(state.get(e.up))}</td><td>→</td><td>${execLink(e.down)} ${badge(state.get(e.down))}</td>
<td>${e.dependency_kind}</td><td data-k="edge_state">${badge(e.state)}</td></tr>`)}</tbody></table>`;
    if (state.size === 0) return none('The flow has no members.');
    if (state.size > 200) return html`<p class="muted">${state.size} nodes: too many to draw.</p>${edgeTable}`;
    // layers: the longest path from a root (cycles are refused by the engine; bounded anyway)
    const depth = new Map([...state.keys()].map((k) => [k, 0]));
    for (let round = 0; round < state.size; round++) {
      let moved = false;
      for (const e of edges) {
        if (depth.get(e.down) < depth.get(e.up) + 1) { depth.set(e.down, depth.get(e.up) + 1); moved = true; }
      }
      if (!moved) break;
    }
    const layers = [];
    for (const [k, d] of depth) (layers[d] ||= []).push(k);
    const W = 230, H = 46, GX = 70, GY = 18, P = 12;
    const pos = new Map();
    layers.forEach((ids, d) => ids.forEach((k, i) => pos.set(k, { x: P + d * (W + GX), y: P + i * (H + GY) })));
    const width = P * 2 + layers.length * (W + GX) - GX;
    const height = P * 2 + Math.max(...layers.map((l) => l.length)) * (H + GY) - GY;
    const lines = edges.map((e) => {
      const a = pos.get(e.up), b = pos.get(e.down);
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
      return html`<path d="M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2 - 6},${y2}" fill="none" stroke="${stateColour(e.state)}" stroke-width="2" ${e.state === 'staged' ? new Raw('stroke-dasharray="4 3"') : ''} marker-end="url(#arrow)"><title>${e.up} → ${e.down}: ${e.state}</title></path>`;
    });
    const nodes = [...pos].map(([k, p]) => {
      const st = state.get(k);
      return html`<a href="${href('/execution', k)}"><g><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="6" fill="#fff" stroke="${stateColour(st)}" stroke-width="${k === highlight ? 4 : 2}"/>
<text x="${p.x + 8}" y="${p.y + 18}" font-size="11" font-family="ui-monospace,monospace" fill="#0f172a">…${k.slice(-17)}</text>
<text x="${p.x + 8}" y="${p.y + 36}" font-size="12" font-weight="600" fill="${stateColour(st)}">${st ?? 'not visible'}</text><title>${k}</title></g></a>`;
    });
    return html`<svg class="graph" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="flow graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>
${lines}${nodes}</svg>
<p class="legend">${['satisfied', 'unsatisfied', 'impossible', 'staged'].map((s) => html`<span><i style="background:${stateColour(s)}"></i>${s}</span>`)}</p>
${edges.length === 0 ? none('No edges.') : edgeTable}`;
  }

  async function flowsPage() {
    const [{ now }] = await q('SELECT ff.now_ms() AS now');
    const flows = await q(`SELECT flow_id, flow_kind, namespace, public_flow_state, summary_state, node_count, edge_count, created_at, last_mutation_at
                           FROM ff.flows ORDER BY created_at DESC, flow_id LIMIT 200`);
    const body = flows.length === 0 ? none('No flows.') : html`<p>The 200 newest flows.</p><table id="flows"><thead><tr><th>Flow</th><th>Kind</th><th>Namespace</th><th>State</th><th>Summary</th>
<th class="n">Nodes</th><th class="n">Edges</th><th>Created</th><th>Last change</th></tr></thead><tbody>
${flows.map((f) => html`<tr><td>${flowLink(f.flow_id)}</td><td>${f.flow_kind}</td><td>${f.namespace}</td><td>${badge(f.public_flow_state)}</td>
<td>${f.summary_state ?? '–'}</td><td class="n">${f.node_count}</td><td class="n">${f.edge_count}</td><td>${ts(f.created_at, now)}</td><td>${ts(f.last_mutation_at, now)}</td></tr>`)}</tbody></table>`;
    return page('Flows', '/flows', body);
  }

  async function flowPage(flowId) {
    if (!UUID.test(flowId)) throw notFound('no such flow');
    const f = await q1('SELECT * FROM ff.flows WHERE flow_id = $1', [flowId]);
    if (!f) throw notFound('no such flow');
    const [{ now }] = await q('SELECT ff.now_ms() AS now');
    const groups = await q('SELECT * FROM ff.edge_groups WHERE flow_id = $1 ORDER BY downstream_execution_id', [flowId]);
    const body = html`<div class="card"><table class="kv">
<tr><td>state</td><td>${badge(f.public_flow_state)} <span class="muted">summary: ${f.summary_state ?? '–'}</span></td></tr>
<tr><td>kind / namespace</td><td>${f.flow_kind || '–'} / ${f.namespace}</td></tr><tr><td>nodes / edges / revision</td><td>${f.node_count} / ${f.edge_count} / ${f.graph_revision}</td></tr>
<tr><td>created / last change</td><td>${ts(f.created_at, now)} / ${ts(f.last_mutation_at, now)}</td></tr>
${f.cancelled_at ? html`<tr><td>cancelled</td><td>${ts(f.cancelled_at, now)}: ${f.cancel_reason} (${f.cancellation_policy})</td></tr>` : ''}
<tr><td>tags</td><td><code>${JSON.stringify(f.tags ?? {})}</code></td></tr></table></div>
<h2>Graph</h2>${await flowGraph(flowId, null)}
${groups.length ? html`<h2>Edge groups</h2><table><thead><tr><th>Downstream</th><th>Policy</th><th class="n">k / n</th><th class="n">succeeded</th><th class="n">failed</th><th class="n">skipped</th><th class="n">running</th><th>State</th></tr></thead><tbody>
${groups.map((g) => html`<tr><td>${execLink(g.downstream_execution_id)}</td><td>${g.policy_variant} ${g.on_satisfied ?? ''}</td><td class="n">${g.k} / ${g.n}</td>
<td class="n">${g.succeeded}</td><td class="n">${g.failed}</td><td class="n">${g.skipped}</td><td class="n">${g.running}</td><td>${g.group_state}</td></tr>`)}</tbody></table>` : ''}`;
    return page(`Flow ${flowId}`, '/flows', body);
  }

  // ---- budgets, failures, health, schedules ----
  async function budgetsPage() {
    const [{ now }] = await q('SELECT ff.now_ms() AS now');
    const b = await section('Budgets', async () => {
      const rows = await q('SELECT * FROM ff.budget_status ORDER BY namespace NULLS FIRST, budget_id, dimension');
      return rows.length === 0 ? none('No budgets.') : html`<table id="budgets"><thead><tr><th>Budget</th><th>Namespace</th><th>Scope</th><th>Dimension</th>
<th class="n">Usage</th><th class="n">Soft</th><th class="n">Hard</th><th>Use</th><th>Status</th><th>Next reset</th></tr></thead><tbody>
${rows.map((r) => {
    const pct = Number(r.hard_limit) > 0 ? Math.min(100, (Number(r.usage) / Number(r.hard_limit)) * 100) : 0;
    return html`<tr data-budget="${r.budget_id}"><td class="id">${r.budget_id}</td><td>${r.namespace ?? html`<span class="muted">global</span>`}</td><td>${[r.scope_type, r.scope_id].filter(Boolean).join(' ') || '–'}</td>
<td>${r.dimension}</td><td class="n" data-k="usage">${r.usage}</td><td class="n">${Number(r.soft_limit) > 0 ? r.soft_limit : '–'}</td><td class="n">${Number(r.hard_limit) > 0 ? r.hard_limit : '–'}</td>
<td><svg width="100" height="10"><rect width="100" height="10" fill="#e2e8f0"/><rect width="${pct.toFixed(1)}" height="10" fill="${r.exhausted ? '#dc2626' : r.over_soft_limit ? '#d97706' : '#16a34a'}"/></svg></td>
<td>${r.exhausted ? html`<span class="bad">exhausted</span>` : r.over_soft_limit ? html`<span class="bad">over soft limit</span>` : html`<span class="ok">ok</span>`}</td>
<td>${ts(r.next_reset_at, now)}</td></tr>`;
  })}</tbody></table>`;
    });
    const qs = await section('Quotas', async () => {
      const rows = await q('SELECT * FROM ff.quota_status ORDER BY quota_policy_id');
      return rows.length === 0 ? none('No quota policies.') : html`<table id="quotas"><thead><tr><th>Policy</th><th>Namespace</th><th class="n">Window</th><th class="n">Admitted / max</th>
<th class="n">Concurrency / cap</th><th class="n">Live admissions</th><th>Refusing</th></tr></thead><tbody>
${rows.map((r) => html`<tr><td class="id">${r.quota_policy_id}</td><td>${r.namespace ?? html`<span class="muted">global</span>`}</td><td class="n">${r.window_seconds} s</td><td class="n">${r.admitted_in_window} / ${r.max_requests_per_window || '∞'}</td>
<td class="n">${r.active_concurrency} / ${r.active_concurrency_cap || '∞'}</td><td class="n">${r.live_admissions}</td>
<td>${r.refusing ? html`<span class="bad">yes</span>` : html`<span class="ok">no</span>`}</td></tr>`)}</tbody></table>`;
    });
    return page('Budgets & quotas', '/budgets', html`${b}${qs}`);
  }

  async function failuresPage() {
    const [{ now }] = await q('SELECT ff.now_ms() AS now');
    const rows = await q(`SELECT id, namespace, lane_id, public_state, completed_at, total_attempt_count, last_failure_reason
                          FROM ff.executions WHERE public_state IN ('failed', 'expired')
                          ORDER BY completed_at DESC NULLS LAST, id LIMIT 100`);
    const body = rows.length === 0 ? none('No failed or expired executions retained.') : html`<p>The 100 most recent failed or expired executions, with their last failure reason.</p>
<table id="failures"><thead><tr><th>Execution</th><th>Namespace</th><th>Lane</th><th>State</th><th class="n">Attempts</th><th>Ended</th><th>Last failure reason</th></tr></thead><tbody>
${rows.map((r) => html`<tr><td>${execLink(r.id)}</td><td>${r.namespace}</td><td>${r.lane_id}</td><td>${badge(r.public_state)}</td><td class="n">${r.total_attempt_count}</td>
<td>${ts(r.completed_at, now)}</td><td class="reason">${r.last_failure_reason ?? ''}</td></tr>`)}</tbody></table>`;
    return page('Recent failures', '/failures', body);
  }

  async function healthPage() {
    const conn = await q1(`SELECT current_user AS role, current_setting('transaction_read_only') AS read_only,
                           current_setting('default_transaction_read_only') AS default_read_only, ff._is_admin() AS admin`)
      .catch(async () => q1(`SELECT current_user AS role, current_setting('transaction_read_only') AS read_only,
                           current_setting('default_transaction_read_only') AS default_read_only, NULL AS admin`));
    const disp = await section('Completion dispatcher', async () => {
      const d = await q1('SELECT * FROM ff.dispatcher_status');
      return html`<table class="kv" id="dispatcher" style="max-width:520px"><tr><td>pending events</td><td data-k="pending">${d.pending}</td></tr>
<tr><td>oldest pending</td><td>${duration(d.oldest_pending_age_ms)}</td></tr><tr><td>failing events</td><td class="${Number(d.failing) ? 'bad' : ''}">${d.failing}</td></tr>
<tr><td>dispatch failures</td><td>${d.dispatch_failures}</td></tr></table>`;
    });
    const scan = await section('Scanners', async () => {
      const rows = await q('SELECT * FROM ff.scanner_status ORDER BY scanner');
      return rows.length === 0 ? none('No scanner has run yet.') : html`<table id="scanners"><thead><tr><th>Scanner</th><th class="n">Interval</th><th class="n">Runs</th><th>Last run</th>
<th class="n">Duration</th><th class="n">Processed (last / total)</th><th class="n">Errors (last / total)</th><th>Next run</th><th class="n">Failing items</th><th>Last failed batch</th></tr></thead><tbody>
${rows.map((r) => html`<tr><td>${r.scanner}</td><td class="n">${duration(r.interval_ms)}</td><td class="n">${r.runs}</td><td>${r.last_run ? r.last_run.toISOString() : '–'}</td>
<td class="n">${r.last_duration_ms ?? '–'} ms</td><td class="n">${r.last_processed} / ${r.total_processed}</td>
<td class="n ${Number(r.total_errors) ? 'bad' : ''}">${r.last_errors} / ${r.total_errors}</td><td>${r.next_run ? r.next_run.toISOString() : '–'}</td>
<td class="n ${Number(r.failing_items) ? 'bad' : ''}">${r.failing_items}</td>
<td class="reason">${r.last_error_sqlstate ? html`<span class="bad" data-k="last_error_sqlstate">${r.last_error_sqlstate}</span> ${r.last_error} (${r.last_error_at ? r.last_error_at.toISOString() : ''})` : '–'}</td></tr>`)}</tbody></table>`;
    });
    const workers = await section('Workers', async () => {
      const nss = (await q('SELECT DISTINCT namespace FROM ff.lane_metrics ORDER BY 1')).map((r) => r.namespace);
      if (!nss.includes('default')) nss.unshift('default');
      const rows = [];
      for (const ns of nss) for (const w of await q('SELECT * FROM ff.list_workers($1, NULL, 200)', [ns])) rows.push({ ns, ...w });
      const [{ now }] = await q('SELECT ff.now_ms() AS now');
      return rows.length === 0 ? none('No live worker registrations.') : html`<table id="workers"><thead><tr><th>Namespace</th><th>Instance</th><th>Worker</th><th>Lanes</th><th>Last heartbeat</th><th>Expires</th></tr></thead><tbody>
${rows.map((w) => html`<tr><td>${w.ns}</td><td class="id">${w.worker_instance_id}</td><td>${w.worker_id}</td><td>${(w.lanes || []).join(', ')}</td>
<td>${ts(w.last_heartbeat_ms, now)}</td><td>${ts(w.expires_at_ms, now)}</td></tr>`)}</tbody></table>`;
    });
    const body = html`<p id="connection">Connected as <b>${conn.role}</b>${conn.admin ? ' (ff_admin)' : ''} · read-only transactions: <b data-k="read_only" class="${conn.read_only === 'on' ? 'ok' : 'bad'}">${conn.read_only}</b>
(default_transaction_read_only = ${conn.default_read_only})</p>${disp}${scan}${workers}`;
    return page('Scanners & dispatcher', '/health', body);
  }

  async function schedulesPage() {
    const rel = await scheduleRelation();
    if (!rel) throw notFound('no schedules');
    // rel is one of the constants of SCHEDULE_RELATIONS, never from the request
    const body = await section(rel, async () => {
      const res = await pool.query(`SELECT * FROM ${rel} LIMIT 500`);
      const cols = res.fields.map((f) => f.name).filter((c) => !/secret|token|lease_id|password/i.test(c));
      const cell = (v) => (v === null || v === undefined ? html`<span class="muted">–</span>`
        : v instanceof Date ? v.toISOString() : typeof v === 'object' ? html`<code>${JSON.stringify(v)}</code>` : html`${v}`);
      return res.rows.length === 0 ? none('No schedules.') : html`<table id="schedules"><thead><tr>${cols.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>
${res.rows.map((r) => html`<tr>${cols.map((c) => html`<td>${cell(r[c])}</td>`)}</tr>`)}</tbody></table>`;
    });
    return page('Schedules', '/schedules', body);
  }

  // ---- routing ----
  async function route(url) {
    const path = url.pathname;
    if (path === '/' || path === '/lanes') return lanesPage();
    if (path === '/lane') return lanePage(url.searchParams);
    if (path === '/failures') return failuresPage();
    if (path === '/flows') return flowsPage();
    if (path === '/budgets') return budgetsPage();
    if (path === '/health') return healthPage();
    if (path === '/schedules') return schedulesPage();
    if (path === '/execution') {
      const id = (url.searchParams.get('id') || '').trim();
      return { redirect: href('/execution', id) };
    }
    let m = /^\/execution\/([^/]+)$/.exec(path);
    if (m) return executionPage(decodeURIComponent(m[1]));
    m = /^\/flow\/([^/]+)$/.exec(path);
    if (m) return flowPage(decodeURIComponent(m[1]));
    throw notFound('no such page');
  }

  const SECURITY_HEADERS = {
    // no script at all; inline styles only; nothing framed, nothing sent elsewhere
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cache-Control': 'no-store',
  };

  return async function handler(req, res) {
    const send = (status, type, body, extra = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...SECURITY_HEADERS, ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const errorPage = (status, msg) => send(status, 'text/html; charset=utf-8',
      html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status}</title><style>${new Raw(CSS)}</style></head><body><header><b>ff_engine</b><a href="/">Lanes</a></header><main><h1>${status}</h1><p>${msg}</p></main></body></html>`.s);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(405, 'text/plain; charset=utf-8', 'method not allowed: the dashboard is read-only\n', { Allow: 'GET, HEAD' });
    }
    let url;
    try {
      url = new URL(req.url, 'http://dashboard.invalid');
      if (url.pathname === '/metrics') {
        const r = await q1('SELECT ff.metrics() AS m');
        return send(200, 'text/plain; version=0.0.4; charset=utf-8', r.m ?? '');
      }
      const out = await route(url);
      if (out && out.redirect) {
        return send(303, 'text/plain; charset=utf-8', 'see ' + out.redirect + '\n', { Location: out.redirect });
      }
      return send(200, 'text/html; charset=utf-8', out.s);
    } catch (e) {
      if (e instanceof URIError) return errorPage(404, 'no such page');
      if (e instanceof HttpError) return errorPage(e.status, e.message);
      if (e.code === '42501') return errorPage(403, 'this database role may not read that (grant it ff_reader)');
      console.error('ff-dashboard:', req.method, url ? url.pathname : '?', e.message);
      return errorPage(500, 'the page could not be read; the server log has the error');
    }
  };
}

export function startDashboard({ databaseUrl, port = 8080, host = '127.0.0.1' }) {
  const pool = createPool(databaseUrl);
  const server = http.createServer(createDashboard({ pool }));
  server.on('close', () => pool.end().catch(() => {}));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, pool }));
  });
}
