// HTML building for the dashboard: every interpolated value is escaped
// unless it is markup this module built (a Raw).  Pages are assembled only
// with the html`` tag, so a value from the database can never become markup.

export class Raw {
  constructor(s) { this.s = s; }
  toString() { return this.s; }
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function esc(v) {
  return String(v).replace(/[&<>"']/g, (c) => ESC[c]);
}

function fmt(v) {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(fmt).join('');
  if (v === null || v === undefined || v === false) return '';
  return esc(v);
}

export function html(strings, ...vals) {
  let out = strings[0];
  for (let i = 0; i < vals.length; i++) out += fmt(vals[i]) + strings[i + 1];
  return new Raw(out);
}

// A link to a dashboard path built from parts, each part URL-encoded.
export function href(base, ...parts) {
  return base + parts.map((p) => '/' + encodeURIComponent(String(p))).join('');
}

export function query(path, params) {
  const q = Object.entries(params).filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(String(v))).join('&');
  return q ? path + '?' + q : path;
}

const STATE_COLOUR = {
  waiting: '#2563eb', delayed: '#7c3aed', rate_limited: '#d97706', waiting_children: '#0891b2',
  active: '#16a34a', suspended: '#ca8a04', resumable: '#0d9488', completed: '#15803d',
  failed: '#dc2626', cancelled: '#6b7280', expired: '#b91c1c', skipped: '#9ca3af',
  satisfied: '#15803d', impossible: '#dc2626', unsatisfied: '#6b7280', staged: '#9ca3af',
  open: '#2563eb',
};
export function stateColour(s) { return STATE_COLOUR[s] || '#6b7280'; }

export function badge(state) {
  if (state === null || state === undefined) return html`<span class="muted">–</span>`;
  return html`<span class="badge" style="background:${stateColour(state)}">${state}</span>`;
}

// Milliseconds since the epoch as a UTC timestamp, and its age against now.
export function ts(ms, now) {
  if (ms === null || ms === undefined) return html`<span class="muted">–</span>`;
  const n = Number(ms);
  if (!Number.isFinite(n)) return html`${ms}`;
  const iso = new Date(n).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  if (now === undefined) return html`${iso}`;
  return html`<span title="${iso}">${age(Number(now) - n)}</span>`;
}

export function age(ms) {
  if (ms === null || ms === undefined) return '–';
  const past = ms >= 0;
  let s = Math.abs(Number(ms)) / 1000;
  let t;
  if (s < 1) t = Math.round(s * 1000) + ' ms';
  else if (s < 120) t = Math.round(s) + ' s';
  else if ((s /= 60) < 120) t = Math.round(s) + ' min';
  else if ((s /= 60) < 48) t = Math.round(s) + ' h';
  else t = Math.round(s / 24) + ' d';
  return past ? t + ' ago' : 'in ' + t;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  return age(ms).replace(/ ago$/, '');
}

// A throughput sparkline as inline SVG, one column per minute (oldest
// left): completions (green) and failures (red) as stacked bars, claims as
// a blue line, all scaled to the busiest minute.
export function sparkline({ claims, completions, failures }, { width = 120, height = 26 } = {}) {
  const len = Math.max(claims.length, 2);
  const max = Math.max(1, ...claims, ...completions.map((c, i) => c + failures[i]));
  const step = (width - 2) / len;
  const h = (v) => (v / max) * (height - 4);
  const bars = [];
  for (let i = 0; i < len; i++) {
    const x = (1 + i * step).toFixed(1), w = Math.max(step - 1, 1).toFixed(1);
    const hc = h(completions[i]), hf = h(failures[i]);
    if (hc > 0) bars.push(html`<rect class="bar" x="${x}" y="${(height - 1 - hc).toFixed(1)}" width="${w}" height="${hc.toFixed(1)}" fill="#16a34a"/>`);
    if (hf > 0) bars.push(html`<rect class="bar" x="${x}" y="${(height - 1 - hc - hf).toFixed(1)}" width="${w}" height="${hf.toFixed(1)}" fill="#dc2626"/>`);
  }
  const pts = claims.map((v, i) => `${(1 + (i + 0.5) * step).toFixed(1)},${(height - 1 - h(v)).toFixed(1)}`).join(' ');
  return html`<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="throughput per minute"><rect x="0" y="0" width="${width}" height="${height}" fill="#f8fafc"/>${bars}<polyline fill="none" stroke="#2563eb" stroke-width="1.2" points="${pts}"><title>claims: ${claims.join(' ')}</title></polyline><title>per minute, oldest first: claims ${claims.join(' ')}; completions ${completions.join(' ')}; failures ${failures.join(' ')}</title></svg>`;
}

// Renders a value that may be bytes (payload, result) as text when it is
// valid UTF-8, else as hex; long values are cut.
export function bytesText(buf, limit = 4096) {
  if (buf === null || buf === undefined) return html`<span class="muted">none</span>`;
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf));
  const cut = b.length > limit;
  const part = b.subarray(0, limit);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(part);
  } catch {
    return html`<pre class="data">${part.toString('hex')}${cut ? ' …' : ''}</pre><div class="muted">${b.length} bytes, not UTF-8 (hex)</div>`;
  }
  return html`<pre class="data">${text}${cut ? ' …' : ''}</pre><div class="muted">${b.length} bytes</div>`;
}

export const CSS = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#0f172a;background:#f1f5f9}
header{background:#0f172a;color:#e2e8f0;padding:10px 20px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header b{color:#fff;font-size:16px;margin-right:8px}header a{color:#cbd5e1;text-decoration:none}header a:hover,header a.on{color:#fff;text-decoration:underline}
header form{margin-left:auto}header input{width:340px;padding:4px 8px;border-radius:4px;border:1px solid #475569;background:#1e293b;color:#fff}
main{padding:16px 20px;max-width:1600px}.scroll{overflow-x:auto}h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 2px #0001}th,td{padding:5px 6px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
th{background:#e2e8f0;font-weight:600;font-size:11px;text-transform:uppercase;letter-spacing:.02em}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#f8fafc}.muted{color:#94a3b8}.zero{color:#cbd5e1}a{color:#1d4ed8}
.badge{display:inline-block;color:#fff;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600}
.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}pre.data{background:#0f172a;color:#e2e8f0;padding:8px;border-radius:4px;white-space:pre-wrap;word-break:break-all;max-height:320px;overflow:auto;margin:0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px}.card{background:#fff;padding:10px 14px;border-radius:6px;box-shadow:0 1px 2px #0001}
.kv td:first-child{color:#475569;width:42%;white-space:nowrap}.err{background:#fee2e2;color:#991b1b;padding:8px;border-radius:4px}
.ok{color:#15803d;font-weight:600}.bad{color:#dc2626;font-weight:600}svg.graph{background:#fff;border-radius:6px;box-shadow:0 1px 2px #0001;max-width:100%}
.legend span{margin-right:12px;font-size:12px}.legend i{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:4px}
`;
