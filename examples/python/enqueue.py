# Enqueue in your own transaction: the order row and its job commit together,
# or neither does.  python3 examples/python/enqueue.py
import os
import psycopg
from ff_engine import Client, RetryPolicy

ff = Client(lane="emails")
# autocommit=True: each `with conn.transaction()` block is then a transaction of its own
with psycopg.connect(os.environ.get("DATABASE_URL", "dbname=app"), autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, email text NOT NULL)")
    with conn.transaction():
        order_id = conn.execute("INSERT INTO orders (email) VALUES (%s) RETURNING id",
                                ("bob@example.com",)).fetchone()[0]
        job = ff.enqueue(conn, "send_invoice", {"order_id": order_id, "to": "bob@example.com"},
                         retry=RetryPolicy(max_retries=3, initial_delay=2.0),
                         idempotency_key=f"invoice-{order_id}")
    print("enqueued", job)
    # optional: wait for the worker's result (LISTEN on the completion channel, with polling)
    print("result", ff.wait_for_result(conn, job, timeout=30).json())
