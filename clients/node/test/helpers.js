// Shared by the tests: a database with the engine worker on (delays,
// retries, lease expiry and flow dispatch are time-driven), made once.
// Env: PGHOST, PGPORT, PGUSER (pg's own), FF_NODE_DB (default ff_node).
import pg from 'pg';
import { randomUUID } from 'node:crypto';

export const DB = process.env.FF_NODE_DB || 'ff_node';
export const conn = { database: DB, user: process.env.PGUSER || 'postgres' };
export const silent = { debug() {}, info() {}, warn() {}, error() {} };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const lane = (name) => `${name}-${randomUUID().slice(0, 8)}`;

export async function setupDb() {
  const admin = new pg.Client({ ...conn, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock(4224)');
    const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB]);
    if (rows.length === 0) {
      await admin.query(`CREATE DATABASE "${DB}"`);
      await admin.query(`ALTER DATABASE "${DB}" SET ff_engine.enabled = on`);
      const c = new pg.Client(conn);
      await c.connect();
      await c.query('CREATE EXTENSION IF NOT EXISTS ff_engine');
      await c.query('SELECT ff._wake_launcher()');
      await c.end();
    }
  } finally {
    await admin.query('SELECT pg_advisory_unlock(4224)');
    await admin.end();
  }
  const pool = new pg.Pool({ ...conn, max: 10 });
  pool.on('error', () => {});
  return pool;
}

export async function waitFor(what, fn, timeoutMs = 10000, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

export async function inTx(pool, fn, { commit = true } = {}) {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query(commit ? 'COMMIT' : 'ROLLBACK');
    return r;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

export async function row(pool, id) {
  return (await pool.query('SELECT * FROM ff.executions WHERE id = $1', [id])).rows[0];
}
