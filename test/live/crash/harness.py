#!/usr/bin/python3
"""Jepsen-style crash harness for ff_engine (issue 23).

Load: several worker threads, each with its own psycopg connection, run a
mixed load against the database while a nemesis kills the postmaster (pg_ctl
stop -m immediate, or SIGKILL), a client backend, or the engine worker, and
restarts the server.  Every call is written to a client-side history (JSON
lines): an "invoke" record, then exactly one of "ok" (the transition was
acknowledged), "fail" (refused: an error envelope or an SQL error that rolled
the call back) or "unknown" (the connection was lost before the answer: the
call may or may not have committed).

After the last kill the load stops; the engine worker (not this harness)
dispatches what the crashes left, and the checker compares the history with
the database.  It prints TAP lines ("ok N - ...", "# figures", "1..N").

Environment: CRASH_DSN (libpq), CRASH_PGDATA, CRASH_PGBIN, CRASH_LOG (the
server log), CYCLES (kills, default 20), CRASH_LOAD_MIN / CRASH_LOAD_MAX (s of
load between kills, default 1 / 2.5), CRASH_WORKERS (threads, default 6),
CRASH_HISTORY (path of the history file), CRASH_SEED.
"""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg

DSN = os.environ["CRASH_DSN"]
PGDATA = os.environ["CRASH_PGDATA"]
PGBIN = os.environ.get("CRASH_PGBIN", "/usr/lib/postgresql/15/bin")
SERVER_LOG = os.environ["CRASH_LOG"]
CYCLES = int(os.environ.get("CYCLES", "20"))
LOAD_MIN = float(os.environ.get("CRASH_LOAD_MIN", "1"))
LOAD_MAX = float(os.environ.get("CRASH_LOAD_MAX", "2.5"))
WORKERS = int(os.environ.get("CRASH_WORKERS", "6"))
HISTORY = os.environ.get("CRASH_HISTORY", "/tmp/ff_crash_history.jsonl")
SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
LANE = "crash"
RETRY_POLICY = json.dumps({"retry_policy": {"max_retries": 2,
                                            "backoff": {"type": "fixed", "initial_delay_ms": 0}}})

# ---------------------------------------------------------------- history


class History:
    """Append-only client-side history; times are time.monotonic() (one clock
    for every thread of this process)."""

    def __init__(self, path):
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.next_id = 0
        self.records = []

    def invoke(self, proc, op, args):
        with self.lock:
            self.next_id += 1
            rec = {"id": self.next_id, "proc": proc, "type": "invoke", "op": op,
                   "t": time.monotonic(), "args": args}
            self._write(rec)
            return self.next_id

    def complete(self, oid, proc, op, typ, value):
        with self.lock:
            rec = {"id": oid, "proc": proc, "type": typ, "op": op, "t": time.monotonic(), "value": value}
            self._write(rec)

    def _write(self, rec):
        self.records.append(rec)
        self.f.write(json.dumps(rec, default=str) + "\n")

    def close(self):
        self.f.close()


HIST = History(HISTORY)
STOP = threading.Event()
# shared between workers: fences seen (to replay stale), suspended
# executions awaiting a signal, acknowledged flows (to cancel some)
SHARED_LOCK = threading.Lock()
OLD_FENCES = []
SIGNAL_QUEUE = []
FLOWS = []
HARNESS_ERRORS = []
BUDGET_ID = str(uuid.uuid4())
BUDGET_HARD = 8000   # low enough that concurrent reports reach it: HARD_BREACH applies nothing


def unknown_error(e):
    """A lost connection, a crash or an administrator shutdown: the call may
    have committed.  A statement error (class 22, 40, ...) rolled it back."""
    st = getattr(e, "sqlstate", None)
    if st is None:
        return True
    return st[:2] in ("08", "57", "58")


class Client:
    def __init__(self, name):
        self.name = name
        self.conn = None

    def connect(self):
        while not STOP.is_set():
            try:
                self.conn = psycopg.connect(DSN, autocommit=True, connect_timeout=3,
                                            application_name="crash-load",
                                            options="-c statement_timeout=10000")
                return True
            except psycopg.Error:
                time.sleep(0.1)
        return False

    def call(self, op, sql, params, args, fetch="one", txn=None):
        """Runs one call and records invoke and its outcome; returns
        (type, value).  For "one", value is the first column of the row."""
        if self.conn is None or self.conn.closed:
            if not self.connect():
                return ("skipped", None)
        oid = HIST.invoke(self.name, op, args)
        try:
            if txn is not None:
                with self.conn.transaction():
                    value = txn(self.conn)
            else:
                cur = self.conn.execute(sql, params)
                if fetch == "one":
                    row = cur.fetchone()
                    value = row[0] if row else None
                else:
                    value = [r[0] for r in cur.fetchall()]
        except psycopg.Error as e:
            if unknown_error(e) or self.conn.closed or self.conn.broken:
                HIST.complete(oid, self.name, op, "unknown", {"error": str(e).strip()[:200],
                                                               "sqlstate": getattr(e, "sqlstate", None)})
                try:
                    self.conn.close()
                except Exception:
                    pass
                self.conn = None
                return ("unknown", None)
            HIST.complete(oid, self.name, op, "fail", {"sqlstate": e.sqlstate, "error": str(e).strip()[:200]})
            return ("fail", None)
        except Refused as e:  # a step of a multi-statement call refused: rolled back
            HIST.complete(oid, self.name, op, "fail", {"error": str(e)[:200]})
            return ("fail", None)
        typ = "ok"
        if isinstance(value, dict) and value.get("ok") is False:
            typ = "fail"
        HIST.complete(oid, self.name, op, typ, value)
        return (typ, value)


class Refused(Exception):
    pass


def fence_args(c):
    return {"execution_id": c["execution_id"], "lease_epoch": c["lease_epoch"],
            "lease_id": c["lease_id"], "attempt_id": c["attempt_id"], "attempt_index": c["attempt_index"]}


def fence_json(c):
    return json.dumps(fence_args(c))


# ---------------------------------------------------------------- load


class Worker(Client):
    def __init__(self, name, rnd):
        super().__init__(name)
        self.rnd = rnd
        self.seq = 0

    def tag(self, kind):
        self.seq += 1
        return "%s-%s-%d" % (kind, self.name, self.seq)

    def run(self):
        while not STOP.is_set():
            r = self.rnd.random()
            try:
                if r < 0.16:
                    self.create_one()
                elif r < 0.22:
                    self.create_batch()
                elif r < 0.28:
                    self.create_flow()
                elif r < 0.33:
                    self.deliver_signal()
                elif r < 0.37:
                    self.report_usage()
                elif r < 0.39:
                    self.cancel_flow()
                elif r < 0.44:
                    self.stale_call()
                else:
                    self.claim_and_work()
            except Exception as e:  # a bug of the harness: say so, keep going (the checker fails the run)
                HARNESS_ERRORS.append(repr(e))
                print("# harness error in %s: %r" % (self.name, e), flush=True)
                time.sleep(0.05)

    def create_one(self):
        eid = "{fp:%d}:%s" % (self.rnd.randrange(256), uuid.uuid4())
        self.call("create", "SELECT ff.create_execution(%s, lane_id => %s, policy_json => %s, input_payload => %s)",
                  (eid, LANE, RETRY_POLICY, b"in"), {"execution_id": eid})

    def create_batch(self):
        part = self.rnd.randrange(256)
        ids = ["{fp:%d}:%s" % (part, uuid.uuid4()) for _ in range(self.rnd.randint(2, 6))]
        self.call("create_batch", "SELECT ff.create_executions(%s::text[], lane_id => %s, policy_json => %s)",
                  (ids, LANE, RETRY_POLICY), {"execution_ids": ids})

    def create_flow(self):
        """A flow a, b -> c: c's group is any_of with cancel_remaining (or
        all_of), built in one transaction."""
        flow = str(uuid.uuid4())
        variant = self.rnd.choice(["any_of", "any_of", "all_of"])

        def build(conn):
            ids = [conn.execute("SELECT ff.flow_member_execution_id(%s)", (flow,)).fetchone()[0] for _ in range(3)]
            outs = [conn.execute("SELECT ff.create_flow(%s, 'dag')", (flow,)).fetchone()[0]]
            for eid in ids:
                outs.append(conn.execute("SELECT ff.create_execution(%s, lane_id => %s, policy_json => %s)",
                                         (eid, LANE, RETRY_POLICY)).fetchone()[0])
                outs.append(conn.execute("SELECT ff.add_execution_to_flow(%s, %s)", (flow, eid)).fetchone()[0])
            if variant == "any_of":
                outs.append(conn.execute("SELECT ff.set_edge_group_policy(%s, %s, 'any_of', 'cancel_remaining')",
                                         (flow, ids[2])).fetchone()[0])
            outs.append(conn.execute("SELECT ff.add_dependency(%s, %s, %s)", (flow, ids[0], ids[2])).fetchone()[0])
            outs.append(conn.execute("SELECT ff.add_dependency(%s, %s, %s)", (flow, ids[1], ids[2])).fetchone()[0])
            bad = [o for o in outs if not o.get("ok")]
            if bad:
                raise Refused("flow build refused: %r" % bad[0])
            return {"ok": True, "flow_id": flow, "members": ids, "variant": variant}

        typ, val = self.call("create_flow", None, None, {"flow_id": flow, "variant": variant}, txn=build)
        if typ == "ok":
            with SHARED_LOCK:
                FLOWS.append(flow)

    def cancel_flow(self):
        with SHARED_LOCK:
            if not FLOWS:
                return
            flow = FLOWS.pop(self.rnd.randrange(len(FLOWS)))
        wait = self.rnd.random() < 0.5
        self.call("cancel_flow", "SELECT ff.cancel_flow(%s, 'crash test', 'cancel_all', 0, %s)",
                  (flow, wait), {"flow_id": flow, "wait": wait})

    def report_usage(self):
        key = self.tag("u")
        delta = self.rnd.randint(1, 100)
        for _ in range(2):  # a second call with the same key resolves an unknown
            typ, val = self.call("usage", "SELECT ff.report_usage_and_check(%s, '{tokens}', ARRAY[%s]::bigint[], %s)",
                                 (BUDGET_ID, delta, key), {"dedup_key": key, "delta": delta})
            if typ != "unknown" and self.rnd.random() < 0.8:
                break

    def deliver_signal(self):
        with SHARED_LOCK:
            if not SIGNAL_QUEUE:
                return
            eid, wp, token = SIGNAL_QUEUE.pop(self.rnd.randrange(len(SIGNAL_QUEUE)))
        sid = str(uuid.uuid4())
        self.call("signal", "SELECT ff.deliver_signal(%s, %s, %s, 'go', %s, payload => %s)",
                  (eid, wp, sid, token, b"sig"), {"execution_id": eid, "signal_id": sid, "waitpoint_id": wp})

    def stale_call(self):
        """Presents a fence seen earlier (often no longer valid)."""
        with SHARED_LOCK:
            if not OLD_FENCES:
                return
            c = self.rnd.choice(OLD_FENCES)
        self.act(c, self.rnd.choice(["complete", "fail", "renew", "append"]), deliberate=True)

    def claim_and_work(self):
        ttl = self.rnd.randint(300, 800)
        n = self.rnd.choice([1, 1, 2, 3])
        typ, claims = self.call("claim", "SELECT claim FROM ff.claim_next(%s, 'crash', %s, lease_ttl_ms => %s, "
                                "max_count => %s, reclaim => true)", (LANE, self.name, ttl, n),
                                {"ttl": ttl, "max_count": n}, fetch="all")
        if typ != "ok" or not claims:
            if typ == "ok":
                time.sleep(0.02)
            return
        with SHARED_LOCK:
            OLD_FENCES.extend(claims)
            del OLD_FENCES[:-400]
        if len(claims) > 1 and self.rnd.random() < 0.6:
            payloads = [self.tag("r").encode() for _ in claims]
            self.call("complete_batch", "SELECT ff.complete_executions(%s::jsonb[], %s::bytea[])",
                      ([json.dumps(fence_args(c)) for c in claims], payloads),
                      {"fences": [fence_args(c) for c in claims], "payloads": [p.decode() for p in payloads]})
            return
        for c in claims:
            r = self.rnd.random()
            if r < 0.08:
                # pause past the lease, then act with the now stale fence
                time.sleep(ttl / 1000.0 + self.rnd.uniform(0.1, 0.3))
                self.act(c, "complete", paused=True)
            elif r < 0.18:
                self.act(c, "suspend")
            elif r < 0.33:
                self.act(c, "fail")
            elif r < 0.45:
                if self.act(c, "renew") == "ok" and self.act(c, "append") != "unknown":
                    self.act(c, "complete")
            else:
                self.act(c, "complete")

    def act(self, c, what, deliberate=False, paused=False):
        f = fence_json(c)
        meta = {"fence": fence_args(c), "deliberate": deliberate, "paused": paused}
        if what == "complete":
            p = self.tag("r")
            meta["payload"] = p
            return self.call("complete", "SELECT ff.complete_execution(%s::jsonb, %s::bytea)", (f, p.encode()), meta)[0]
        if what == "fail":
            reason = self.tag("fr")
            meta["reason"] = reason
            return self.call("fail", "SELECT ff.fail_execution(%s::jsonb, %s, 'transient')", (f, reason), meta)[0]
        if what == "renew":
            return self.call("renew", "SELECT ff.renew_lease(%s::jsonb, lease_ttl_ms => 800)", (f,), meta)[0]
        if what == "append":
            return self.call("append", "SELECT ff.append_frame(%s::jsonb, 'stdout', %s::bytea)",
                             (f, b"frame"), meta)[0]
        if what == "suspend":
            sus, wp = str(uuid.uuid4()), str(uuid.uuid4())
            meta.update({"suspension_id": sus, "waitpoint_id": wp})
            typ, val = self.call("suspend", "SELECT ff.suspend_execution(%s::jsonb, suspension_id => %s, "
                                 "waitpoint_id => %s, waitpoint_key => 'k', reason_code => 'waiting_for_signal', "
                                 "resume_condition => %s::jsonb)",
                                 (f, sus, wp, json.dumps({"required_signal_names": ["go"]})), meta)
            if typ == "ok" and val.get("status") == "OK":
                with SHARED_LOCK:
                    SIGNAL_QUEUE.append((c["execution_id"], wp, val["waitpoint_token"]))
            return typ
        raise ValueError(what)


# ---------------------------------------------------------------- nemesis


def as_postgres(args, **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def admin_query(sql, params=None, timeout=3):
    with psycopg.connect(DSN, autocommit=True, connect_timeout=timeout, application_name="crash-nemesis") as c:
        return c.execute(sql, params).fetchall()


def wait_ready(secs=60):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            admin_query("SELECT 1")
            return True
        except psycopg.Error:
            time.sleep(0.1)
    return False


def start_server():
    as_postgres([PGBIN + "/pg_ctl", "-D", PGDATA, "-l", SERVER_LOG, "-w", "-t", "60", "start"])
    return wait_ready()


def postmaster_pid():
    try:
        with open(os.path.join(PGDATA, "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def kill_one(kind):
    """One fault; returns a description, or None when there was nothing to kill."""
    if kind == "immediate":
        as_postgres([PGBIN + "/pg_ctl", "-D", PGDATA, "-m", "immediate", "-w", "stop"])
        return "pg_ctl stop -m immediate"
    if kind == "postmaster":
        pm = postmaster_pid()
        if pm is None:
            return None
        kids = children_of(pm)
        os.kill(pm, signal.SIGKILL)
        # the orphaned children notice the postmaster's death and exit; a
        # new postmaster refuses to start while they hold the shared memory
        end = time.monotonic() + 15
        while time.monotonic() < end and any(alive(k) for k in kids):
            time.sleep(0.05)
        for k in kids:
            if alive(k):
                os.kill(k, signal.SIGKILL)
        time.sleep(0.1)
        return "SIGKILL of the postmaster"
    if kind == "backend":
        rows = admin_query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND backend_type = 'client backend' AND application_name = 'crash-load' "
                           "ORDER BY random() LIMIT 1")
        if not rows:
            return None
        os.kill(rows[0][0], signal.SIGKILL)
        return "SIGKILL of a client backend"
    if kind == "engine":
        rows = []
        for _ in range(30):  # after a restart the launcher starts it within its naptime
            rows = admin_query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                               "AND backend_type = 'ff_engine worker'")
            if rows:
                break
            time.sleep(0.1)
        if not rows:
            return None
        os.kill(rows[0][0], signal.SIGKILL)
        return "SIGKILL of the engine worker"
    raise ValueError(kind)


def restart_after(kind):
    if kind in ("immediate", "postmaster"):
        return start_server()
    # a killed child makes the postmaster reinitialise by itself
    time.sleep(0.3)
    return wait_ready(60)


# ---------------------------------------------------------------- main


def main():
    rnd = random.Random(SEED)
    print("# seed %d, %d cycles, %d workers, load %.1f-%.1f s per cycle" % (SEED, CYCLES, WORKERS, LOAD_MIN, LOAD_MAX))
    if not wait_ready(30):
        print("not ok 1 - the server answers\n1..1")
        return 1
    admin_query("SELECT ff.create_budget(%s, '{tokens}', ARRAY[%s]::bigint[], '{0}')", (BUDGET_ID, BUDGET_HARD))
    log_from = os.path.getsize(SERVER_LOG)
    workers = [Worker("w%d" % i, random.Random(rnd.random())) for i in range(WORKERS)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for t in threads:
        t.start()
    kinds = ["immediate", "backend", "engine", "postmaster"]
    kills, restarts, faults, pending_after = 0, 0, {}, 0
    t0 = time.monotonic()
    for cycle in range(CYCLES):
        time.sleep(rnd.uniform(LOAD_MIN, LOAD_MAX))
        kind = kinds[cycle % len(kinds)]
        try:
            what = kill_one(kind)
        except psycopg.Error:
            what = None
        if what is None:  # nothing to kill (server still recovering): stop it instead
            kind = "immediate"
            what = kill_one(kind)
        kills += 1
        faults[what] = faults.get(what, 0) + 1
        if restart_after(kind):
            restarts += 1
        else:
            start_server() and wait_ready()
        try:  # what the engine worker finds to dispatch after the restart
            pending_after += admin_query("SELECT count(*) FROM ff.completion_event WHERE processed_at IS NULL")[0][0]
        except psycopg.Error:
            pass
    time.sleep(rnd.uniform(LOAD_MIN, LOAD_MAX))
    STOP.set()
    for t in threads:
        t.join(30)
    load_secs = time.monotonic() - t0
    HIST.close()
    import checker
    return checker.check(HIST.records, DSN, {
        "cycles": CYCLES, "kills": kills, "restarts": restarts, "faults": faults, "load_secs": load_secs, "pending_after": pending_after, "harness_errors": len(HARNESS_ERRORS),
        "server_log": SERVER_LOG, "log_from": log_from, "budget_id": BUDGET_ID, "budget_hard": BUDGET_HARD})


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
