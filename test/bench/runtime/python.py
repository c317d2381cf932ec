"""The Python runtime's side of test/bench/runtime_drain.sh.
python3 python.py drain|latency   (env DB N C RATE SECS PGPORT; run from
clients/python: the repository root holds ff_engine.so, which Python would
import as the ff_engine module)
  drain   -- N no-op executions (kind 'noop', lane 'drain', made in SQL by
             the script), one Worker (C slots) drains them: jobs/s from
             start() to the last completion
  latency -- the worker runs while a producer process (node.mjs produce)
             commits one create_execution every 1/RATE s; commit -> handler
             started, p50 / p99
Prints one JSON line."""
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time

import psycopg

sys.path.insert(0, os.getcwd())
from ff_engine import Worker  # noqa: E402

mode = sys.argv[1]
N, C = int(os.environ.get("N", 0)), int(os.environ["C"])
RATE, SECS = int(os.environ.get("RATE", 500)), int(os.environ.get("SECS", 10))
dsn = "dbname=%s host=127.0.0.1 port=%s user=postgres" % (os.environ.get("DB", "bench_rt"), os.environ["PGPORT"])
logging.basicConfig(level=logging.ERROR)


def pct(v, p):
    return v[min(len(v) - 1, max(0, math.ceil(p * len(v)) - 1))]


if mode == "drain":
    w = Worker(dsn, lanes="drain", concurrency=C, poll_interval=1.0)
    done = threading.Event()
    w.handler("noop", lambda job: None)
    w.on("completed", lambda e, job, info: w.counters["completed"] >= N and done.set())
    t0 = time.monotonic()
    w.start()
    done.wait(600)
    dt = time.monotonic() - t0
    st = w.stats()
    w.stop(timeout=1)
    with psycopg.connect(dsn) as c:
        left = c.execute("SELECT count(*) FROM ff.execution WHERE public_state <> 'completed'").fetchone()[0]
    print(json.dumps({"runtime": "python", "mode": mode, "n": N, "concurrency": C,
                      "jobs_per_s": st.get("completed", 0) / dt, "completed": st.get("completed", 0),
                      "left": left, "refused": st.get("refused", 0)}))
elif mode == "latency":
    started = []
    w = Worker(dsn, lanes="lat", concurrency=C, poll_interval=1.0)

    def noop(job):
        if job.payload != b"w":
            started.append((job.execution_id, time.time() * 1000))
    w.handler("noop", noop)
    w.start()
    subprocess.run(["node", os.environ["BENCH_NODE"], "produce"], check=True)
    end = time.monotonic() + 10
    while len(started) < RATE * SECS and time.monotonic() < end:
        time.sleep(0.02)
    w.stop(timeout=1)
    with psycopg.connect(dsn) as c:
        at = dict(c.execute("SELECT ff.format_execution_id(d.partition, d.execution_id), "
                            "extract(epoch FROM pg_xact_commit_timestamp(d.xmin))::float8 * 1000 "
                            "FROM ff.execution_data d").fetchall())
    lat = sorted(t - at[i] for i, t in started if i in at)
    print(json.dumps({"runtime": "python", "mode": mode, "rate": RATE, "secs": SECS, "expected": RATE * SECS,
                      "n": len(lat), "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "max_ms": lat[-1]}))
