"""The client: submit, read, cancel, signal and wait, inside the caller's own
transaction.  Every method takes a psycopg Connection or Cursor first and
runs on it as it is: nothing is committed or rolled back here, so an enqueue
commits or vanishes together with the caller's own writes."""

from __future__ import annotations

import datetime as _dt
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import psycopg
from psycopg import sql as _pgsql

from . import _sql as S
from .errors import (ArgumentError, ExecutionFailed, NotFound, SignalRejected, WaitTimeout,
                     raise_for_envelope)

BACKOFF_TYPES = ("exponential", "fixed")
TIMEOUT_BEHAVIORS = ("fail", "cancel", "expire", "auto_resume", "auto_resume_with_timeout_signal", "escalate")


@dataclass(frozen=True)
class RetryPolicy:
    """The engine's retry_policy: max_retries retries after the first attempt,
    waiting initial_delay * multiplier**n (exponential, capped at max_delay)
    or delay (fixed) seconds.  No policy means no retry."""

    max_retries: int = 3
    backoff: str = "exponential"
    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 60.0
    delay: float = 1.0

    def to_json(self) -> dict:
        S.check_int(self.max_retries, "max_retries", 0, 1_000_000)
        if self.backoff not in BACKOFF_TYPES:
            raise ArgumentError(f"backoff must be one of {BACKOFF_TYPES}, got {self.backoff!r}")
        if self.backoff == "fixed":
            bo = {"type": "fixed", "delay_ms": S.seconds_to_ms(self.delay, "delay", allow_none=False)}
        else:
            if not isinstance(self.multiplier, (int, float)) or isinstance(self.multiplier, bool) \
                    or not self.multiplier >= 1:
                raise ArgumentError(f"multiplier must be a number >= 1, got {self.multiplier!r}")
            bo = {"type": "exponential",
                  "initial_delay_ms": S.seconds_to_ms(self.initial_delay, "initial_delay", allow_none=False),
                  "multiplier": self.multiplier,
                  "max_delay_ms": S.seconds_to_ms(self.max_delay, "max_delay", allow_none=False)}
        return {"max_retries": self.max_retries, "backoff": bo}


def _retry_json(retry: Any) -> Optional[dict]:
    if retry is None:
        return None
    if isinstance(retry, RetryPolicy):
        return retry.to_json()
    if isinstance(retry, int) and not isinstance(retry, bool):
        return RetryPolicy(max_retries=retry).to_json()
    if isinstance(retry, Mapping):
        return dict(retry)
    raise ArgumentError("retry must be a RetryPolicy, an int (max retries) or a dict")


class Enqueued(str):
    """The execution id (a str) with what the engine said about it."""

    duplicate: bool
    public_state: Optional[str]

    def __new__(cls, execution_id: str, duplicate: bool = False, public_state: Optional[str] = None):
        s = super().__new__(cls, execution_id)
        s.duplicate = duplicate
        s.public_state = public_state
        return s


@dataclass(frozen=True)
class Waitpoint:
    """What a signaller needs: the execution, the waitpoint and its token (a
    bearer credential: hand it only to whoever may resume the execution)."""

    execution_id: str
    waitpoint_id: str
    token: str
    key: str = ""

    def to_json(self) -> str:
        return json.dumps({"execution_id": self.execution_id, "waitpoint_id": self.waitpoint_id,
                           "token": self.token, "key": self.key})

    @classmethod
    def from_json(cls, text: str) -> "Waitpoint":
        d = json.loads(text)
        return cls(d["execution_id"], d["waitpoint_id"], d["token"], d.get("key", ""))


@dataclass(frozen=True)
class Result:
    """A terminal execution: its outcome and result bytes."""

    execution_id: str
    outcome: str
    payload: Optional[bytes]
    info: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def json(self) -> Any:
        return S.decode_json(self.payload)

    def text(self) -> Optional[str]:
        return None if self.payload is None else self.payload.decode("utf-8")


class Client:
    """Submits and reads executions on the caller's connection.

    ``Client(namespace="default", lane="default")`` only holds defaults;
    it keeps no connection and is safe to share between threads.
    """

    def __init__(self, namespace: str = "default", lane: str = "default"):
        self.namespace = S.check_str(namespace, "namespace", min_bytes=1)
        self.lane = S.check_lane(lane)

    # ---- submitting ----

    def _options(self, kind, lane, namespace, priority, delay, run_at, retry, capabilities,
                 tags, deadline, policy, idempotency_key):
        S.check_str(kind, "kind", max_bytes=256)
        lane = S.check_lane(self.lane if lane is None else lane)
        namespace = S.check_str(self.namespace if namespace is None else namespace, "namespace", min_bytes=1)
        S.check_int(priority, "priority", 0, 9000)
        delay_ms = S.seconds_to_ms(delay, "delay")
        run_at_ms = S.datetime_to_ms(run_at, "run_at")
        if delay_ms is not None and run_at_ms is not None:
            raise ArgumentError("give delay or run_at, not both")
        pol: Dict[str, Any] = {}
        if policy is not None:
            if not isinstance(policy, Mapping):
                raise ArgumentError("policy must be a dict")
            pol.update(policy)
        rj = _retry_json(retry)
        if rj is not None:
            pol["retry_policy"] = rj
        caps = S.check_tokens(capabilities, "capabilities")
        if caps:
            pol["routing_requirements"] = {"required_capabilities": caps}
        if tags is not None:
            if not isinstance(tags, Mapping) or not all(isinstance(k, str) for k in tags):
                raise ArgumentError("tags must be a dict with str keys")
            tags = json.dumps({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in tags.items()})
        # a datetime is absolute; seconds are from now on the engine clock,
        # passed negated so that the SQL can tell the two apart
        if deadline is None or isinstance(deadline, _dt.datetime):
            deadline_ms = S.datetime_to_ms(deadline, "deadline")
        else:
            deadline_ms = -S.seconds_to_ms(deadline, "deadline", positive=True)
        S.check_str(idempotency_key, "idempotency_key", min_bytes=1, max_bytes=256, allow_none=True)
        return dict(kind=kind, lane=lane, ns=namespace, priority=priority, delay_ms=delay_ms,
                    run_at=run_at_ms, policy=json.dumps(pol) if pol else None, tags=tags,
                    deadline=deadline_ms, idem=idempotency_key)

    # one create_execution call; {id}, {payload} and {idem} are filled by
    # enqueue (one row) and enqueue_many (a row per payload)
    _CREATE = """
        SELECT ff.create_execution({id}, namespace => %(ns)s, lane_id => %(lane)s,
            execution_kind => %(kind)s, priority => %(priority)s, creator_identity => 'ff_engine.py',
            policy_json => %(policy)s, input_payload => {payload},
            delay_until => COALESCE(%(run_at)s::bigint, ff.now_ms() + %(delay_ms)s::bigint),
            idempotency_key => {idem}, tags => %(tags)s::jsonb,
            execution_deadline_at => CASE WHEN %(deadline)s::bigint < 0
                                          THEN ff.now_ms() - %(deadline)s::bigint ELSE %(deadline)s::bigint END)
    """
    _ONE = _CREATE.format(id="i.id", payload="%(payload)s", idem="%(idem)s") + """
        FROM (SELECT COALESCE(%(given_id)s, CASE WHEN %(flow)s::uuid IS NULL THEN ff.execution_id(%(lane)s)
                                                 ELSE ff.flow_member_execution_id(%(flow)s::uuid) END) AS id) i"""
    _MANY = _CREATE.format(id="ff.execution_id(%(lane)s)", payload="t.p", idem="t.k") + """
        FROM unnest(%(payloads)s::bytea[], %(keys)s::text[]) WITH ORDINALITY AS t(p, k, n) ORDER BY t.n"""

    def enqueue(self, conn, kind: str, payload: Any = None, *, lane: Optional[str] = None,
                namespace: Optional[str] = None, priority: int = 0, delay: Any = None,
                run_at: Any = None, idempotency_key: Optional[str] = None, retry: Any = None,
                tags: Optional[Mapping[str, Any]] = None, capabilities: Optional[Sequence[str]] = None,
                deadline: Any = None, policy: Optional[Mapping[str, Any]] = None,
                flow: Any = None, execution_id: Optional[str] = None) -> Enqueued:
        """Creates one execution in the caller's transaction; returns its id.

        payload: bytes as is, str as UTF-8, anything else as JSON.  delay:
        seconds or a timedelta (engine clock); run_at: an aware datetime.
        retry: RetryPolicy, max retries (int) or the engine's dict.
        capabilities: what a worker must offer to claim it.  deadline: seconds
        from now or an aware datetime.  flow: a flow id from create_flow; the
        execution is minted in the flow's partition and added to it.  A reused
        idempotency key returns the first execution's id with duplicate=True.
        """
        S.check_conn(conn)
        o = self._options(kind, lane, namespace, priority, delay, run_at, retry, capabilities,
                          tags, deadline, policy, idempotency_key)
        flow = S.check_uuid(flow, "flow", allow_none=True)
        if execution_id is not None:
            S.check_execution_id(execution_id)
        data = S.encode_payload(payload)
        env = S.run_one(conn, self._ONE, dict(o, given_id=execution_id, flow=flow, payload=data))
        raise_for_envelope(env)
        out = Enqueued(env["execution_id"], env.get("status") == "DUPLICATE", env.get("public_state"))
        if flow is not None and not out.duplicate:
            raise_for_envelope(S.run_one(conn, "SELECT ff.add_execution_to_flow(%s, %s)", (flow, str(out))))
        return out

    def enqueue_many(self, conn, kind: str, payloads: Sequence[Any], *, lane: Optional[str] = None,
                     namespace: Optional[str] = None, priority: int = 0, delay: Any = None,
                     run_at: Any = None, idempotency_keys: Optional[Sequence[Optional[str]]] = None,
                     retry: Any = None, tags: Optional[Mapping[str, Any]] = None,
                     capabilities: Optional[Sequence[str]] = None, deadline: Any = None,
                     policy: Optional[Mapping[str, Any]] = None) -> List[Enqueued]:
        """Creates one execution per payload, in one statement of the caller's
        transaction, with shared options; returns the ids in order."""
        S.check_conn(conn)
        if isinstance(payloads, (str, bytes)) or not hasattr(payloads, "__iter__"):
            raise ArgumentError("payloads must be a list")
        payloads = [S.encode_payload(p, f"payloads[{i}]") for i, p in enumerate(payloads)]
        if len(payloads) > 10000:
            raise ArgumentError("at most 10000 executions per enqueue_many")
        if idempotency_keys is not None:
            idempotency_keys = list(idempotency_keys)
            if len(idempotency_keys) != len(payloads):
                raise ArgumentError("idempotency_keys must have one entry per payload")
            for k in idempotency_keys:
                S.check_str(k, "idempotency_keys entry", min_bytes=1, max_bytes=256, allow_none=True)
        o = self._options(kind, lane, namespace, priority, delay, run_at, retry, capabilities,
                          tags, deadline, policy, None)
        if not payloads:
            return []
        rows = S.run(conn, self._MANY, dict(o, payloads=payloads,
                                   keys=idempotency_keys or [None] * len(payloads)))
        out = []
        for (env,) in rows:
            raise_for_envelope(env)
            out.append(Enqueued(env["execution_id"], env.get("status") == "DUPLICATE", env.get("public_state")))
        return out

    # ---- flows ----

    def create_flow(self, conn, flow_id: Any = None, *, kind: str = "",
                    namespace: Optional[str] = None) -> str:
        """Creates a flow; returns its id (a UUID string)."""
        S.check_conn(conn)
        flow_id = S.check_uuid(flow_id, "flow_id", allow_none=True) or str(uuid.uuid4())
        S.check_str(kind, "kind")
        ns = S.check_str(self.namespace if namespace is None else namespace, "namespace", min_bytes=1)
        raise_for_envelope(S.run_one(conn, "SELECT ff.create_flow(%s, %s, %s)", (flow_id, kind, ns)))
        return flow_id

    def add_dependency(self, conn, flow_id: Any, upstream: str, downstream: str, *,
                       data_passing_ref: Optional[str] = None) -> dict:
        """downstream waits for upstream (both members of the flow)."""
        S.check_conn(conn)
        flow_id = S.check_uuid(flow_id, "flow_id")
        S.check_execution_id(upstream, "upstream")
        S.check_execution_id(downstream, "downstream")
        S.check_str(data_passing_ref, "data_passing_ref", allow_none=True)
        return dict(raise_for_envelope(S.run_one(
            conn, "SELECT ff.add_dependency(%s, %s, %s, data_passing_ref => %s)",
            (flow_id, upstream, downstream, data_passing_ref))))

    def cancel_flow(self, conn, flow_id: Any, reason: str = "", *, policy: str = "cancel_all",
                    wait: bool = True) -> dict:
        S.check_conn(conn)
        flow_id = S.check_uuid(flow_id, "flow_id")
        S.check_str(reason, "reason", max_bytes=4096)
        if policy not in ("cancel_all", "cancel_pending", "flow_only"):
            raise ArgumentError("policy must be cancel_all, cancel_pending or flow_only")
        if not isinstance(wait, bool):
            raise ArgumentError("wait must be a bool")
        return dict(raise_for_envelope(S.run_one(
            conn, "SELECT ff.cancel_flow(%s, %s, %s, wait => %s)", (flow_id, reason, policy, wait))))

    # ---- operating ----

    def cancel(self, conn, execution_id: str, reason: str = "") -> bool:
        """Cancels an execution; False when it had already ended.  A running
        one needs ff_admin (its worker is told at once)."""
        S.check_conn(conn)
        S.check_execution_id(execution_id)
        S.check_str(reason, "reason", max_bytes=4096)
        env = S.run_one(conn, "SELECT ff.cancel_execution(%s, %s)", (execution_id, reason))
        if not env.get("ok") and env.get("error") == "execution_not_active":
            return False
        raise_for_envelope(env)
        return True

    def deliver_signal(self, conn, waitpoint: Union[Waitpoint, str], name: str, payload: Any = None, *,
                       idempotency_key: Optional[str] = None, source_identity: str = "") -> dict:
        """Delivers a signal to a waitpoint (a Waitpoint or its to_json()).
        Returns {signal_id, effect}; SignalRejected for a bad token, a closed
        waitpoint, ...  A waitpoint not yet suspended on buffers the signal."""
        S.check_conn(conn)
        if isinstance(waitpoint, str):
            try:
                waitpoint = Waitpoint.from_json(waitpoint)
            except (ValueError, KeyError, TypeError):
                raise ArgumentError("waitpoint must be a Waitpoint or its to_json() text") from None
        if not isinstance(waitpoint, Waitpoint):
            raise ArgumentError("waitpoint must be a Waitpoint")
        S.check_execution_id(waitpoint.execution_id, "waitpoint.execution_id")
        S.check_uuid(waitpoint.waitpoint_id, "waitpoint.waitpoint_id")
        S.check_str(waitpoint.token, "waitpoint.token", min_bytes=1)
        S.check_str(name, "name", min_bytes=1)
        if name.startswith("__"):
            raise ArgumentError("signal names starting with __ are reserved")
        S.check_str(idempotency_key, "idempotency_key", min_bytes=1, allow_none=True)
        S.check_str(source_identity, "source_identity")
        data = S.encode_payload(payload)
        args = (waitpoint.execution_id, waitpoint.waitpoint_id, str(uuid.uuid4()), name, waitpoint.token,
                data, "ff_engine.py", source_identity, idempotency_key or "")
        call = "(%s, %s, %s, %s, %s, payload => %s, source_type => %s, source_identity => %s, idempotency_key => %s)"
        env = S.run_one(conn, "SELECT ff.deliver_signal" + call, args)
        if not env.get("ok") and env.get("error") == "waitpoint_pending_use_buffer_script":
            env = S.run_one(conn, "SELECT ff.buffer_signal_for_pending_waitpoint" + call, args)
        if not env.get("ok"):
            if env.get("error") == "execution_not_found":
                raise NotFound("execution_not_found", env)
            raise SignalRejected(str(env.get("error")), env)
        return dict(env)

    # ---- reading ----

    def info(self, conn, execution_id: str) -> dict:
        """The state vector, kind, lane, namespace and timestamps."""
        S.check_conn(conn)
        S.check_execution_id(execution_id)
        return dict(raise_for_envelope(S.run_one(conn, "SELECT ff.read_execution_info(%s)", (execution_id,))))

    def state(self, conn, execution_id: str) -> str:
        """The public state: waiting, delayed, active, completed, failed, ..."""
        S.check_conn(conn)
        S.check_execution_id(execution_id)
        env = S.run_one(conn, "SELECT ff.read_execution_state(%s)", (execution_id,))
        return raise_for_envelope(env)["public_state"]

    def result(self, conn, execution_id: str) -> Optional[bytes]:
        """The stored result bytes (None before completion or when empty)."""
        S.check_conn(conn)
        S.check_execution_id(execution_id)
        r = S.run_one(conn, "SELECT ff.get_execution_result(%s)", (execution_id,))
        return None if r is None else bytes(r)

    def wait_for_result(self, conn, execution_id: str, timeout: float = 30.0, *,
                        poll_interval: float = 2.0, raise_on_failure: bool = True) -> Result:
        """Waits until the execution ends; returns its Result.

        LISTENs on the namespace's completion channel and re-reads the state
        at least every poll_interval seconds (notifications are at most
        once).  Needs a connection outside any transaction (it switches it
        to autocommit while waiting).  WaitTimeout after timeout seconds;
        ExecutionFailed when it ended without success (unless
        raise_on_failure is False).
        """
        S.check_conn(conn)
        S.check_execution_id(execution_id)
        tmo = S.seconds_to_ms(timeout, "timeout", allow_none=False) / 1000.0
        poll = S.seconds_to_ms(poll_interval, "poll_interval", allow_none=False, positive=True) / 1000.0
        if isinstance(conn, psycopg.Cursor):
            conn = conn.connection
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ArgumentError("wait_for_result needs a connection outside a transaction "
                                "(a notification arrives only between transactions): commit first, "
                                "or use autocommit=True with conn.transaction() blocks")
        deadline = time.monotonic() + tmo
        was_autocommit = conn.autocommit
        conn.autocommit = True
        heard: List[str] = []
        handler = lambda n: heard.append(n.payload)  # noqa: E731 - notifications that arrive during a query
        conn.add_notify_handler(handler)
        channel = None
        try:
            info = self.info(conn, execution_id)
            channel = S.run_one(conn, "SELECT ff.completion_channel(%s)", (info["namespace"],))
            S.run(conn, _pgsql.SQL("LISTEN {}").format(_pgsql.Identifier(channel)))
            while True:
                info = self.info(conn, execution_id)
                if info.get("lifecycle_phase") == "terminal":
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"execution {execution_id} not ended within {timeout} s "
                                      f"(public_state {info.get('public_state')})")
                heard.clear()
                S.wait_notifies(conn, min(poll, remaining))
        finally:
            conn.remove_notify_handler(handler)
            if channel is not None and not conn.closed:
                try:
                    S.run(conn, _pgsql.SQL("UNLISTEN {}").format(_pgsql.Identifier(channel)))
                except Exception:   # the connection may be gone; nothing to undo then
                    pass
            if not conn.closed:
                conn.autocommit = was_autocommit
        outcome = info.get("terminal_outcome") or "unknown"
        res = Result(execution_id, outcome, self.result(conn, execution_id) if outcome == "success" else None, info)
        if outcome != "success" and raise_on_failure:
            raise ExecutionFailed(execution_id, outcome, info)
        return res
