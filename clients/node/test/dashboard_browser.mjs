// The dashboard in headless Chromium (test/live/dashboard.sh runs this):
// each page is loaded and checked against SQL read as the superuser
// (PGHOST / PGPORT / PGUSER / PGDATABASE of the test cluster); hostile
// values must stay text.  Prints "ok - ..." / "not ok - ..." lines (the
// shell script numbers them) and saves a screenshot per page.
// Env: DASH_BASE (http://host:port), DASH_SHOTS (screenshot folder).
import puppeteer from 'puppeteer-core';
import pg from 'pg';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createPool } from '../dashboard/server.js';

const BASE = process.env.DASH_BASE;
const SHOTS = process.env.DASH_SHOTS;
const HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', '<script>alert(3)</script>',
  '"><img src=x onerror=alert(5)><script>alert(6)</script>'];

function report(ok, desc, detail) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${desc}${!ok && detail !== undefined ? ` (${String(detail).slice(0, 400).replace(/\n/g, ' ')})` : ''}`);
}
function eq(desc, got, want) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  report(g === w, desc, `got ${g}, want ${w}`);
}

const sql = new pg.Client();
await sql.connect();
const rows = async (text, params = []) => (await sql.query(text, params)).rows;
const ids = Object.fromEntries((await rows('SELECT name, id FROM dash_ids')).map((r) => [r.name, r.id]));
const FLOW = 'f0000000-0000-4000-8000-00000000da51';

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ff-dash-chromium-'));
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  userDataDir,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const pageObj = await browser.newPage();
await pageObj.setViewport({ width: 1440, height: 900 });
let dialogs = 0;
pageObj.on('dialog', async (d) => { dialogs++; await d.dismiss(); });
const consoleErrors = [];
pageObj.on('pageerror', (e) => consoleErrors.push(e.message));

// load a path; returns the response; screenshot under name
async function visit(p, name) {
  const resp = await pageObj.goto(BASE + p, { waitUntil: 'load' });
  if (name) await pageObj.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
  return resp;
}
const text = () => pageObj.evaluate(() => document.body.innerText);
const count = (sel) => pageObj.evaluate((s) => document.querySelectorAll(s).length, sel);
// no markup came from data: no script element, no img element, no element with an on* attribute
const injected = () => pageObj.evaluate(() => ({
  scripts: document.querySelectorAll('script').length,
  imgs: document.querySelectorAll('img').length,
  handlers: [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
}));
const clean = { scripts: 0, imgs: 0, handlers: 0 };

try {
  // ---- lanes ----
  let r = await visit('/', '01_lanes');
  eq('lanes: GET / answers 200', r.status(), 200);
  const lanes = await rows(`SELECT namespace, lane_id, waiting, delayed, active, completed, failed, active_leases FROM ff.lane_metrics ORDER BY 1, 2`);
  const shown = await pageObj.evaluate(() => [...document.querySelectorAll('#lanes tbody tr')].map((tr) => ({
    namespace: tr.dataset.namespace, lane: tr.dataset.lane, name: tr.cells[1].innerText,
    ...Object.fromEntries([...tr.querySelectorAll('td[data-k]')].map((td) => [td.dataset.k, td.innerText.trim()])),
    spark: tr.querySelectorAll('svg.spark polyline').length + '/' + tr.querySelectorAll('svg.spark rect.bar').length,
  })));
  eq('lanes: one row per lane of ff.lane_metrics, names shown as text', shown.map((s) => [s.namespace, s.name]), lanes.map((l) => [l.namespace, l.lane_id]));
  eq('lanes: waiting / delayed / active / completed / failed / leases match SQL',
    shown.map((s) => [s.waiting, s.delayed, s.active, s.completed, s.failed, s.active_leases].map(Number)),
    lanes.map((l) => [l.waiting, l.delayed, l.active, l.completed, l.failed, l.active_leases].map(Number)));
  const main = shown.find((s) => s.lane === 'dash_main');
  eq('lanes: dash_main shows 3 waiting, 1 delayed, 1 active, 2 completed, 1 failed',
    main && [main.waiting, main.delayed, main.active, main.completed, main.failed], ['3', '1', '1', '2', '1']);
  // bars: one per minute with completions, one per minute with failures
  const bars = await rows(`SELECT l.lane_id, (SELECT count(*) FILTER (WHERE completions > 0) + count(*) FILTER (WHERE failures > 0)
                                              FROM ff.lane_throughput(30) t WHERE t.namespace = l.namespace AND t.lane_id = l.lane_id)::int AS n
                           FROM ff.lane_metrics l ORDER BY l.namespace, l.lane_id`);
  eq('lanes: each lane has a throughput sparkline (a claims line, completion and failure bars)', shown.map((s) => s.spark), bars.map((b) => '1/' + b.n));
  const tp = await rows(`SELECT coalesce(sum(claims), 0)::int AS c FROM ff.lane_throughput(30) WHERE lane_id = 'dash_main'`);
  const sparkTitle = await pageObj.evaluate(() => document.querySelector('#lanes tr[data-lane="dash_main"] svg.spark polyline title').textContent);
  eq("lanes: the claims sparkline sums to the lane's claims of the last 30 minutes",
    sparkTitle.replace(/^claims: /, '').split(' ').map(Number).reduce((a, b) => a + b, 0), tp[0].c);
  eq('lanes: the lane named <b>lane</b> is text, nothing injected', [shown.some((s) => s.name === '<b>lane</b>'), await count('#lanes b'), await injected()],
    [true, 0, clean]);

  // a lane page, reached by its link
  await Promise.all([pageObj.waitForNavigation(), pageObj.click('#lanes tr[data-lane="<b>lane</b>"] a')]);
  await pageObj.screenshot({ path: path.join(SHOTS, '02_lane.png'), fullPage: true });
  eq('lane page: the link of a lane named <b>lane</b> opens its executions', [(await text()).includes('Lane <b>lane</b>'), await count('main table tbody tr')], [true, 1]);

  // ---- the hostile failed execution ----
  const evil = ids.evil;
  r = await visit('/execution/' + encodeURIComponent(evil), '03_execution_failed');
  eq('execution: GET /execution/<id> answers 200', r.status(), 200);
  let t = await text();
  const info = (await rows('SELECT ff.read_execution_info($1) AS i', [evil]))[0].i;
  eq('execution: shows its state vector', await pageObj.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-k]')]
    .filter((e) => ['lifecycle_phase', 'ownership_state', 'eligibility_state', 'terminal_outcome', 'attempt_state'].includes(e.dataset.k))
    .map((e) => [e.dataset.k, e.innerText]))),
  { lifecycle_phase: info.lifecycle_phase, ownership_state: info.ownership_state, eligibility_state: info.eligibility_state,
    terminal_outcome: info.terminal_outcome, attempt_state: info.attempt_state });
  eq('execution: the public state is failed', t.includes('failed'), true);
  eq('execution: one attempt row, ended_failure', await pageObj.evaluate(() => [...document.querySelectorAll('#attempts tbody tr')].map((tr) => tr.cells[2].innerText)), ['ended_failure']);
  const hist = await rows(`SELECT count(*)::int AS c FROM ff.lease_history WHERE execution_id = (ff.parse_execution_id($1)).execution_uuid`, [evil]);
  eq('execution: the lease history has every event (acquired, released)', await count('#lease-history tbody tr'), hist[0].c);
  eq('execution: the hostile payload, tags and failure reason appear as text', HOSTILE.map((h) => t.includes(h)), HOSTILE.map(() => true));
  eq('execution: the tag holding "><img ...> appears as text', t.includes('\\"><img src=x onerror=alert(4)>'), true);
  eq('execution: no script, img or on* handler came from the data; no dialog fired', [await injected(), dialogs], [clean, 0]);
  eq('execution: the failure reason element holds the reason as its text',
    await pageObj.evaluate(() => document.querySelector('[data-k="failure_reason"]').textContent), '"><img src=x onerror=alert(5)><script>alert(6)</script>');

  // ---- the active execution: lease, stream tail, and never the lease id ----
  const act = (await rows(`SELECT id, current_lease_id::text AS lease FROM ff.executions WHERE lane_id = 'dash_main' AND public_state = 'active'`))[0];
  r = await visit('/execution/' + encodeURIComponent(act.id), '04_execution_active');
  t = await text();
  const content = await pageObj.content();
  eq('active execution: shows the worker holding the lease', t.includes('dash-worker-1'), true);
  eq('active execution: the stream tail shows its frames, the script frame as text',
    await pageObj.evaluate(() => [...document.querySelectorAll('table.stream tbody tr')].map((tr) => tr.cells[2].innerText)),
    ['starting', 'step 1 of 3', '<script>alert("frame")</script>', 'step 2 of 3']);
  eq('active execution: the lease id is nowhere in the page', content.includes(act.lease), false);
  eq('active execution: nothing injected', await injected(), clean);

  // ---- flows ----
  r = await visit('/flows', '05_flows');
  eq('flows: lists the flow', (await text()).includes(FLOW), true);
  r = await visit('/flow/' + FLOW, '06_flow');
  eq('flow: GET /flow/<id> answers 200', r.status(), 200);
  const edges = await rows(`SELECT upstream_execution_id AS up, downstream_execution_id AS down, coalesce(dependency_state, 'staged') AS state
                            FROM ff.flow_edges WHERE flow_id = $1 ORDER BY created_at, edge_id`, [FLOW]);
  const shownEdges = await pageObj.evaluate(() => [...document.querySelectorAll('table.edges tbody tr')].map((tr) =>
    [tr.cells[0].querySelector('a').innerText, tr.cells[2].querySelector('a').innerText, tr.querySelector('[data-k="edge_state"]').innerText]));
  eq('flow: shows every edge with its state', shownEdges, edges.map((e) => [e.up, e.down, e.state]));
  eq('flow: edge states are two satisfied, one unsatisfied', edges.map((e) => e.state).sort(), ['satisfied', 'satisfied', 'unsatisfied']);
  eq('flow: the graph draws a node per member and a path per edge', [await count('svg.graph rect'), await count('svg.graph > path')], [4, 3]);
  r = await visit('/execution/' + encodeURIComponent(ids.last), '07_execution_flow_member');
  eq('execution in a flow: its flow graph is drawn', [await count('svg.graph rect'), (await text()).includes('waiting_children')], [4, true]);

  // ---- budgets, failures, health ----
  r = await visit('/budgets', '08_budgets');
  t = await text();
  eq('budgets: the budget and its usage (850 tokens, over the soft limit)',
    [t.includes('00000000-0000-4000-b000-00000000da5b'), await pageObj.evaluate(() => [...document.querySelectorAll('#budgets tr[data-budget] [data-k="usage"]')].map((e) => e.innerText)),
      t.includes('over soft limit')], [true, ['3', '850'], true]);
  eq('budgets: the quota policy', t.includes('00000000-0000-4000-c000-00000000da5c'), true);
  r = await visit('/failures', '09_failures');
  t = await text();
  const failed = await rows(`SELECT id FROM ff.executions WHERE public_state IN ('failed', 'expired') ORDER BY completed_at DESC, id`);
  eq('failures: lists the failed executions, most recent first', await pageObj.evaluate(() => [...document.querySelectorAll('#failures tbody tr')].map((tr) => tr.cells[0].innerText)),
    failed.map((f) => f.id));
  eq('failures: the reasons as text, nothing injected', [t.includes('ordinary failure'), t.includes(HOSTILE[3]), await injected(), dialogs], [true, true, clean, 0]);
  r = await visit('/health', '10_health');
  t = await text();
  eq('health: connected as dash_viewer with read-only transactions',
    [t.includes('Connected as dash_viewer'), await pageObj.evaluate(() => document.querySelector('[data-k="read_only"]').innerText)], [true, 'on']);
  const scanners = await rows('SELECT count(*)::int AS c FROM ff.scanner_status');
  eq('health: a row per scanner and the dispatcher backlog', [await count('#scanners tbody tr'), await count('#dispatcher [data-k="pending"]')], [scanners[0].c, 1]);
  eq('health: the registered worker', t.includes('dash-worker-1'), true);
  eq('health: a scanner\'s last failed batch, with its SQLSTATE and message',
    [await pageObj.evaluate(() => [...document.querySelectorAll('#scanners [data-k="last_error_sqlstate"]')].map((e) => e.innerText)),
      t.includes('function ff.scan_delayed(integer) does not exist')], [['42883'], true]);

  // ---- schedules: only when the relation exists ----
  const sched = (await rows(`SELECT to_regclass('ff.schedules') IS NOT NULL OR to_regclass('ff.schedule') IS NOT NULL AS e`))[0].e;
  r = await visit('/schedules', sched ? '11_schedules' : null);
  const schedStatus = r.status();
  await visit('/');
  eq(`schedules: the page ${sched ? 'shows' : 'is 404 and not linked'} (the relation ${sched ? 'exists' : 'does not exist'})`,
    [schedStatus, await count('header a[href="/schedules"]')], sched ? [200, 1] : [404, 0]);

  // ---- HTTP: metrics, methods, unknown ids ----
  let res = await fetch(BASE + '/metrics');
  const body = await res.text();
  eq('metrics: 200 text/plain; version=0.0.4', [res.status, res.headers.get('content-type')], [200, 'text/plain; version=0.0.4; charset=utf-8']);
  const lines = body.replace(/\n$/, '').split('\n');
  const bad = lines.filter((l) => !(/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(l) || /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/.test(l)
    || /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? -?[0-9.eE+-]+$/.test(l)));
  eq('metrics: every line parses as Prometheus text (HELP, TYPE or a sample), ends in a newline', [bad, body.endsWith('\n')], [[], true]);
  const sample = (name, labels) => {
    const l = lines.find((x) => x.startsWith(name + '{') && Object.entries(labels).every(([k, v]) => x.includes(`${k}="${v}"`)));
    return l ? Number(l.split(' ').pop()) : null;
  };
  eq('metrics: ff_executions of dash_main match SQL', ['waiting', 'completed', 'failed'].map((s) => sample('ff_executions', { lane: 'dash_main', state: s })),
    ['waiting', 'completed', 'failed'].map((s) => Number(lanes.find((l) => l.lane_id === 'dash_main')[s])));
  res = await fetch(BASE + '/', { method: 'POST', body: 'x=1' });
  eq('POST answers 405 with Allow: GET, HEAD', [res.status, res.headers.get('allow')], [405, 'GET, HEAD']);
  res = await fetch(BASE + '/execution/' + encodeURIComponent(evil), { method: 'DELETE' });
  eq('DELETE answers 405', res.status, 405);
  res = await fetch(BASE + '/', { method: 'HEAD' });
  eq('HEAD answers 200 without a body', [res.status, (await res.text()).length], [200, 0]);
  const notFound = ['/execution/nonsense', '/execution/' + encodeURIComponent('{fp:0}:00000000-0000-4000-8000-0000000000ff'),
    '/execution/' + encodeURIComponent("{fp:0}:x' OR 1=1 --"), '/execution/%E0%A4%A', '/flow/not-a-uuid',
    '/flow/00000000-0000-4000-8000-000000000000', '/nope', '/lane?namespace=default&lane=none'];
  const codes = [];
  for (const p of notFound) codes.push((await fetch(BASE + p)).status);
  eq('unknown pages, malformed and unknown ids answer 404', codes, notFound.map(() => 404));
  r = await visit('/execution/' + encodeURIComponent('<script>alert(7)</script>'), '12_not_found');
  eq('a 404 page shows no markup from the request', [r.status(), await injected(), dialogs], [404, clean, 0]);
  res = await fetch(BASE + '/');
  eq('pages carry a Content-Security-Policy without script', /default-src 'none'/.test(res.headers.get('content-security-policy') || '')
    && !/script-src/.test(res.headers.get('content-security-policy')), true);
  eq('the search box finds an execution', await (async () => {
    await visit('/');
    await pageObj.type('header input[name="id"]', act.id);
    await Promise.all([pageObj.waitForNavigation(), pageObj.keyboard.press('Enter')]);
    return decodeURIComponent(new URL(pageObj.url()).pathname);
  })(), '/execution/' + act.id);

  // ---- read-only: the role and the connections ----
  const conns = await rows(`SELECT usename FROM pg_stat_activity WHERE application_name = 'ff-dashboard' AND datname = 'ff_dash'`);
  eq('the dashboard\'s connections are dash_viewer\'s', [conns.length > 0, [...new Set(conns.map((c) => c.usename))]], [true, ['dash_viewer']]);
  const viewer = new pg.Client({ user: 'dash_viewer' });
  await viewer.connect();
  const tryWrite = async (c, q) => { try { await c.query(q); return 'wrote'; } catch (e) { return e.code; } };
  eq('the read-only role cannot write: no submit, no table insert',
    [await tryWrite(viewer, `SELECT ff.create_execution(ff.execution_id('x'))`), await tryWrite(viewer, `INSERT INTO ff.execution_data DEFAULT VALUES`)],
    ['42501', '42501']);
  await viewer.end();
  // even with a superuser's URL, and one whose own options try to turn it off
  const superUrl = `postgres://${process.env.PGUSER}@/ff_dash?host=${encodeURIComponent(process.env.PGHOST)}&port=${process.env.PGPORT}`;
  for (const [what, url] of [['a superuser URL', superUrl],
    ['a URL with options=-c default_transaction_read_only=off', superUrl + '&options=' + encodeURIComponent('-c default_transaction_read_only=off')]]) {
    const superPool = createPool(url, { max: 1 });
    eq(`a dashboard connection is read-only with ${what} (25006)`,
      [await tryWrite(superPool, 'CREATE TABLE dash_nope (x int)'), (await superPool.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only],
      ['25006', 'on']);
    await superPool.end();
  }
  eq('no page threw a script error', consoleErrors, []);
} catch (e) {
  report(false, 'the browser checks ran to the end', e.stack);
} finally {
  await browser.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
  await sql.end();
}
