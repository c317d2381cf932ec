#!/usr/bin/python3
"""Hot-path fuzzer (issue 23): calls that reach the engine's transitions.

For each call it first builds a valid target with the setup connection (a
superuser): a fresh execution, a claim (the fence), a suspension (waitpoint
id and token), a flow with members, a budget.  Then it calls the function
under test with valid arguments, or with one field mutated (a neighbouring
epoch, another execution's id, a swapped lease / attempt id, a malformed or
foreign-partition id, NULL, a deep or oversized JSON, an oversized payload,
a fence with a field dropped, retyped or added, ...), as one of the roles:
ff_admin, ff_worker (with ff_submitter: a worker that also submits), a
tenant role bound to namespace fz_t (a worker and submitter whose targets are
usually its own namespace's, sometimes another's) and ff_reader.

Each call's outcome is counted per function and role: OK (an envelope with
ok true, or claim_next returning a row), domain (an envelope with ok false,
or no row) or sql (an ERROR, by SQLSTATE).  Findings: an internal error
(class XX) or a plpgsql error escaping, a jsonb result that is not an
envelope, a lost connection (a crashed backend).  Prints TAP lines.

Environment: FUZZ_DSN, FUZZ_HOT_CALLS (default 4000), FUZZ_SEED,
FUZZ_TIMEOUT_MS (statement timeout, default 20000).
"""
import json
import os
import random
import sys
import time
import uuid
from collections import defaultdict

import psycopg

DSN = os.environ["FUZZ_DSN"]
CALLS = int(os.environ.get("FUZZ_HOT_CALLS", "4000"))
SEED = int(os.environ.get("FUZZ_SEED", str(int(time.time()))))
TIMEOUT = int(os.environ.get("FUZZ_TIMEOUT_MS", "20000"))
LANE = "fz"
TENANT_NS = "fz_t"
ROLES = {"admin": "ff_admin", "worker": "fz_worker", "tenant": "fz_tenant", "reader": "ff_reader"}
ROLE_WEIGHTS = [("admin", 30), ("worker", 30), ("tenant", 25), ("reader", 15)]
# the functions that must return OK at least once
HOT = ["create_execution", "create_executions", "claim_next", "complete_execution", "complete_executions",
       "fail_execution", "renew_lease", "suspend_execution", "deliver_signal", "append_frame", "create_flow",
       "add_dependency", "cancel_flow", "update_progress", "delay_execution", "cancel_execution",
       "report_usage_and_check"]
RETRY = {"retry_policy": {"max_retries": 1, "backoff": {"type": "fixed", "initial_delay_ms": 0}}}
# SQLSTATEs a clean refusal may use; class XX and plpgsql's own are findings
BAD_STATES = ("XX", "P0001", "P0004", "42P01", "42703", "42804", "42883", "2F005", "39")

rnd = random.Random(SEED)


def connect(role=None):
    c = psycopg.connect(DSN, autocommit=True, connect_timeout=10, application_name="fuzz-hot",
                        options="-c statement_timeout=%d" % TIMEOUT)
    if role:
        c.execute("SET ROLE %s" % role)
    return c


def setup(conn):
    for r, grants in (("fz_worker", "ff_worker, ff_submitter"), ("fz_tenant", "ff_worker, ff_submitter")):
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (r,)).fetchone():
            conn.execute("CREATE ROLE %s NOLOGIN IN ROLE %s" % (r, grants))
    conn.execute("SELECT ff.grant_namespace('fz_tenant', %s)", (TENANT_NS,))


# ---------------------------------------------------------------- mutations

def deep_json(depth):
    return "[" * depth + "]" * depth


def big_json(nbytes):
    return json.dumps({"k%d" % i: "x" * 1000 for i in range(nbytes // 1010 + 1)})


JSON_MUTANTS = [
    lambda: deep_json(rnd.choice([33, 200, 5000])),
    lambda: json.dumps({"a": json.loads(deep_json(40))}),
    lambda: big_json(rnd.choice([300000, 2000000])),
    lambda: '"s"', lambda: "[]", lambda: "1", lambda: "null", lambda: "{}",
    lambda: '{"retry_policy": {"max_retries": "x"}}',
    lambda: '{"retry_policy": {"max_retries": -5, "backoff": {"type": "nope"}}}',
    lambda: '{"routing_requirements": {"required_capabilities": ["a,b", "", "c d"]}}',
    lambda: '{"unicode": "\\u00e9\\ud83d\\ude00", "n": 1e400}',
    lambda: "{not json",
]


def mut_text():
    return rnd.choice([None, "", "x" * rnd.choice([300, 70000, 1100000]), "ünï\tcødé\n", "'; DROP TABLE ff.execution; --",
                       "{fp:0}:", "__operator_only__", "a=b", "-1"])


def mut_id(other_ids):
    u = str(uuid.uuid4())
    return rnd.choice([None, "", "garbage", "{fp:999}:" + u, "{fp:-1}:" + u, "{fp:3}:" + u, "{fp:3}:nope",
                       "x" * 5000, rnd.choice(other_ids) if other_ids else u, "{fp:3}:" + u + " "])


def mut_uuid():
    return rnd.choice([None, str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"])


def mut_int(v):
    base = v if isinstance(v, int) else 0
    return rnd.choice([None, base - 1, base + 1, 0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 31])


def mut_bytes():
    return rnd.choice([None, b"", b"\x00\xff\x80", b"x" * rnd.choice([65537, 1048577, 3000000]),
                       json.dumps(json.loads(deep_json(60))).encode()])


class J(str):
    """A value sent as jsonb (%s::jsonb)."""


class B(bytes):
    pass


def mutate(args, kinds, other_ids):
    """One field of args (an ordered dict name -> value) mutated."""
    name = rnd.choice(list(args))
    kind = kinds.get(name, "text")
    v = args[name]
    if kind == "fence":
        f = json.loads(v)
        what = rnd.choice(["field", "field", "field", "drop", "add", "type", "whole", "swap"])
        if what == "field":
            k = rnd.choice(list(f))
            if k in ("lease_epoch", "attempt_index"):
                f[k] = mut_int(f[k])
            elif k == "execution_id":
                f[k] = mut_id(other_ids)
            else:
                f[k] = mut_uuid()
        elif what == "drop":
            f.pop(rnd.choice(list(f)))
        elif what == "add":
            f[rnd.choice(["extra", "ok", "status", "lease_expires_at"])] = rnd.choice([1, "x", None, False])
        elif what == "type":
            k = rnd.choice(list(f))
            f[k] = rnd.choice([str(f[k]), [f[k]], {"v": f[k]}, 1.5])
        elif what == "swap":
            f["lease_id"], f["attempt_id"] = f["attempt_id"], f["lease_id"]
        else:
            args[name] = J(rnd.choice(JSON_MUTANTS)())
            return name
        args[name] = J(json.dumps(f))
    elif kind == "json":
        args[name] = J(rnd.choice(JSON_MUTANTS)())
    elif kind == "id":
        args[name] = mut_id(other_ids)
    elif kind == "uuid":
        args[name] = mut_uuid()
    elif kind in ("int", "int4"):
        args[name] = mut_int(v)
    elif kind == "bytes":
        args[name] = mut_bytes()
    elif kind == "bool":
        args[name] = rnd.choice([None, not v])
    elif kind == "id[]":
        v = list(v)
        v[rnd.randrange(len(v))] = mut_id(other_ids) if rnd.random() < 0.8 else v[0]   # or an id twice
        args[name] = v
    elif kind == "text[]":
        args[name] = rnd.choice([None, [], [None], ["x"] * 20000, ["a,b"], [mut_text() or "z"]])
    elif kind == "json[]":
        args[name] = rnd.choice([None, [], [None], [rnd.choice(JSON_MUTANTS)()]])
    elif kind == "bytes[]":
        args[name] = rnd.choice([None, [], [None], [b"x" * 1048577]])
    elif kind == "int[]":
        args[name] = rnd.choice([None, [], [None], [-1], [2 ** 63 - 1]])
    else:
        args[name] = mut_text()
    return name


CASTS = {"int4": "::integer", "fence": "::jsonb", "json": "::jsonb", "uuid": "::uuid", "int": "::bigint", "bytes": "::bytea",
         "bool": "::boolean", "text[]": "::text[]", "json[]": "::jsonb[]", "bytes[]": "::bytea[]",
         "int[]": "::bigint[]", "id": "::text", "text": "::text", "id[]": "::text[]", "uuid[]": "::uuid[]"}


# ---------------------------------------------------------------- targets

class Fuzzer:
    def __init__(self):
        self.setup = connect()
        setup(self.setup)
        self.conns = {}
        self.stats = defaultdict(lambda: defaultdict(int))       # fn -> outcome -> n
        self.by_role = defaultdict(lambda: defaultdict(int))     # role -> outcome -> n
        self.states = defaultdict(int)                           # sqlstate -> n
        self.findings = []
        self.errors = defaultdict(lambda: defaultdict(int))      # fn -> sqlstate / error -> n
        self.sample = {}                                         # (fn, state) -> first message
        self.ids = []
        self.budget = str(uuid.uuid4())
        self.s("SELECT ff.create_budget(%s, '{tokens}', '{1000000}', '{900000}', namespace => NULL)", (self.budget,))
        self.tbudget = str(uuid.uuid4())
        self.s("SELECT ff.create_budget(%s, '{tokens}', '{1000000}', '{0}', namespace => %s)", (self.tbudget, TENANT_NS))

    def s(self, sql, params=None):
        return self.setup.execute(sql, params).fetchone()

    def conn(self, role):
        c = self.conns.get(role)
        if c is None or c.closed or c.broken:
            c = self.conns[role] = connect(ROLES[role])
        return c

    def ns_for(self, role):
        if role == "tenant":
            return TENANT_NS if rnd.random() < 0.85 else "default"
        return rnd.choice(["default", "default", TENANT_NS])

    def new_exec(self, ns, n=1, flow=None, lane=LANE):
        ids = []
        for _ in range(n):
            eid = (self.s("SELECT ff.flow_member_execution_id(%s)", (flow,))[0] if flow
                   else "{fp:%d}:%s" % (rnd.randrange(256), uuid.uuid4()))
            self.s("SELECT ff.create_execution(%s, namespace => %s, lane_id => %s, policy_json => %s)",
                   (eid, ns, lane, json.dumps(RETRY)))
            ids.append(eid)
        self.ids.extend(ids)
        del self.ids[:-200]
        return ids

    def claim(self, ns, n=1):
        lane = "fzs_" + ns   # a lane of the setup's own: the claim takes exactly what was created
        self.new_exec(ns, n, lane=lane)
        rows = self.setup.execute("SELECT claim FROM ff.claim_next(%s, 'fz', 'fz-setup', lease_ttl_ms => 60000, "
                                  "max_count => %s)", (lane, n)).fetchall()
        return [r[0] for r in rows]

    def suspended(self, ns):
        c = self.claim(ns)[0]
        wp = str(uuid.uuid4())
        r = self.s("SELECT ff.suspend_execution(%s::jsonb, suspension_id => %s, waitpoint_id => %s, waitpoint_key => 'k',"
                   " reason_code => 'waiting_for_signal', resume_condition => %s::jsonb)",
                   (json.dumps(fence(c)), str(uuid.uuid4()), wp, json.dumps({"required_signal_names": ["go"]})))[0]
        return c["execution_id"], wp, r.get("waitpoint_token")

    def flow(self, ns, members=2):
        f = str(uuid.uuid4())
        self.s("SELECT ff.create_flow(%s, 'dag', %s)", (f, ns))
        ids = self.new_exec(ns, members, flow=f)
        for eid in ids:
            self.s("SELECT ff.add_execution_to_flow(%s, %s)", (f, eid))
        return f, ids

    # ------------------------------------------------------------ one call

    def build(self, fn, role):
        """(sql function, ordered args, kinds) for a valid call of fn by role."""
        ns = self.ns_for(role)
        K = {}
        if fn == "create_execution":
            a = {"execution_id": "{fp:%d}:%s" % (rnd.randrange(256), uuid.uuid4()), "namespace": ns, "lane_id": LANE,
                 "policy_json": json.dumps(RETRY), "input_payload": B(b"in"), "tags": J('{"fz.k": "v"}'),
                 "priority": rnd.randint(0, 100)}
            K = {"execution_id": "id", "policy_json": "text", "input_payload": "bytes", "tags": "json", "priority": "int"}
            if rnd.random() < 0.2:  # the policy as a deep or oversized document
                a["policy_json"] = rnd.choice(JSON_MUTANTS)()
        elif fn == "create_executions":
            p = rnd.randrange(256)
            a = {"execution_ids": ["{fp:%d}:%s" % (p, uuid.uuid4()) for _ in range(3)], "lane_id": LANE,
                 "namespace": ns, "input_payloads": [B(b"a"), B(b"b"), B(b"c")]}
            K = {"execution_ids": "id[]", "input_payloads": "bytes[]"}
        elif fn == "claim_next":
            self.new_exec(ns, 2)
            a = {"lane_id": LANE, "worker_id": "fz", "worker_instance_id": "fz-" + role,
                 "lease_ttl_ms": 30000, "max_count": rnd.randint(1, 3), "reclaim": rnd.random() < 0.5}
            K = {"lease_ttl_ms": "int", "max_count": "int4", "reclaim": "bool"}
        elif fn in ("complete_execution", "fail_execution", "renew_lease", "append_frame", "update_progress",
                    "delay_execution", "cancel_execution", "suspend_execution"):
            c = self.claim(ns)
            if not c:
                return None
            c = c[0]
            a = {"fence": J(json.dumps(fence(c)))}
            K = {"fence": "fence"}
            if fn == "complete_execution":
                a["result_payload"] = B(b"done")
                K["result_payload"] = "bytes"
            elif fn == "fail_execution":
                a.update({"failure_reason": "fz", "failure_category": "transient"})
            elif fn == "renew_lease":
                a["lease_ttl_ms"] = 30000
                K["lease_ttl_ms"] = "int"
            elif fn == "append_frame":
                a.update({"frame_type": "stdout", "payload": B(rnd.choice([b"line", json.dumps({"a": [1, {"b": 2}]}).encode()])),
                          "stream_mode": rnd.choice(["durable", "durable", "best_effort"])})
                K["payload"] = "bytes"
            elif fn == "update_progress":
                a["progress_pct"] = rnd.randint(0, 100)
                K["progress_pct"] = "int4"
            elif fn == "delay_execution":
                a["delay_until"] = int(time.time() * 1000) + 60000
                K["delay_until"] = "int"
            elif fn == "cancel_execution":
                a["reason"] = "fz"
            elif fn == "suspend_execution":
                a.update({"suspension_id": str(uuid.uuid4()), "waitpoint_id": str(uuid.uuid4()), "waitpoint_key": "k",
                          "reason_code": "waiting_for_signal",
                          "resume_condition": J(rnd.choice([json.dumps({"required_signal_names": ["go"]}),
                                                            json.dumps({"v": 1, "composite": True, "tree": {
                                                                "kind": "AllOf", "members": [{
                                                                    "kind": "Single", "waitpoint_key": "k",
                                                                    "matcher": {"kind": "ByName", "name": "go"}}]}})])),
                          "timeout_at": int(time.time() * 1000) + 600000, "timeout_behavior": "fail"})
                K.update({"suspension_id": "uuid", "waitpoint_id": "uuid", "resume_condition": "json",
                          "timeout_at": "int"})
        elif fn == "complete_executions":
            cs = self.claim(ns, 2)
            if not cs:
                return None
            a = {"fences": [json.dumps(fence(c)) for c in cs], "result_payloads": [B(b"r")] * len(cs)}
            K = {"fences": "json[]", "result_payloads": "bytes[]"}
        elif fn == "deliver_signal":
            eid, wp, token = self.suspended(ns)
            a = {"execution_id": eid, "waitpoint_id": wp, "signal_id": str(uuid.uuid4()), "signal_name": "go",
                 "waitpoint_token": token, "payload": B(rnd.choice([b"ok", json.dumps(json.loads(deep_json(20))).encode()]))}
            K = {"execution_id": "id", "waitpoint_id": "uuid", "signal_id": "uuid", "payload": "bytes"}
        elif fn == "create_flow":
            a = {"flow_id": str(uuid.uuid4()), "flow_kind": "dag", "namespace": ns}
            K = {"flow_id": "uuid"}
        elif fn == "add_dependency":
            f, ids = self.flow(ns)
            a = {"flow_id": f, "upstream_execution_id": ids[0], "downstream_execution_id": ids[1]}
            K = {"flow_id": "uuid", "upstream_execution_id": "id", "downstream_execution_id": "id"}
        elif fn == "cancel_flow":
            f, ids = self.flow(ns)
            a = {"flow_id": f, "reason": "fz", "cancellation_policy": rnd.choice(["cancel_all", "cancel_pending"]),
                 "grace_ms": 0, "wait": rnd.random() < 0.5}
            K = {"flow_id": "uuid", "grace_ms": "int", "wait": "bool"}
        elif fn == "report_usage_and_check":
            a = {"budget_id": self.tbudget if role == "tenant" else self.budget, "dimensions": ["tokens"],
                 "deltas": [rnd.randint(1, 10)], "dedup_key": "fz-%d" % rnd.randrange(10 ** 9)}
            K = {"budget_id": "uuid", "dimensions": "text[]", "deltas": "int[]"}
        else:
            raise ValueError(fn)
        return a, K

    def call(self, fn, role, mutate_it):
        built = self.build(fn, role)
        if built is None:
            return
        a, K = built
        mutated = None
        if mutate_it:
            mutated = mutate(a, K, self.ids)
        parts, params = [], []
        for name, v in a.items():
            kind = K.get(name, "text")
            cast = CASTS.get(kind, "")
            if isinstance(v, J) or kind in ("fence", "json"):
                cast = "::jsonb"
            parts.append("%s => %%s%s" % (name, cast) if name != "fence" else "%%s%s" % cast)
            if isinstance(v, list) and kind == "json[]":
                v = [x if x is None else str(x) for x in v]
            if isinstance(v, list) and kind == "bytes[]":
                v = [x if x is None else bytes(x) for x in v]
            if isinstance(v, B):
                v = bytes(v)
            elif isinstance(v, J):
                v = str(v)
            params.append(v)
        if fn == "claim_next":
            sql = "SELECT claim FROM ff.claim_next(%s)" % ", ".join(parts)
        else:
            sql = "SELECT ff.%s(%s)" % (fn, ", ".join(parts))
        conn = self.conn(role)
        label = "%s%s" % (fn, "" if mutated is None else " [%s]" % mutated)
        try:
            cur = conn.execute(sql, params)
            rows = cur.fetchall()
        except psycopg.Error as e:
            st = getattr(e, "sqlstate", None)
            if st is None or conn.broken or conn.closed:
                self.findings.append("%s as %s: connection lost (%s)" % (label, role, str(e).strip()[:200]))
                self.conns.pop(role, None)
                out = "lost"
            else:
                out = "sql"
                self.states[st] += 1
                self.errors[fn][st] += 1
                self.sample.setdefault((fn, st), "%s as %s: %s" % (label, role, str(e).strip().splitlines()[0][:160]))
                if st.startswith(BAD_STATES):
                    self.findings.append("%s as %s: %s %s" % (label, role, st, str(e).strip()[:200]))
            self.stats[fn][out] += 1
            self.by_role[role][out] += 1
            return
        if fn == "claim_next":
            out = "ok" if rows else "domain"
            for (claim,) in rows:   # finish what the fuzz claimed: the lane stays short
                self.setup.execute("SELECT ff.complete_execution(%s::jsonb)", (json.dumps(fence(claim)),))
        else:
            v = rows[0][0] if rows else None
            if not (isinstance(v, dict) and isinstance(v.get("ok"), bool)):
                self.findings.append("%s as %s: not an envelope: %r" % (label, role, str(v)[:200]))
                out = "domain"
            else:
                out = "ok" if v["ok"] else "domain"
                if not v["ok"]:
                    self.states["domain:" + str(v.get("error"))] += 1
                    self.errors[fn][str(v.get("error"))] += 1
                    self.sample.setdefault((fn, str(v.get("error"))), "%s as %s" % (label, role))
        self.stats[fn][out] += 1
        self.by_role[role][out] += 1

    def run(self, n):
        roles = [r for r, w in ROLE_WEIGHTS for _ in range(w)]
        for i in range(n):
            fn = HOT[i % len(HOT)] if i < len(HOT) * 2 else rnd.choice(HOT)
            role = rnd.choice(roles)
            if i < len(HOT) * 2:   # one valid call of each by admin and worker first
                role = "admin" if i < len(HOT) else ("worker" if fn not in ("report_usage_and_check",) else "admin")
            self.call(fn, role, mutate_it=i >= len(HOT) * 2 and rnd.random() < 0.6)


def fence(c):
    return {k: c[k] for k in ("execution_id", "lease_id", "lease_epoch", "attempt_id", "attempt_index")}


def main():
    fz = Fuzzer()
    t0 = time.monotonic()
    fz.run(CALLS)
    secs = time.monotonic() - t0
    print("# hot path: %d calls in %.0f s (seed %d), by role: %s" % (CALLS, secs, SEED, "; ".join(
        "%s %s" % (r, ", ".join("%s %d" % kv for kv in sorted(v.items()))) for r, v in sorted(fz.by_role.items()))))
    for fn in HOT:
        v = fz.stats[fn]
        print("#   %-24s ok %4d  domain error %4d  SQL error %4d" % (fn, v["ok"], v["domain"], v["sql"]))
    top = sorted(fz.states.items(), key=lambda kv: -kv[1])[:14]
    print("# most frequent refusals: %s" % ", ".join("%s %d" % kv for kv in top))
    never = [fn for fn in HOT if fz.stats[fn]["ok"] == 0]
    tap(not never, "every hot-path function returned OK at least once (%d functions)%s"
        % (len(HOT), (": never " + ", ".join(never)) if never else ""))
    for fn in never:   # what stopped it
        for st, k in sorted(fz.errors[fn].items(), key=lambda kv: -kv[1])[:3]:
            print("#   %s: %s %d, e.g. %s" % (fn, st, k, fz.sample[(fn, st)]))
    unrefused = [fn for fn in HOT if fz.stats[fn]["domain"] + fz.stats[fn]["sql"] == 0]
    if CALLS >= 500:   # a short run (under valgrind) may not mutate every function
        tap(not unrefused, "every hot-path function was also refused (mutated arguments reach its checks)%s"
            % ((": never " + ", ".join(unrefused)) if unrefused else ""))
    tap(not fz.findings, "no internal error, escaped plpgsql error, lost connection or non-envelope result "
        "(%d findings)" % len(fz.findings))
    for f in fz.findings[:20]:
        print("#   " + f)
    viol = fz.setup.execute("SELECT count(*) FROM ff.consistency_violations").fetchone()[0]
    tap(viol == 0, "no execution left inconsistent by the hot-path calls (%d violations)" % viol)
    return 0


def tap(cond, what):
    """run.sh numbers the lines: PASS / FAIL <description>."""
    print("%s %s" % ("PASS" if cond else "FAIL", what), flush=True)


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.exit(rc)
