#!/usr/bin/env node
// ff-dashboard: a read-only web dashboard of an ff_engine database.
//   ff-dashboard --database-url postgres://reader@host/db [--port 8080] [--host 127.0.0.1]
// Connect it with a role that can only read (a member of ff_reader); its
// connections run with default_transaction_read_only = on either way.
import { startDashboard } from '../dashboard/server.js';

const USAGE = `usage: ff-dashboard --database-url postgres://USER@HOST/DB [--port 8080] [--host 127.0.0.1]
  --database-url URL   the database (also FF_DATABASE_URL or DATABASE_URL); use a role in ff_reader
  --port N             the port to listen on (0: any free port), default 8080
  --host ADDR          the address to listen on, default 127.0.0.1 (the pages have no login)
`;

function parse(argv) {
  const o = { databaseUrl: process.env.FF_DATABASE_URL || process.env.DATABASE_URL, port: 8080, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    let [k, v] = argv[i].split(/=(.*)/s, 2);
    const take = () => (v !== undefined ? v : argv[++i]);
    if (k === '--database-url') o.databaseUrl = take();
    else if (k === '--port') o.port = take();
    else if (k === '--host') o.host = take();
    else if (k === '--help' || k === '-h') { process.stdout.write(USAGE); process.exit(0); }
    else { process.stderr.write(`ff-dashboard: unknown argument ${k}\n${USAGE}`); process.exit(2); }
  }
  if (!o.databaseUrl) { process.stderr.write(`ff-dashboard: --database-url is required\n${USAGE}`); process.exit(2); }
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) { process.stderr.write('ff-dashboard: --port must be 0..65535\n'); process.exit(2); }
  o.port = port;
  return o;
}

const opts = parse(process.argv.slice(2));
try {
  const { server, pool } = await startDashboard(opts);
  // check the database once, so a wrong URL fails at start (never print the URL: it may hold a password)
  await pool.query('SELECT ff.now_ms()');
  const a = server.address();
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  process.stdout.write(`ff-dashboard listening on http://${shown}:${a.port}/\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (e) {
  process.stderr.write(`ff-dashboard: ${e.message}\n`);
  process.exit(1);
}
