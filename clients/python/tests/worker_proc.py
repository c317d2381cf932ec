"""A worker in its own process, for the kill and shutdown tests:
    python3 worker_proc.py DSN LANE LEASE_TTL SHUTDOWN_TIMEOUT
Handlers: "sleepy" marks its start in py_marks and sleeps the payload's
seconds, ignoring cancellation, then returns "proc"."""

import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psycopg  # noqa: E402

from ff_engine import Worker  # noqa: E402

dsn, lane, ttl, grace = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
worker = Worker(dsn, lanes=lane, concurrency=4, lease_ttl=ttl, shutdown_timeout=grace, poll_interval=0.3)


@worker.handler("sleepy")
def sleepy(job):
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("INSERT INTO py_marks VALUES (%s, %s, %s)", (job.execution_id, os.getpid(), job.attempt_type))
    time.sleep(job.json()["sleep"])
    return "proc"


worker.run()
