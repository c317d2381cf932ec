#!/usr/bin/env bash
# Python runtime drain (issue 24): N no-op executions enqueued (enqueue_many),
# then one ff_engine Worker (threads, CONCURRENCY slots) claims and completes
# them all; prints jobs/s from the first claim to the last completion, on a
# durable cluster.  Not run by CI.
#   bash test/bench/python_drain.sh        (N=20000 CONCURRENCY=16 REPS=3)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
N=${N:-20000}
CONCURRENCY=${CONCURRENCY:-16}
REPS=${REPS:-3}
ensure_deps
build_install
FF_DURABLE=1 start_cluster
psql -X -q -c "CREATE DATABASE bench_py" -c "ALTER DATABASE bench_py SET ff_engine.enabled = on" >/dev/null
psql -X -q -d bench_py -c "CREATE EXTENSION ff_engine" >/dev/null
for rep in $(seq 1 "$REPS"); do
  # from the package's folder: the repository root holds ff_engine.so, which
  # Python would import as the ff_engine module
  (cd "$FF_ROOT/clients/python" && /usr/bin/python3 - "$N" "$CONCURRENCY" "$rep" <<'PY'
import sys, time, psycopg, os
from ff_engine import Client, Worker
n, conc, rep = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dsn = "dbname=bench_py host=%s port=%s user=postgres" % (os.environ["PGHOST"], os.environ["PGPORT"])
lane = "drain-%s" % rep
ff = Client(lane=lane)
with psycopg.connect(dsn) as conn:
    for i in range(0, n, 10000):
        with conn.transaction():
            ff.enqueue_many(conn, "noop", [None] * min(10000, n - i))
w = Worker(dsn, lanes=lane, concurrency=conc, poll_interval=0.5)
w.handler("noop", lambda job: None)
t0 = time.monotonic()
w.start()
while w.stats().get("completed", 0) + w.stats().get("refused", 0) < n:
    time.sleep(0.01)
dt = time.monotonic() - t0
w.stop(timeout=1)
print("python drain rep %s: %d jobs in %.2f s = %.0f jobs/s (concurrency %d; %s)"
      % (rep, n, dt, n / dt, conc, {k: v for k, v in w.stats().items() if v}))
PY
  )
done
stop_cluster
