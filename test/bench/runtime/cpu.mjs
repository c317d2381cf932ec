// CPU used by the cluster's processes, for the runners' DETAIL=1 figures
// (test/bench/runtime_drain.sh): where a drain's time goes, robust to a busy machine.
import { readFileSync, readdirSync } from 'node:fs';
export const serverCpu = () => {
  let pm;
  try { pm = Number(readFileSync(process.env.PGDATA_DIR + '/postmaster.pid', 'utf8').split('\n')[0]); } catch { return {}; }
  const out = {};
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let st;
    try { st = readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { continue; }
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    if (Number(f[1]) !== pm && Number(d) !== pm) continue;
    let name = '';
    try { name = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(); } catch {}
    out[d] = { name, ticks: Number(f[11]) + Number(f[12]), minflt: Number(f[7]) };
  }
  return out;
};
const cpuDiff = (a, b) => { const r = {}; for (const [pid, x] of Object.entries(b)) { const k = x.name.replace(/postgres: (\S+ \S+ \S+).*/, '$1').replace(/ 127.0.0.1.*/, '').slice(0, 40) + (x.name.includes('127.0.0.1') ? ' ' + pid : ''); if (!(x.ticks - (a[pid]?.ticks || 0))) continue; r[k] = (r[k] || 0) + (x.ticks - (a[pid]?.ticks || 0)) * 10; } return r; };
// minor page faults the cluster's processes took meanwhile (memory given back to the kernel and taken again)
const faultDiff = (a, b) => { let n = 0; for (const [pid, x] of Object.entries(b)) n += x.minflt - (a[pid]?.minflt || 0); return n; };
// the DETAIL figures of a drain of n jobs: the runner's CPU (process.cpuUsage since the start), the server's by process, its faults
export const cpuDetail = (cpu, srv0, srv1, n) => {
  const nodeCpuMs = (cpu.user + cpu.system) / 1000, serverCpuMs = cpuDiff(srv0, srv1);
  return { nodeCpuMs, serverCpuMs, serverFaults: faultDiff(srv0, srv1),
    cpuUsPerJob: (nodeCpuMs + Object.values(serverCpuMs).reduce((a, b) => a + b, 0)) * 1000 / n };
};
