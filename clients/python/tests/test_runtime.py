"""The runtime end to end against the engine (with its engine worker on)."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from conftest import DSN, sql, wait_until
from ff_engine import (ArgumentError, Client, ExecutionFailed, LimitExceeded, NotFound, Permanent,
                       RetryPolicy, WaitTimeout)

HERE = os.path.dirname(os.path.abspath(__file__))


def count_lane(lane):
    return sql("SELECT count(*) FROM ff.executions WHERE lane_id = %s", (lane,))[0][0]


def wait_result(ff, eid, timeout=10, **kw):
    with psycopg.connect(DSN) as c:
        return ff.wait_for_result(c, eid, timeout=timeout, **kw)


# ---- lifecycle ----

def test_enqueue_in_a_rolled_back_transaction_enqueues_nothing(conn, ff, lane):
    conn.execute("CREATE TABLE IF NOT EXISTS py_orders (id serial, lane text)")
    conn.commit()
    with conn.transaction():
        conn.execute("INSERT INTO py_orders (lane) VALUES (%s)", (lane,))
        ff.enqueue(conn, "noop", {"order": 1})
        ff.enqueue_many(conn, "noop", [1, 2, 3])
        raise psycopg.Rollback()
    assert count_lane(lane) == 0
    assert sql("SELECT count(*) FROM py_orders WHERE lane = %s", (lane,))[0][0] == 0


def test_enqueue_in_a_committed_transaction_runs_the_handler_once(conn, ff, lane, make_worker):
    runs = []
    w = make_worker(concurrency=4)
    w.handler("greet", lambda job: runs.append(job.execution_id) or {"hello": job.json()["name"]})
    w.start()
    with conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS py_orders (id serial, lane text)")
        conn.execute("INSERT INTO py_orders (lane) VALUES (%s)", (lane,))
        eid = ff.enqueue(conn, "greet", {"name": "ada"})
        more = ff.enqueue_many(conn, "greet", [{"name": "bo"}, {"name": "cy"}])
    assert wait_result(ff, eid).json() == {"hello": "ada"}
    assert [wait_result(ff, e).json()["hello"] for e in more] == ["bo", "cy"]
    time.sleep(0.3)
    assert sorted(runs) == sorted([eid, *more])
    assert w.stats()["completed"] == 3
    assert ff.state(conn, eid) == "completed"
    assert ff.result(conn, eid) == b'{"hello":"ada"}'


def test_idempotency_key_returns_the_first_execution(conn, ff):
    with conn.transaction():
        a = ff.enqueue(conn, "noop", idempotency_key="order-7")
        b = ff.enqueue(conn, "noop", idempotency_key="order-7")
    assert b == a and b.duplicate and not a.duplicate


# ---- retries and failures ----

def test_a_retryable_error_is_retried_until_success(conn, ff, make_worker):
    attempts = []

    def flaky(job):
        attempts.append(job.attempt_index)
        if len(attempts) < 3:
            raise RuntimeError("smtp 421")
        return "sent"
    w = make_worker()
    w.handler("flaky", flaky)
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "flaky", retry=RetryPolicy(max_retries=3, backoff="fixed", delay=0.05))
    assert wait_result(ff, eid, timeout=15).text() == "sent"
    assert attempts == [0, 1, 2]
    assert w.stats()["retry_scheduled"] == 2


def test_retries_exhausted_fail_the_execution(conn, ff, make_worker):
    w = make_worker()
    w.handler("broken", lambda job: 1 / 0)
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "broken", retry=RetryPolicy(max_retries=1, backoff="fixed", delay=0.05))
    with pytest.raises(ExecutionFailed) as ei:
        wait_result(ff, eid, timeout=15)
    assert ei.value.outcome == "failed"
    assert "ZeroDivisionError" in ei.value.info["failure_reason"]
    assert w.stats()["retry_scheduled"] == 1 and w.stats()["failed"] == 1


def test_a_permanent_error_is_not_retried(conn, ff, make_worker):
    runs = []

    def bad(job):
        runs.append(job.attempt_index)
        raise Permanent("malformed address")
    w = make_worker()
    w.handler("bad", bad)
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "bad", retry=RetryPolicy(max_retries=5, backoff="fixed", delay=0.05))
    with pytest.raises(ExecutionFailed) as ei:
        wait_result(ff, eid)
    time.sleep(1.2)     # a retry would have been promoted and run by now
    assert runs == [0]
    assert ei.value.outcome == "failed"     # one fail_execution, nothing cancelled
    assert "malformed address" in ei.value.info["failure_reason"]
    assert w.stats()["failed"] == 1 and w.stats().get("retry_scheduled", 0) == 0
    cat = sql("SELECT a.failure_category FROM ff.attempt a, ff.parse_execution_id(%s) p "
              "WHERE a.partition = p.partition AND a.execution_id = p.execution_uuid", (eid,))
    assert cat == [("permanent",)]


# ---- batched completions ----

def _hold_first_batch(w, secs=0.3):
    """Holds the completer's first batch back for secs and adds what queued
    meanwhile (handlers finishing together then surely share one batch);
    returns the list of every batch's size."""
    sizes = []
    real = w._complete_batch
    first = [True]

    def wrapped(conn, batch):
        if first[0]:
            first[0] = False
            time.sleep(secs)
            while True:
                try:
                    more = w._done.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    w._done.put(None)
                    break
                batch.append(more)
        sizes.append(len(batch))
        return real(conn, batch)
    w._complete_batch = wrapped
    return sizes


def test_handlers_finishing_together_share_one_complete_each_with_its_outcome(conn, ff, make_worker):
    n = 6
    running = threading.Barrier(n + 1)
    go = threading.Event()

    def k(job):
        running.wait(10)
        go.wait(10)
        return {"i": job.json()["i"]}
    w = make_worker(concurrency=8, lease_ttl=30)
    w.handler("k", k)
    sizes = _hold_first_batch(w)
    outcomes = {}
    w.on("completed", lambda e, job, info: outcomes.__setitem__(job.execution_id, e))
    w.on("refused", lambda e, job, info: outcomes.__setitem__(job.execution_id, (e, info.get("error"))))
    with conn.transaction():
        ids = ff.enqueue_many(conn, "k", [{"i": i} for i in range(n)])
    w.start()
    running.wait(10)                      # all six handlers running
    with conn.transaction():
        assert ff.cancel(conn, ids[2], "gone") is True     # its complete will be refused
    go.set()
    assert wait_until(lambda: len(outcomes) == n, 10)
    assert sizes == [n], "one complete_executions of six"
    assert outcomes.pop(ids[2]) == ("refused", "execution_not_active")
    assert set(outcomes.values()) == {"completed"} and len(outcomes) == n - 1
    for i, eid in enumerate(ids):
        if i == 2:
            assert ff.state(conn, eid) == "cancelled"
        else:
            assert ff.result(conn, eid) == ('{"i":%d}' % i).encode()
    assert w.stats()["completed"] == n - 1 and w.stats()["refused"] == 1


def test_a_lane_notification_wakes_the_slot_that_claims_and_it_runs_the_job_itself(conn, ff, make_worker):
    """No claimer thread: the idle slot that leads LISTENs on the lane
    channel, claims, and runs the first claimed job on its own thread; a
    notification that comes while every slot is busy waits on the claim
    connection for the next slot to lead."""
    gate = threading.Event()
    started = []
    claimed_on = {}

    def k(job):
        started.append((job.execution_id, threading.current_thread()))
        if job.json()["hold"]:
            gate.wait(10)
    w = make_worker(concurrency=2, poll_interval=60)    # no poll would come within the test
    w.handler("k", k)
    real = w._claim

    def claim(lane_, n):
        jobs = real(lane_, n)
        for j in jobs:
            claimed_on[j.execution_id] = threading.current_thread()
        return jobs
    w._claim = claim
    w.start()
    assert wait_until(lambda: w._leader and w._leader_waiting, 5), "an idle slot leads and waits on the lane channel"
    with conn.transaction():
        a = ff.enqueue(conn, "k", {"hold": True})
    assert wait_until(lambda: len(started) == 1, 5), "woken by the lane notification"
    assert started[0] == (a, claimed_on[a]), "the job runs on the thread that claimed it"
    with conn.transaction():
        ff.enqueue(conn, "k", {"hold": True})
    assert wait_until(lambda: len(started) == 2, 5)
    assert wait_until(lambda: not w._leader, 5), "both slots busy: nobody leads"
    with conn.transaction():
        c = ff.enqueue(conn, "k", {"hold": False})
    time.sleep(0.3)
    assert len(started) == 2
    gate.set()
    assert wait_until(lambda: len(started) == 3, 5), "the freed slot leads and hears the waiting notification"
    assert started[2] == (c, claimed_on[c])
    assert wait_until(lambda: w.stats().get("completed") == 3, 10)


def test_prefetch_auto_claims_ahead_for_short_handlers_and_hands_the_unstarted_back_at_stop(conn, ff, make_worker):
    with pytest.raises(ArgumentError):
        make_worker(prefetch="fast")
    gate = threading.Event()
    started = []

    def hold(job):
        started.append(job.execution_id)
        gate.wait(10)
    w = make_worker(concurrency=2)
    w.handler("hold", hold)
    w.handler("quick", lambda job: None)
    with conn.transaction():
        ff.enqueue_many(conn, "hold", [{} for _ in range(5)])
    w.start()
    assert wait_until(lambda: w.stats().get("claimed") == 2, 5)
    time.sleep(0.3)
    assert w.stats()["claimed"] == 2, "no handler has run yet: nothing claimed ahead"
    gate.set()
    assert wait_until(lambda: w.stats().get("completed") == 5, 10)
    with conn.transaction():
        ff.enqueue_many(conn, "quick", [{} for _ in range(80)])
    assert wait_until(lambda: w.stats().get("completed") == 85, 10)
    assert w.prefetch >= 100, "short handlers: far ahead"
    gate.clear()
    with conn.transaction():
        held = ff.enqueue_many(conn, "hold", [{} for _ in range(6)])
    assert wait_until(lambda: w.stats().get("claimed") == 91, 5), "all six claimed: four ahead of the two slots"
    assert wait_until(lambda: len(started) == 7, 5)
    time.sleep(0.2)
    assert len(started) == 7
    try:
        w.stop(timeout=0.2)
    finally:
        gate.set()
    assert w.stats()["handed_back"] == 6, "two running after the timeout, four never started"
    assert len(started) == 7
    states = [ff.state(conn, eid) for eid in held]
    assert all(st in ("waiting", "delayed") for st in states), states


def test_complete_delay_commits_a_burst_of_completions_together(conn, ff, make_worker):
    # handlers ending 0, 60, 120 and 180 ms apart: with a delay of 0.5 s the
    # first completion waits for the other three and one complete_executions
    # commits them (one completed_at); with 0 each is committed at once
    for delay, calls in ((0.5, 1), (0, 4)):
        w = make_worker(concurrency=4, complete_delay=delay)
        w.handler("nap", lambda job: time.sleep(0.06 * job.json()["i"]))
        with conn.transaction():
            ids = ff.enqueue_many(conn, "nap", [{"i": i} for i in range(4)])
        w.start()
        assert wait_until(lambda: w.stats().get("completed") == 4, 10), (delay, w.stats())
        w.stop(timeout=1)
        with conn.transaction():
            at = conn.execute("SELECT count(DISTINCT completed_at) FROM ff.executions WHERE id = ANY(%s)",
                              (ids,)).fetchone()[0]
        assert at == calls, f"complete_delay={delay}: {at} distinct completion times"


def test_a_batch_rejected_whole_is_completed_item_by_item(conn, ff, make_worker):
    n = 4
    running = threading.Barrier(n + 1)

    def k(job):
        running.wait(10)
        i = job.json()["i"]
        return "x" * 1100000 if i == 1 else i      # over ff_engine.max_payload_bytes (1 MiB)
    w = make_worker(concurrency=8)
    w.handler("k", k)
    sizes = _hold_first_batch(w)
    with conn.transaction():
        ids = ff.enqueue_many(conn, "k", [{"i": i} for i in range(n)],
                              retry=RetryPolicy(max_retries=3, backoff="fixed", delay=0.05))
    w.start()
    running.wait(10)
    assert wait_until(lambda: w.stats().get("completed", 0) + w.stats().get("failed", 0) == n, 10)
    assert sizes == [n], "one batch, which the engine rejected as a whole"
    for i, eid in enumerate(ids):
        if i == 1:
            info = ff.info(conn, eid)
            assert info["public_state"] == "failed", "the oversized result fails it, with no retry"
            assert "result refused" in info["failure_reason"] and "max_payload_bytes" in info["failure_reason"]
        else:
            assert ff.result(conn, eid) == str(i).encode()
    assert w.stats()["completed"] == n - 1 and w.stats()["failed"] == 1
    assert w.stats().get("error", 0) == 0


# ---- time and order ----

def test_priority_orders_the_claims(conn, ff, make_worker):
    with conn.transaction():
        ids = [ff.enqueue(conn, "p", {"p": p}, priority=p) for p in (1, 9000, 5, 9)]
    order = []
    w = make_worker(concurrency=1)
    w.handler("p", lambda job: order.append(job.json()["p"]))
    w.start()
    for e in ids:
        wait_result(ff, e)
    assert order == [9000, 9, 5, 1]


def test_a_delayed_execution_runs_after_its_delay(conn, ff, make_worker):
    ran = []
    w = make_worker()
    w.handler("later", lambda job: ran.append(time.monotonic()))
    w.start()
    t0 = time.monotonic()
    with conn.transaction():
        eid = ff.enqueue(conn, "later", delay=1.0)
    assert ff.state(conn, eid) == "delayed"
    conn.rollback()
    wait_result(ff, eid, timeout=10)
    assert ran and ran[0] - t0 >= 1.0


def test_job_delay_parks_and_resumes_the_same_attempt(conn, ff, make_worker):
    seen = []

    def twice(job):
        seen.append((job.attempt_index, job.attempt_type))
        if len(seen) == 1:
            job.delay(0.2)
        return "done"
    w = make_worker()
    w.handler("twice", twice)
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "twice")
    assert wait_result(ff, eid).text() == "done"
    assert seen == [(0, "initial"), (0, "resumed")]
    assert w.stats()["delayed"] == 1


# ---- leases ----

def test_a_handler_outliving_its_lease_loses_it_and_its_late_complete_is_refused(conn, ff, make_worker):
    seen = {}

    def slow(job):
        seen["told"] = job.cancelled.wait(5)
        seen["reason"] = job.cancel_reason
        wait_until(lambda: "second" in seen, 10)
        return "late"
    w1 = make_worker(concurrency=1, lease_ttl=1.0, renew=False)
    w1.handler("slow", slow)
    w1.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "slow")
    assert wait_until(lambda: seen.get("told"), 5)
    assert seen["reason"] == "lease_expired"

    def second(job):
        seen["second"] = job.attempt_type
        return "second"
    w2 = make_worker(concurrency=1)
    w2.handler("slow", second)
    w2.start()
    assert wait_result(ff, eid).text() == "second"
    assert seen["second"] == "reclaim"
    assert wait_until(lambda: w1.stats().get("refused") == 1, 5)
    assert w1.stats().get("completed", 0) == 0
    assert ff.result(conn, eid) == b"second"


def test_renewal_keeps_a_long_handler_alive(conn, ff, make_worker):
    w = make_worker(lease_ttl=0.6)
    w.handler("long", lambda job: "ok" if not job.cancelled.wait(2.0) else "lost")
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "long")
    assert wait_result(ff, eid).text() == "ok"


def running_waiter(conn, ff, make_worker, **kw):
    """A worker whose one job waits (at most 10 s) to be told its lease is
    lost; returns (worker, execution id, what the handler saw) once it runs."""
    seen = {}
    started = threading.Event()

    def waits(job):
        started.set()
        t = time.monotonic()
        seen["told"] = job.cancelled.wait(10)
        seen["after"] = time.monotonic() - t
        seen["reason"] = job.cancel_reason
        return "ignored"
    w = make_worker(lease_ttl=30, **kw)
    w.handler("waits", waits)
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "waits")
    assert started.wait(5)
    return w, eid, seen


def test_the_handler_is_told_at_once_when_its_execution_is_cancelled(conn, ff, make_worker):
    w, eid, seen = running_waiter(conn, ff, make_worker)
    with conn.transaction():
        assert ff.cancel(conn, eid, "customer left") is True
    assert wait_until(lambda: "told" in seen, 5)
    assert seen["told"] and seen["reason"] == "cancelled" and seen["after"] < 2.0
    assert wait_until(lambda: w.stats().get("refused") == 1, 5)
    assert ff.state(conn, eid) == "cancelled"


def test_the_handler_is_told_at_once_when_its_lease_is_revoked(conn, ff, make_worker):
    # reclaim off: no claim of this worker takes the lease over, so only the
    # lease channel can tell the handler before a renewal at ttl / 3 (10 s)
    w, eid, seen = running_waiter(conn, ff, make_worker, reclaim=False)
    # a forged announcement (any reader of the namespace may NOTIFY on the
    # lease channel) is checked by renewing the lease, which succeeds
    def renewed_at():
        with psycopg.connect(DSN, autocommit=True) as c:
            return c.execute("SELECT e.lease_last_renewed_at FROM ff.execution e, ff.parse_execution_id(%s) x "
                             "WHERE e.partition = x.partition AND e.execution_id = x.execution_uuid",
                             (eid,)).fetchone()[0]
    before = renewed_at()
    with conn.transaction():
        # payloads that are not announcements are passed over
        for junk in ("null", "[]", "1", '"x"', '{"execution_id": 7}', "not json", "[" * 3000 + "]" * 3000):
            conn.execute("SELECT pg_notify(ff.lease_channel(), %s)", (junk,))
        conn.execute("SELECT pg_notify(ff.lease_channel(), json_build_object('execution_id', %s::text, "
                     "'lease_epoch', 1, 'reason', 'lease_revoked')::text)", (eid,))
    assert wait_until(lambda: renewed_at() > before, 2), \
        "the announced lease is renewed at once"
    time.sleep(0.3)
    assert "told" not in seen
    with conn.transaction():
        assert conn.execute("SELECT ff.revoke_lease(%s) ->> 'result'", (eid,)).fetchone()[0] == "revoked"
    assert wait_until(lambda: "told" in seen, 5)
    # from the handler's start: the 0.8 s above, then at most a renewer's
    # quarter second, long before a renewal at ttl / 3 (10 s)
    assert seen["told"] and seen["reason"] == "lease_revoked" and seen["after"] < 3.0
    assert wait_until(lambda: w.stats().get("refused") == 1, 5)


def _proc(lane, ttl, grace):
    return subprocess.Popen([sys.executable, os.path.join(HERE, "worker_proc.py"), DSN, lane, str(ttl), str(grace)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _marks(eid):
    return sql("SELECT pid, attempt_type FROM py_marks WHERE execution_id = %s ORDER BY attempt_type", (eid,))


def test_a_worker_killed_mid_job_is_taken_over_and_completed_once(conn, ff, lane, make_worker):
    sql("CREATE TABLE IF NOT EXISTS py_marks (execution_id text, pid int, attempt_type text)")
    with conn.transaction():
        eid = ff.enqueue(conn, "sleepy", {"sleep": 60})
    p = _proc(lane, 1.0, 1.0)
    try:
        assert wait_until(lambda: _marks(eid), 10), p.stderr.read1(4096) if p.poll() is not None else ""
        p.send_signal(signal.SIGKILL)
        p.wait(5)
    finally:
        p.kill()
        p.wait()
    runs = []
    w = make_worker()
    w.handler("sleepy", lambda job: runs.append(job.attempt_type) or "survivor")
    w.start()
    assert wait_result(ff, eid, timeout=10).text() == "survivor"
    time.sleep(0.5)
    assert runs == ["reclaim"]
    assert w.stats()["completed"] == 1
    assert sql("SELECT count(*) FROM ff.attempt a, ff.parse_execution_id(%s) x "
               "WHERE a.partition = x.partition AND a.execution_id = x.execution_uuid "
               "AND a.attempt_state = 'ended_success'", (eid,))[0][0] == 1


def test_graceful_shutdown_finishes_short_work_and_hands_back_the_rest(conn, ff, lane, make_worker):
    sql("CREATE TABLE IF NOT EXISTS py_marks (execution_id text, pid int, attempt_type text)")
    with conn.transaction():
        short = ff.enqueue(conn, "sleepy", {"sleep": 0.5})
        long_ = ff.enqueue(conn, "sleepy", {"sleep": 60})
    p = _proc(lane, 30.0, 1.5)     # a lease of 30 s: the hand-back must not wait for it
    try:
        assert wait_until(lambda: _marks(short) and _marks(long_), 10)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        exited = time.monotonic() - t0
    finally:
        p.kill()
        p.wait()
    assert exited < 5
    assert ff.result(conn, short) == b"proc"
    runs = []
    w = make_worker()
    w.handler("sleepy", lambda job: runs.append(job.attempt_type) or "taken over")
    w.start()
    assert wait_result(ff, long_, timeout=5).text() == "taken over"
    assert time.monotonic() - t0 < 10
    assert runs == ["resumed"]


# ---- flows and signals ----

def test_a_flow_child_runs_after_its_parents(conn, ff, make_worker):
    events = []
    lock = threading.Lock()

    def step(job):
        name = job.json()["name"]
        with lock:
            events.append(("start", name))
        time.sleep(0.2)
        with lock:
            events.append(("end", name))
        return name
    w = make_worker(concurrency=3)
    w.handler("step", step)
    w.start()
    with conn.transaction():
        flow = ff.create_flow(conn, kind="dag")
        a = ff.enqueue(conn, "step", {"name": "a"}, flow=flow)
        b = ff.enqueue(conn, "step", {"name": "b"}, flow=flow)
        c = ff.enqueue(conn, "step", {"name": "c"}, flow=flow)
        ff.add_dependency(conn, flow, a, c)
        ff.add_dependency(conn, flow, b, c)
    assert wait_result(ff, c).text() == "c"
    pos = {e: i for i, e in enumerate(events)}
    assert pos[("start", "c")] > pos[("end", "a")] and pos[("start", "c")] > pos[("end", "b")]


def test_suspend_and_a_signal_resume_the_execution(conn, ff, make_worker):
    waitpoints = []
    runs = []

    def approve(job):
        runs.append(job.attempt_type)
        sig = job.wait_for_signal("approved", timeout=60, on_waitpoint=waitpoints.append)
        return {"by": sig.json()["by"], "attempt": job.attempt_index}
    w = make_worker()
    w.handler("approve", approve)
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "approve")
    assert wait_until(lambda: waitpoints, 5)
    assert wait_until(lambda: ff.state(conn, eid) == "suspended", 5)
    conn.rollback()
    with pytest.raises(WaitTimeout):
        wait_result(ff, eid, timeout=0.3)
    with conn.transaction():
        out = ff.deliver_signal(conn, waitpoints[0].to_json(), "approved", {"by": "alice"})
    assert out["effect"] == "resume_condition_satisfied"
    assert wait_result(ff, eid).json() == {"by": "alice", "attempt": 0}
    assert runs == ["initial", "resumed"]
    assert w.stats()["suspended"] == 1


def test_progress_and_frames_reach_readers(conn, ff, make_worker):
    def talk(job):
        job.progress(50, "half way")
        job.frame("token-1")
        job.frame({"pct": 50}, "delta", mode="summary")
        return "ok"
    w = make_worker()
    w.handler("talk", talk)
    w.start()
    with conn.transaction():
        eid = ff.enqueue(conn, "talk")
    wait_result(ff, eid)
    stream = sql("SELECT ff.read_attempt_stream(%s, 0)", (eid,))[0][0]
    assert [e["payload"] for e in stream["entries"]][:1] == ["token-1"]
    assert sql("SELECT ff.read_summary(%s, 0)", (eid,))[0][0]["document"] == {"pct": 50}


# ---- errors ----

def test_sql_errors_keep_their_sqlstate_and_envelopes_become_exceptions(conn, ff):
    with pytest.raises(LimitExceeded) as ei:
        ff.enqueue(conn, "big", b"x" * (1024 * 1024 + 1))
    assert ei.value.sqlstate == "54000"
    conn.rollback()
    missing = "{fp:1}:00000000-0000-4000-8000-00000000dead"
    with pytest.raises(NotFound):
        ff.state(conn, missing)
    with pytest.raises(NotFound):
        ff.cancel(conn, missing)
    conn.rollback()


def test_wrong_arguments_fail_before_touching_the_database(lane):
    closed = psycopg.connect(DSN)
    closed.close()       # any statement on it would raise psycopg's OperationalError instead
    ff = Client(lane=lane)
    eid = "{fp:1}:00000000-0000-4000-8000-000000000001"
    import datetime
    bad_calls = [
        lambda: ff.enqueue("not a connection", "k"),
        lambda: ff.enqueue(closed, 42),
        lambda: ff.enqueue(closed, "k", priority=-1),
        lambda: ff.enqueue(closed, "k", priority="high"),
        lambda: ff.enqueue(closed, "k", lane=""),
        lambda: ff.enqueue(closed, "k", lane="x" * 65),
        lambda: ff.enqueue(closed, "k", lane="caf\u00e9"),
        lambda: ff.enqueue(closed, "k", delay=-1),
        lambda: ff.enqueue(closed, "k", delay="soon"),
        lambda: ff.enqueue(closed, "k", delay=1, run_at=datetime.datetime.now(datetime.timezone.utc)),
        lambda: ff.enqueue(closed, "k", run_at=datetime.datetime.now()),
        lambda: ff.enqueue(closed, "k", retry="forever"),
        lambda: ff.enqueue(closed, "k", retry=RetryPolicy(max_retries=-1)),
        lambda: ff.enqueue(closed, "k", retry=RetryPolicy(backoff="linear")),
        lambda: ff.enqueue(closed, "k", capabilities=["gpu", "has space"]),
        lambda: ff.enqueue(closed, "k", capabilities="gpu"),
        lambda: ff.enqueue(closed, "k", tags=["a"]),
        lambda: ff.enqueue(closed, "k", object()),
        lambda: ff.enqueue(closed, "k", idempotency_key=""),
        lambda: ff.enqueue(closed, "k", execution_id="nope"),
        lambda: ff.enqueue(closed, "k", flow="not-a-uuid"),
        lambda: ff.enqueue_many(closed, "k", "abc"),
        lambda: ff.enqueue_many(closed, "k", [1, 2], idempotency_keys=["a"]),
        lambda: ff.cancel(closed, "42"),
        lambda: ff.state(closed, ""),
        lambda: ff.add_dependency(closed, "x", eid, eid),
        lambda: ff.deliver_signal(closed, "garbage", "go"),
        lambda: ff.wait_for_result(closed, eid, timeout=-1),
        lambda: ff.cancel_flow(closed, "00000000-0000-4000-8000-000000000001", policy="all"),
        lambda: Client(lane=""),
    ]
    from ff_engine import Worker
    bad_calls += [
        lambda: Worker(DSN, lanes=""),
        lambda: Worker(DSN, lanes=[]),
        lambda: Worker(DSN, concurrency=0),
        lambda: Worker(DSN, lease_ttl=0),
        lambda: Worker(DSN, worker_id="two words"),
        lambda: Worker(DSN, capabilities=["a,b"]),
        lambda: Worker(DSN, complete_delay=-0.001),
        lambda: Worker(DSN, complete_delay=2),
        lambda: Worker(DSN, complete_delay="soon"),
        lambda: Worker(DSN).start(),           # no handler registered
        lambda: Worker(DSN).on("finished", print),
    ]
    for i, call in enumerate(bad_calls):
        with pytest.raises(ArgumentError):
            call()
            pytest.fail(f"bad call {i} was accepted")
