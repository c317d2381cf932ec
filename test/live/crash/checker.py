"""The crash harness's checker: compares the client-side history (harness.py)
with the database after the engine worker has settled, and prints TAP.

History semantics.  Every call has an invoke record (time i) and one outcome
record (time a): ok (acknowledged), fail (refused: nothing of it committed,
except that a late lease-bound call may mark the lease expired) or unknown
(connection lost: it may or may not have committed).  Times come from one
monotonic clock.

What is checked (each a TAP line below):
  * durability: every acknowledged create / batch-create item / flow exists;
    every acknowledged complete (single or batch item) left its execution
    completed with exactly that call's result; every acknowledged fail left
    its attempt (by attempt_id) ended_failure with that call's reason; every
    acknowledged suspend's suspension, every acknowledged signal's row, every
    acknowledged flow cancel exists.
  * no double acknowledgement: at most one acknowledged complete per
    execution (counted over all calls, duplicates not collapsed).
  * provenance: every result / failure reason written by the load is the
    payload of exactly one call that was acknowledged or unknown, never of
    a refused one (an unknown call is thereby resolved as applied).
  * one lease at a time.  For each execution and each lease epoch e granted
    by an acknowledged claim, the epoch's certain validity interval is
    V(e) = [ack time of the claim, latest invoke time of a successful
    fenced call under e] (complete, fail, renew, append_frame, suspend, a
    batch item; an unknown call found applied counts, at its invoke time).
    The lease was certainly granted by the claim's acknowledgement and
    certainly still valid at some instant after that call's invoke, so it
    was valid over all of V(e).  Two epochs of one execution whose V
    overlap (strictly) are two fences valid at the same time.  No epoch is
    granted by two acknowledged claims, and no claim invoked after an
    acknowledged claim of epoch E returns an epoch <= E.
  * stale fences: every fenced call whose epoch is below an epoch already
    acknowledged to some client for that execution when the call was
    invoked was refused (and, if its outcome is unknown, not applied).
  * dependencies resolved once: every edge whose upstream ended is resolved;
    each group's counters equal its resolved edges (success -> succeeded,
    otherwise failed + skipped: a second resolution would count twice); a
    decided group's child left blocked_by_dependencies (satisfied) or ended
    (impossible), a skipped child never ran; no child was handed out by two
    acknowledged initial claims; a satisfied cancel_remaining group left no
    upstream running; nothing left owed (pending_cancel_group,
    flow_pending_cancel).
  * budget: usage within [sum of acknowledged deltas, that plus the deltas
    whose outcome stayed unknown], never over the hard limit.
  * the engine worker is back and dispatched every completion event (the
    harness never calls ff.dispatch_completions); one event per terminal
    execution; ff.consistency_violations empty; amcheck (bt_index_check
    with heapallindexed on every ff index, verify_heapam on every ff
    table) finds nothing; no PANIC in the server log.
"""
import time
import uuid
from collections import defaultdict

import psycopg

FENCED = ("complete", "fail", "renew", "append", "suspend")


class Tap:
    def __init__(self, quiet=False):
        self.n = 0
        self.failed = 0
        self.failures = []
        self.quiet = quiet

    def ok(self, cond, what, detail=None):
        self.n += 1
        if not cond:
            self.failed += 1
            self.failures.append(what)
        if self.quiet:
            return
        if cond:
            print("ok %d - %s" % (self.n, what), flush=True)
        else:
            print("not ok %d - %s" % (self.n, what), flush=True)
            for line in (detail or [])[:15]:
                print("#   %s" % (line,), flush=True)

    def note(self, s):
        if not self.quiet:
            print("# " + s, flush=True)


def pair(records):
    """(invoke, outcome) per call id; a call with no outcome (the load was
    stopped inside it) counts as unknown."""
    inv, out = {}, {}
    for r in records:
        (inv if r["type"] == "invoke" else out)[r["id"]] = r
    calls = []
    for oid, i in inv.items():
        o = out.get(oid) or {"type": "unknown", "t": float("inf"), "value": None}
        calls.append({"id": oid, "op": i["op"], "proc": i["proc"], "i": i["t"], "a": o["t"],
                      "type": o["type"], "args": i["args"], "value": o["value"]})
    calls.sort(key=lambda c: c["i"])
    return calls


def settle(conn, secs=60):
    """Waits, bounded, for the engine worker to be back and to have
    dispatched everything the crashes left: completion events, sibling and
    flow cancels.  Nothing here dispatches."""
    end = time.monotonic() + secs
    last = None
    while time.monotonic() < end:
        last = conn.execute("""SELECT
            (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                AND backend_type = 'ff_engine worker'),
            (SELECT count(*) FROM ff.completion_event WHERE processed_at IS NULL),
            (SELECT count(*) FROM ff.pending_cancel_group),
            (SELECT count(*) FROM ff.flow_pending_cancel)""").fetchone()
        if last[0] == 1 and last[1:] == (0, 0, 0):
            return True, last
        time.sleep(0.2)
    return False, last


def check(records, dsn, info, tap=None):
    """Checks; prints TAP unless given a quiet Tap (the self-test)."""
    selftest = tap is not None
    tap = tap or Tap()
    calls = pair(records)
    conn = None
    for _ in range(300):
        try:
            conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
            break
        except psycopg.Error:
            time.sleep(0.1)
    t_settle = time.monotonic()
    if selftest:
        settled, left = True, info["_left"]
    else:
        settled, left = settle(conn)
        info["_left"] = left
    settle_secs = time.monotonic() - t_settle
    cache = info.setdefault("_qcache", {})   # the self-test reuses the snapshot

    def q(sql, p=None):
        key = (sql, tuple(p) if p else None)
        if key not in cache:
            cache[key] = conn.execute(sql, p).fetchall()
        return cache[key]
    ex = {}
    for r in q("""SELECT ff.format_execution_id(e.partition, e.execution_id), e.terminal_outcome::text,
                         e.lifecycle_phase::text, e.eligibility_state::text, e.current_lease_epoch,
                         convert_from(d.result, 'UTF8'), e.flow_id::text, e.total_attempt_count,
                         e.partition, e.execution_id
                  FROM ff.execution e LEFT JOIN ff.execution_data d USING (partition, execution_id)"""):
        ex[r[0]] = {"outcome": r[1], "phase": r[2], "elig": r[3], "epoch": r[4], "result": r[5],
                    "flow": r[6], "attempts": r[7], "key": (r[8], str(r[9]))}
    by_key = {v["key"]: k for k, v in ex.items()}
    att = {}
    for r in q("""SELECT attempt_id::text, ff.format_execution_id(partition, execution_id), attempt_state::text,
                         failure_reason, attempt_type::text FROM ff.attempt"""):
        att[r[0]] = {"exec": r[1], "state": r[2], "reason": r[3], "type": r[4]}
    signals = {r[0] for r in q("SELECT signal_id::text FROM ff.signal")}
    # the suspension row of an execution is replaced by its next suspend; its
    # waitpoints stay, each naming the suspension that activated it
    suspensions = {r[0] for r in q("SELECT suspension_id::text FROM ff.waitpoint WHERE suspension_id IS NOT NULL")}
    flows = {r[0]: r[1] for r in q("SELECT flow_id::text, public_flow_state FROM ff.flow")}

    # ---------------------------------------------------------- figures
    by_op = defaultdict(lambda: defaultdict(int))
    for c in calls:
        by_op[c["op"]][c["type"]] += 1
    unknown = sum(v["unknown"] for v in by_op.values())
    tap.note("%d cycles, %d kills (%s), %d restarts, %.0f s of load" % (
        info["cycles"], info["kills"], ", ".join("%s %d" % kv for kv in sorted(info["faults"].items())),
        info["restarts"], info["load_secs"]))
    tap.note("%d operations: %s" % (len(calls), "; ".join(
        "%s %d ok / %d fail / %d unknown" % (op, v["ok"], v["fail"], v["unknown"]) for op, v in sorted(by_op.items()))))

    tap.ok(info["kills"] >= min(info["cycles"], 20) and info["restarts"] == info["kills"]
           and not info.get("harness_errors"),
           "%d kills, each followed by a restart (%d); the load ran without a harness error (%d)"
           % (info["kills"], info["restarts"], info.get("harness_errors", 0)))

    # ---------------------------------------------------------- derive
    claims = []          # (exec, epoch, invoke, ack, attempt_type, attempt_index, call id)
    fenced = []          # per fenced call or batch item: exec, epoch, i, a, type, op, payload/reason, call
    completes_ok = defaultdict(list)
    created = []         # (exec, how)
    payload_calls = defaultdict(list)
    reason_calls = defaultdict(list)
    for c in calls:
        op, typ, v, args = c["op"], c["type"], c["value"], c["args"]
        if op == "create" and typ == "ok" and v.get("status") == "OK":
            created.append((args["execution_id"], "create"))
        elif op == "create_batch" and typ == "ok":
            for eid, item in zip(args["execution_ids"], v["results"]):
                if item.get("status") == "OK":
                    created.append((eid, "create_executions"))
        elif op == "create_flow" and typ == "ok":
            for eid in v["members"]:
                created.append((eid, "flow member"))
        elif op == "claim" and typ == "ok":
            for cl in v:
                claims.append((cl["execution_id"], cl["lease_epoch"], c["i"], c["a"], cl["attempt_type"],
                               cl["attempt_index"], c["id"], args.get("ttl", 0) / 1000.0))
        elif op in FENCED:
            f = args["fence"]
            item = {"exec": f["execution_id"], "epoch": f["lease_epoch"], "attempt_id": f["attempt_id"],
                    "i": c["i"], "a": c["a"], "type": typ, "op": op, "call": c, "deliberate": args.get("deliberate"),
                    "payload": args.get("payload"), "reason": args.get("reason"),
                    "error": v.get("error") if typ == "fail" and isinstance(v, dict) else None}
            if op == "suspend" and typ == "ok" and v.get("status") != "OK":
                item["type"] = "fail"   # ALREADY_SATISFIED keeps the lease: not a transition
            fenced.append(item)
        elif op == "complete_batch":
            results = v["results"] if typ == "ok" else [None] * len(args["fences"])
            for f, p, res in zip(args["fences"], args["payloads"], results):
                ityp = typ if typ != "ok" else ("ok" if res.get("ok") else "fail")
                fenced.append({"exec": f["execution_id"], "epoch": f["lease_epoch"], "attempt_id": f["attempt_id"],
                               "i": c["i"], "a": c["a"], "type": ityp, "op": "complete", "call": c,
                               "deliberate": False, "payload": p, "reason": None,
                               "error": res.get("error") if res and ityp == "fail" else None})
    for it in fenced:
        if it["op"] == "complete":
            payload_calls[it["payload"]].append(it)
            if it["type"] == "ok":
                completes_ok[it["exec"]].append(it)
        if it["op"] == "fail":
            reason_calls[it["reason"]].append(it)

    # unknown calls resolved from the database
    applied_unknown = 0
    for it in fenced:
        if it["type"] != "unknown":
            continue
        e = ex.get(it["exec"], {})
        if it["op"] == "complete" and e.get("result") == it["payload"]:
            it["type"] = "applied"
        elif it["op"] == "fail" and att.get(it["attempt_id"], {}).get("reason") == it["reason"]:
            it["type"] = "applied"
        elif it["op"] == "suspend" and it["call"]["args"].get("suspension_id") in suspensions:
            it["type"] = "applied"
        applied_unknown += it["type"] == "applied"

    # ---------------------------------------------------------- durability
    missing = ["%s (%s)" % (eid, how) for eid, how in created if eid not in ex]
    tap.ok(not missing, "every acknowledged create exists (%d: single, batch items, flow members)" % len(created),
           missing)
    bad = []
    n_ok_complete = 0
    for eid, items in completes_ok.items():
        for it in items:
            n_ok_complete += 1
            e = ex.get(eid)
            if e is None or e["outcome"] != "success" or e["result"] != it["payload"]:
                bad.append("%s: acked %s, found %s / %r" % (eid, it["payload"], e and e["outcome"], e and e["result"]))
    tap.ok(not bad, "every acknowledged complete (%d, batch items included) left its execution completed "
           "with that call's result" % n_ok_complete, bad)
    twice = ["%s: %s" % (eid, ", ".join("%s by %s" % (it["payload"], it["call"]["proc"]) for it in items))
             for eid, items in completes_ok.items() if len(items) > 1]
    tap.ok(not twice, "no execution acknowledged as completed to two calls (duplicates counted, not collapsed)",
           twice)
    bad = []
    n_fail = 0
    for it in fenced:
        if it["op"] == "fail" and it["type"] == "ok":
            n_fail += 1
            a = att.get(it["attempt_id"])
            if a is None or a["state"] != "ended_failure" or a["reason"] != it["reason"]:
                bad.append("%s attempt %s: acked %s, found %r" % (it["exec"], it["attempt_id"], it["reason"], a))
    tap.ok(not bad, "every acknowledged fail (%d) left its attempt ended_failure with that reason" % n_fail, bad)
    bad = []
    n_sus = n_sig = n_cf = 0
    for c in calls:
        if c["type"] != "ok":
            continue
        if c["op"] == "suspend" and c["value"].get("status") == "OK":
            n_sus += 1
            if c["args"]["suspension_id"] not in suspensions:
                bad.append("suspension %s lost" % c["args"]["suspension_id"])
        elif c["op"] == "signal":
            n_sig += 1
            if c["args"]["signal_id"] not in signals:
                bad.append("signal %s lost" % c["args"]["signal_id"])
        elif c["op"] == "cancel_flow":
            n_cf += 1
            if flows.get(c["args"]["flow_id"]) != "cancelled":
                bad.append("flow %s: %s" % (c["args"]["flow_id"], flows.get(c["args"]["flow_id"])))
    tap.ok(not bad, "every acknowledged suspend (%d), signal delivery (%d) and flow cancel (%d) is there"
           % (n_sus, n_sig, n_cf), bad)

    # ---------------------------------------------------------- provenance
    bad = []
    n_res = 0
    for eid, e in ex.items():
        if e["outcome"] == "success" and e["result"] and e["result"].startswith("r-"):
            n_res += 1
            src = payload_calls.get(e["result"], [])
            good = [it for it in src if it["exec"] == eid and it["type"] in ("ok", "applied")]
            if len(src) != 1 or len(good) != 1:
                bad.append("%s: result %s from %s" % (eid, e["result"], [(it["exec"], it["type"], it["error"])
                                                                         for it in src]))
    for aid, a in att.items():
        if a["reason"] and a["reason"].startswith("fr-"):
            src = reason_calls.get(a["reason"], [])
            good = [it for it in src if it["attempt_id"] == aid and it["type"] in ("ok", "applied")]
            if len(src) != 1 or len(good) != 1:
                bad.append("attempt %s: reason %s from %s" % (aid, a["reason"], [(it["type"], it["error"]) for it in src]))
    tap.ok(not bad, "every result (%d) and failure reason in the database comes from one call acknowledged "
           "or unknown, never from a refused one" % n_res, bad)

    # ---------------------------------------------------------- leases
    grants = defaultdict(list)
    for cl in claims:
        grants[(cl[0], cl[1])].append(cl)
    dup = ["%s epoch %s granted to calls %s" % (k[0], k[1], [g[6] for g in v]) for k, v in grants.items() if len(v) > 1]
    back = []
    per_exec_claims = defaultdict(list)
    for cl in claims:
        per_exec_claims[cl[0]].append(cl)
    for eid, cls in per_exec_claims.items():
        for x in cls:
            for y in cls:
                if y[2] > x[3] and y[1] <= x[1]:
                    back.append("%s: epoch %s acked at %.3f, then a claim invoked at %.3f got epoch %s"
                                % (eid, x[1], x[3], y[2], y[1]))
    tap.ok(not dup and not back, "no lease epoch granted twice, none granted at or below one already "
           "acknowledged (%d acknowledged claims, %d of them reclaims)"
           % (len(claims), sum(1 for cl in claims if cl[4] == "reclaim")), dup + back)

    start = {}
    for cl in claims:
        start[(cl[0], cl[1])] = min(start.get((cl[0], cl[1]), cl[3]), cl[3])
    end = dict(start)
    for it in fenced:
        k = (it["exec"], it["epoch"])
        if it["type"] in ("ok", "applied") and k in start:
            end[k] = max(end[k], it["i"])
    per_exec = defaultdict(list)
    for (eid, ep), s in start.items():
        per_exec[eid].append((s, end[(eid, ep)], ep))
    overlaps = []
    for eid, ivs in per_exec.items():
        ivs.sort()
        for j in range(len(ivs)):
            for k in range(j + 1, len(ivs)):
                if ivs[k][0] < ivs[j][1] and ivs[j][0] < ivs[k][1]:
                    overlaps.append("%s: epoch %s valid over [%.3f, %.3f], epoch %s over [%.3f, %.3f]"
                                    % (eid, ivs[j][2], ivs[j][0], ivs[j][1], ivs[k][2], ivs[k][0], ivs[k][1]))
    multi = sum(1 for v in per_exec.values() if len(v) > 1)
    tap.ok(not overlaps, "no two lease epochs of one execution valid over overlapping times "
           "(%d executions leased, %d of them under several epochs)" % (len(per_exec), multi), overlaps)

    acked_epochs = defaultdict(list)   # exec -> [(ack time, epoch)]
    for cl in claims:
        acked_epochs[cl[0]].append((cl[3], cl[1]))
    stale, stale_bad, errors = 0, [], defaultdict(int)
    deliberate = paused = 0
    for it in fenced:
        newer = [ep for (a, ep) in acked_epochs.get(it["exec"], []) if a < it["i"] and ep > it["epoch"]]
        if not newer:
            continue
        stale += 1
        deliberate += bool(it["deliberate"])
        paused += bool(it["call"]["args"].get("paused"))  # reclaimed while it slept
        if it["type"] in ("ok", "applied"):
            stale_bad.append("%s: %s with epoch %s succeeded after epoch %s was acknowledged"
                             % (it["exec"], it["op"], it["epoch"], max(newer)))
        else:
            errors[it["error"] or ("sql error" if it["type"] == "fail" else it["type"])] += 1
    tap.ok(stale > 0 and not stale_bad, "every call with a stale fence refused (%d calls: %s)"
           % (stale, ", ".join("%s %d" % kv for kv in sorted(errors.items(), key=lambda kv: -kv[1]))), stale_bad)
    # Expired leases.  The engine's expiry of epoch e is at most the latest
    # of (claim ack + its TTL) and (ack of a successful renew under e + the
    # renew's TTL): the server stamped each before it answered.  A renew
    # under e with an unknown outcome may have extended it by an unknown
    # amount: such an epoch is left out.  Any fenced call invoked after
    # that bound (+50 ms for the two clocks) must have been refused,
    # whoever presented the fence (another worker may renew a paused
    # worker's lease with the same fence: then it is not expired).
    deadline = {}
    for cl in claims:
        deadline[(cl[0], cl[1])] = cl[3] + cl[7]
    for it in fenced:
        k = (it["exec"], it["epoch"])
        if it["op"] == "renew" and k in deadline:
            if it["type"] in ("ok", "applied"):
                deadline[k] = max(deadline[k], it["a"] + 0.8)
            elif it["type"] == "unknown":
                deadline[k] = float("inf")
    late = [it for it in fenced if it["i"] > deadline.get((it["exec"], it["epoch"]), float("inf")) + 0.05]
    late_bad = [it for it in late if it["type"] in ("ok", "applied")]
    late_paused = sum(1 for it in late if it["call"]["args"].get("paused"))
    tap.ok(late_paused and not late_bad, "every call invoked after its lease had certainly expired was refused "
           "(%d calls, %d of them by workers paused past their TTL, %d of those reclaimed meanwhile)"
           % (len(late), late_paused, paused),
           ["%s epoch %s: %s %s" % (it["exec"], it["epoch"], it["op"], it["type"]) for it in late_bad])

    # ---------------------------------------------------------- dependencies
    deps = q("""SELECT d.partition, d.downstream_execution_id::text, d.upstream_execution_id::text, d.state,
                       u.terminal_outcome::text
                FROM ff.dependency d JOIN ff.execution u
                  ON u.partition = d.partition AND u.execution_id = d.upstream_execution_id""")
    groups = q("""SELECT partition, downstream_execution_id::text, policy_variant, on_satisfied, n, succeeded,
                         failed, skipped, group_state FROM ff.edge_group""")
    dep_by_child = defaultdict(list)
    bad = []
    for p, child, up, state, uout in deps:
        dep_by_child[(p, child)].append((up, state, uout))
        if uout != "none" and state == "unsatisfied":
            bad.append("edge %s -> %s unresolved, upstream %s" % (up, child, uout))
    for p, child, variant, on_sat, n, s, f, k, gstate in groups:
        ds = dep_by_child.get((p, child), [])
        sat = sum(1 for d in ds if d[1] == "satisfied")
        imp = sum(1 for d in ds if d[1] == "impossible")
        cid = by_key.get((p, child))
        ce = ex.get(cid, {})
        if n != len(ds) or s != sat or f + k != imp:
            bad.append("group of %s: n/s/f+k %d/%d/%d, edges %d/%d/%d" % (cid, n, s, f + k, len(ds), sat, imp))
        if gstate == "satisfied" and ce.get("elig") == "blocked_by_dependencies":
            bad.append("%s: group satisfied, child still blocked" % cid)
        if gstate == "impossible" and ce.get("phase") != "terminal":
            bad.append("%s: group impossible, child %s" % (cid, ce.get("phase")))
        if gstate == "pending" and ce.get("phase") != "terminal" and ce.get("elig") != "blocked_by_dependencies":
            bad.append("%s: group pending, child %s/%s" % (cid, ce.get("phase"), ce.get("elig")))
        if ce.get("outcome") == "skipped" and ce.get("attempts", 0) != 0:
            bad.append("%s: skipped child ran %d attempts" % (cid, ce["attempts"]))
        if gstate == "satisfied" and on_sat == "cancel_remaining":
            running = [d[0] for d in ds if d[2] == "none"]
            if running:
                bad.append("%s: cancel_remaining group satisfied, upstreams %s not ended" % (cid, running))
    initial = defaultdict(int)
    for cl in claims:
        if cl[4] == "initial":
            initial[cl[0]] += 1
    bad += ["%s handed out by %d initial claims" % (eid, n) for eid, n in initial.items() if n > 1]
    n_flows = sum(1 for c in calls if c["op"] == "create_flow" and c["type"] == "ok")
    decided = sum(1 for g in groups if g[8] != "pending")
    tap.ok(settled and not bad, "every dependency resolved exactly once (%d flows, %d groups decided, %d edges); "
           "every child released at most once" % (n_flows, decided, len(deps)), bad)

    # ---------------------------------------------------------- budget
    keys = defaultdict(lambda: {"delta": 0, "applied": False, "maybe": False})
    for c in calls:
        if c["op"] != "usage":
            continue
        k = keys[c["args"]["dedup_key"]]
        k["delta"] = c["args"]["delta"]
        if c["type"] == "ok" and c["value"].get("status") in ("OK", "SOFT_BREACH", "ALREADY_APPLIED"):
            k["applied"] = True
        elif c["type"] == "unknown":
            k["maybe"] = True
    lo = sum(k["delta"] for k in keys.values() if k["applied"])
    hi = lo + sum(k["delta"] for k in keys.values() if k["maybe"] and not k["applied"])
    usage = q("SELECT coalesce(sum(value), 0) FROM ff.budget_usage WHERE budget_id = %s", (info["budget_id"],))[0][0]
    breaches = sum(1 for c in calls if c["op"] == "usage" and c["type"] == "ok"
                   and c["value"].get("status") == "HARD_BREACH")
    tap.ok(len(keys) > 0 and lo <= usage <= hi and usage <= info["budget_hard"],
           "budget usage %d within the acknowledged %d .. %d (with unknown reports), at most the hard limit %d "
           "(%d keys, %d reports refused as HARD_BREACH)" % (usage, lo, hi, info["budget_hard"], len(keys), breaches))

    # ---------------------------------------------------------- engine, invariants, storage
    tap.ok(settled, "the engine worker is back and dispatched every completion and cancel by itself "
           "(%d completion events found pending just after the restarts; settled %.1f s after the load; "
           "left: worker, events, sibling cancels, flow cancels = %s)" % (info["pending_after"], settle_secs, left))
    dup_ev = q("""SELECT count(*) FROM (SELECT partition, execution_id FROM ff.completion_event
                  GROUP BY 1, 2 HAVING count(*) > 1) x""")[0][0]
    # rows are kept for flow members only (ff_engine.completion_events = flows)
    no_ev = q("""SELECT count(*) FROM ff.execution e WHERE e.lifecycle_phase = 'terminal' AND e.flow_id IS NOT NULL AND NOT EXISTS
                 (SELECT 1 FROM ff.completion_event c WHERE c.partition = e.partition
                  AND c.execution_id = e.execution_id)""")[0][0]
    tap.ok(dup_ev == 0 and no_ev == 0, "one completion event per terminal flow member, none twice (%d twice, %d none)"
           % (dup_ev, no_ev))
    viol = q("SELECT id, problem FROM ff.consistency_violations LIMIT 15")
    tap.ok(not viol, "ff.consistency_violations is empty", viol)
    if selftest:
        conn.close()
        return tap
    conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    idx = q("""SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
               WHERE n.nspname = 'ff' AND am.amname = 'btree'""")
    bad = []
    for (name,) in idx:
        try:
            conn.execute("SELECT bt_index_check(%s::regclass, heapallindexed => true)", (name,))
        except psycopg.Error as e:
            bad.append("%s: %s" % (name, str(e).strip()[:200]))
    tabs = q("""SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'ff' AND c.relkind = 'r'""")
    for (name,) in tabs:
        for r in q("SELECT blkno, offnum, msg FROM verify_heapam(%s::regclass) LIMIT 3", (name,)):
            bad.append("%s: %s" % (name, r))
    tap.ok(len(idx) > 20 and not bad, "amcheck: bt_index_check (heapallindexed) on %d ff indexes and "
           "verify_heapam on %d ff tables find nothing" % (len(idx), len(tabs)), bad)
    with open(info["server_log"], errors="replace") as f:
        f.seek(info["log_from"])
        panics = [l.strip() for l in f if "PANIC" in l or "TRAP:" in l]
    tap.ok(not panics, "no PANIC or failed assertion in the server log", panics)

    uc = [c for c in calls if c["type"] == "unknown" and c["op"] in ("create", "create_batch", "create_flow")]
    uc_ids = [i for c in uc for i in (c["args"].get("execution_ids") or [c["args"].get("execution_id")]) if i]
    uc_found = sum(1 for i in uc_ids if i in ex)
    uf = [c for c in uc if c["op"] == "create_flow"]
    uf_found = sum(1 for c in uf if c["args"]["flow_id"] in flows)
    tap.note("unknown outcomes: %d calls; of them %d lease-bound calls found applied, %d of %d executions "
             "created by unknown creates exist, %d of %d flows"
             % (unknown, applied_unknown, uc_found, len(uc_ids), uf_found, len(uf)))
    tap.note("verified: %d acknowledged creates, %d completes, %d fails, %d suspends, %d signals, "
             "%d stale-fence calls refused (%d replayed on purpose, %d after a pause past the TTL), "
             "%d epochs checked for overlap" % (len(created), n_ok_complete, n_fail, n_sus, n_sig, stale - len(stale_bad),
                                                deliberate, paused, len(start)))
    kinds = {"create": by_op["create"]["ok"], "create_executions": by_op["create_batch"]["ok"],
             "flows": n_flows, "claims": len(claims), "reclaims": sum(1 for cl in claims if cl[4] == "reclaim"),
             "complete_executions": by_op["complete_batch"]["ok"], "completes": n_ok_complete, "fails": n_fail,
             "suspends": n_sus, "signals": n_sig, "budget reports": by_op["usage"]["ok"],
             "stale calls": stale, "calls after expiry": len(late), "renews": by_op["renew"]["ok"]}
    tap.ok(all(v > 0 for v in kinds.values()) and unknown > 0,
           "the load exercised every kind of call, and some outcomes were unknown",
           ["%s: %d" % kv for kv in kinds.items() if kv[1] == 0] + ([] if unknown else ["no unknown outcome"]))
    conn.close()
    planted = selftest_catches(records, dsn, info)
    tap.ok(all(planted.values()), "the checker catches violations planted in a copy of this history: %s"
           % ", ".join("%s %s" % (k, "caught" if v else "MISSED") for k, v in planted.items()))
    print("1..%d" % tap.n, flush=True)
    return 1 if tap.failed else 0


def selftest_catches(records, dsn, info):
    """Plants one violation of each kind in a copy of the history and runs
    the checker on it quietly: each must make its check fail (a checker
    that passes everything would pass here too)."""
    calls = pair(records)
    nid = max(r["id"] for r in records) + 1
    out = {}

    def run(extra, expect):
        tap = check(records + extra, dsn, info, tap=Tap(quiet=True))
        return any(expect in f for f in tap.failures)

    def rec(oid, op, proc, ti, ta, typ, args, value):
        return [{"id": oid, "proc": proc, "type": "invoke", "op": op, "t": ti, "args": args},
                {"id": oid, "proc": proc, "type": typ, "op": op, "t": ta, "value": value}]

    last = max(r["t"] for r in records)
    out["lost create"] = run(rec(nid, "create", "p", last, last, "ok", {"execution_id": "{fp:1}:%s" % uuid.uuid4()},
                                 {"ok": True, "status": "OK"}), "every acknowledged create exists")
    done = [c for c in calls if c["op"] == "complete" and c["type"] == "ok"]
    if done:
        c = done[0]
        args = dict(c["args"], payload="r-planted")
        out["double complete"] = run(rec(nid, "complete", "planted", c["i"], c["a"], "ok", args,
                                         {"ok": True, "result": "completed"}), "acknowledged as completed to two")
        fargs = dict(c["args"], reason="fr-planted")
        out["lost fail"] = run(rec(nid, "fail", "planted", c["i"], c["a"], "ok", fargs,
                                   {"ok": True, "result": "terminal_failed"}), "every acknowledged fail")
    by_exec = defaultdict(list)
    for c in calls:
        if c["op"] == "claim" and c["type"] == "ok":
            for cl in c["value"]:
                by_exec[cl["execution_id"]].append((cl["lease_epoch"], c, cl))
    multi = [v for v in by_exec.values() if len(v) > 1]
    if multi:
        v = sorted(multi[0], key=lambda x: x[0])
        (e1, c1, cl1), (e2, c2, cl2) = v[0], v[-1]
        fence = {k: cl1[k] for k in ("execution_id", "lease_epoch", "lease_id", "attempt_id", "attempt_index")}
        t = c2["a"] + 0.001
        out["stale fence acting"] = run(rec(nid, "renew", "planted", t, t + 0.001, "ok", {"fence": fence},
                                            {"ok": True}), "every call with a stale fence refused")
        out["overlapping fences"] = run(rec(nid, "renew", "planted", t, t + 0.001, "ok", {"fence": fence},
                                            {"ok": True}), "no two lease epochs")
        out["epoch granted twice"] = run(rec(nid, "claim", "planted", c2["a"] + 1, c2["a"] + 1.001, "ok", {},
                                             [cl2]), "no lease epoch granted twice")
    renewed = {c["args"]["fence"]["execution_id"] for c in calls if c["op"] == "renew"}
    plain = [c for c in done if c["args"]["fence"]["execution_id"] not in renewed]
    if plain:
        c = plain[0]
        f = c["args"]["fence"]
        t = max(r["t"] for r in records) + 5
        out["expired lease acting"] = run(rec(nid, "append", "planted", t, t + 0.001, "ok", {"fence": f},
                                              {"ok": True}), "after its lease had certainly expired")
    out["budget drift"] = run(rec(nid, "usage", "planted", last, last, "ok", {"dedup_key": "planted", "delta": 7},
                                  {"ok": True, "status": "OK"}), "budget usage")
    return out
