// Enqueue in your own transaction: the invoice row and its job commit (or roll back) together.
import pg from 'pg';
import { enqueue, waitForResult } from 'ff-engine';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const client = await pool.connect();
let executionId;
try {
  await client.query('BEGIN');
  await client.query('CREATE TABLE IF NOT EXISTS invoice (id serial PRIMARY KEY, customer text)');
  const { rows } = await client.query("INSERT INTO invoice (customer) VALUES ('bob') RETURNING id");
  ({ executionId } = await enqueue(client, {
    lane: 'emails', kind: 'send_invoice', input: { invoice: rows[0].id, to: 'bob@example.com' },
    idempotencyKey: `invoice-${rows[0].id}`, retry: { maxRetries: 3, initialDelayMs: 2000 },
  }));
  await client.query('COMMIT');
} catch (e) {
  await client.query('ROLLBACK');
  throw e;
} finally {
  client.release();
}
console.log('enqueued', executionId);
console.log(await waitForResult(pool, executionId, { timeoutMs: 60000 }));   // needs a worker running
await pool.end();
