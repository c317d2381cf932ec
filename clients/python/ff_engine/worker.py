"""The worker runtime: claims executions of its lanes and runs the handler
registered for each execution's kind, with a concurrency limit.

Concurrency model: threads.  ``concurrency`` handler threads (slots), each
with its own connection.  No thread of its own claims: one idle slot at a
time leads (leader/followers) -- it LISTENs on the lanes' channels on the
claim connection, waits there for a notification (or the poll interval),
claims for every free slot, hands the other claimed jobs to the idle slots,
passes the lead on and runs the first job itself, so a notification starts
a handler with no thread hop in between.  One listener connection per worker
(LISTEN on the namespaces' lease channels: leases lost, told at once); one
renewal connection; one completer thread and connection (completions of all
slots, batched).  Handlers are plain functions; they block freely (I/O,
psycopg, requests) without stalling the others.  A CPU-bound handler holds
the GIL: run several worker processes for those.

Life of a job: claimed in a batch of up to the free slots plus ``prefetch``
(``claim_next``, ``reclaim => true`` by default, so leases of dead workers
are taken over; "auto" claims ahead only for short handlers) ->
the handler runs with a ``Job`` -> its return value completes the execution,
an exception fails it (``Permanent`` for no retry), ``job.delay`` parks it,
``job.wait_for_signal`` suspends it.  The lease is renewed every third of
its TTL; when it is lost (expired, revoked, reclaimed) or the execution is
cancelled or ended by someone else, ``job.cancelled`` is set at once and the
handler should stop: its writes are refused by the fence anyway.

Shutdown (SIGTERM / SIGINT under ``run()``, or ``stop()``): stop claiming,
let running handlers finish within ``shutdown_timeout``, then hand the
unfinished executions back with ``delay_execution(now)`` under their lease:
the attempt is parked and resumes (same attempt, ``attempt_type`` "resumed")
as soon as the engine's delayed scanner promotes it (<= 750 ms by default),
which also wakes the lane's workers.  That needs no privilege beyond
ff_worker and costs no retry; a revoke needs ff_admin, and a failure would
spend a retry.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import signal
import socket
import threading
import time
import traceback
import uuid
from collections import Counter
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import psycopg
from psycopg import sql as _pgsql

from . import _sql as S
from .client import Waitpoint
from .errors import ArgumentError, FFError, LeaseLost, SQLError, raise_for_envelope

log = logging.getLogger("ff_engine.worker")

# prefetch "auto": claim ahead as many executions as the slots are expected
# to start within AUTO_WAIT (from the handlers' mean duration), at most
# AUTO_MAX; none until a handler has run
AUTO_WAIT = 0.05
AUTO_MAX = 500

EVENTS = ("claimed", "started", "completed", "failed", "retry_scheduled", "refused", "lease_lost",
          "handed_back", "suspended", "delayed", "error")


class Permanent(Exception):
    """Raise it (or subclass it) from a handler: the execution fails without a retry."""

    category = "permanent"


class Retryable(Exception):
    """Raise it to fail with a retry (what any other exception does), with a
    category of your own: ``raise Retryable("smtp 421", category="transient")``."""

    def __init__(self, message: str = "", category: str = "retryable"):
        super().__init__(message)
        self.category = category


class _Parked(BaseException):
    """Ends a handler run that parked its execution (delay, suspend).  A
    BaseException, so that a handler's ``except Exception`` lets it pass."""

    def __init__(self, how: str, detail: Any = None):
        super().__init__(how)
        self.how = how
        self.detail = detail


class Signal:
    """A signal that resumed the execution."""

    def __init__(self, row: tuple):
        (self.signal_id, self.name, self.category, self.source_type, self.source_identity,
         self.correlation_id, self.accepted_at, payload) = row
        self.payload = None if payload is None else bytes(payload)

    def json(self) -> Any:
        return S.decode_json(self.payload)

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, {self.payload!r})"


# the claim's fields as columns: the server extracts them cheaper than it
# writes the whole envelope out as text, and no JSON is parsed per job
CLAIM_SQL = ("SELECT t.claim->>'execution_id', t.claim->>'lease_id', (t.claim->>'lease_epoch')::bigint, "
             "t.claim->>'attempt_id', t.claim->>'execution_kind', t.claim->>'namespace', "
             "(t.claim->>'attempt_index')::int, t.claim->>'attempt_type', t.input_payload "
             "FROM ff.claim_next(%s, %s, %s, %s, %s, %s, %s, %s) AS t")
# a batch all of whose items completed answers its count alone; only
# otherwise the envelope, with each item's outcome, travels and is parsed
COMPLETE_MANY_SQL = ("SELECT CASE WHEN t.r->>'succeeded' = t.r->>'count' THEN (t.r->>'count')::int END, "
                     "CASE WHEN t.r->>'succeeded' IS DISTINCT FROM t.r->>'count' THEN t.r END "
                     "FROM ff.complete_executions(%s::text[], %s::uuid[], %s::bigint[], %s::uuid[], %s::bytea[]) AS t(r)")
_COMPLETED = {"ok": True}


class Job:
    """One claimed execution, handed to its handler."""

    def __init__(self, worker: "Worker", fence: S.Fence, attempt_type: str, payload: Optional[bytes],
                 kind: str, namespace: str, lane: str):
        self._worker = worker
        self._fence = fence
        self.execution_id: str = self._fence.execution_id
        self.kind = kind
        self.namespace = namespace
        self.lane = lane
        self.payload: Optional[bytes] = payload
        self.attempt_index: int = self._fence.attempt_index
        self.attempt_type: str = attempt_type
        self.lease_epoch: int = self._fence.lease_epoch
        #: set the moment the lease is lost, revoked, the execution cancelled
        #: or ended by someone else, or the worker hands it back at shutdown
        self.cancelled = threading.Event()
        self.cancel_reason: Optional[str] = None
        self._conn: Optional[psycopg.Connection] = None
        self._deadline = 0.0          # monotonic time the lease ends, as far as we know
        self._next_renew = 0.0
        self._finishing = False       # complete / fail / park sent: our own completion is not a loss
        self._hints = 0               # announcements of its loss heard: a renewal sent before one cannot clear it
        self._tags: Optional[dict] = None

    def __repr__(self) -> str:
        return f"Job({self.kind!r}, {self.execution_id}, attempt {self.attempt_index})"

    # ---- the input ----

    def json(self) -> Any:
        """The payload decoded as JSON (the client encodes non-bytes as JSON)."""
        return S.decode_json(self.payload)

    def text(self) -> Optional[str]:
        return None if self.payload is None else self.payload.decode("utf-8")

    @property
    def tags(self) -> dict:
        if self._tags is None:
            row = S.run(self._conn, "SELECT tags FROM ff.read_execution_context(%s)", (self.execution_id,))
            self._tags = (row[0][0] if row else None) or {}
        return self._tags

    # ---- cancellation ----

    def check(self) -> None:
        """Raises LeaseLost when the handler should stop."""
        if self.cancelled.is_set():
            raise LeaseLost(self.cancel_reason or "lease_lost", {"ok": False, "error": self.cancel_reason})

    def _lose(self, reason: str) -> bool:
        if self.cancelled.is_set() or self._finishing:
            return False
        self.cancel_reason = reason
        self.cancelled.set()
        return True

    def _refused(self, env: dict) -> dict:
        if not env.get("ok"):
            code = str(env.get("error"))
            if code in ("stale_lease", "lease_expired", "lease_revoked", "execution_not_active",
                        "stale_owner_cannot_append"):
                self._lose(code)
            raise_for_envelope(env)
        return env

    # ---- helpers under the lease ----

    def progress(self, pct: Optional[int] = None, message: Optional[str] = None) -> None:
        """Records progress (0..100 and/or a message) on the execution."""
        S.check_int(pct, "pct", 0, 100, allow_none=True)
        S.check_str(message, "message", max_bytes=4096, allow_none=True)
        self._refused(self._fence.progress(self._conn, pct, message))

    def frame(self, data: Any, frame_type: str = "output", *, mode: str = "durable",
              ttl: Any = None) -> str:
        """Appends a frame to the attempt's output stream (readers tail it
        live): bytes, str, or JSON; mode durable, summary (a JSON merge patch
        of the summary document) or best_effort.  Returns the entry id."""
        if mode not in ("durable", "summary", "best_effort"):
            raise ArgumentError("mode must be durable, summary or best_effort")
        S.check_str(frame_type, "frame_type", min_bytes=1)
        ttl_ms = S.seconds_to_ms(ttl, "ttl") or 0
        if mode == "best_effort" and ttl_ms <= 0:
            raise ArgumentError("a best_effort frame needs a ttl")
        enc = "utf8" if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)) else "binary"
        env = self._refused(self._fence.append_frame(self._conn, frame_type, S.encode_payload(data, "data"),
                                                     mode, enc, ttl_ms))
        return env.get("entry_id")

    def delay(self, seconds: Any) -> None:
        """Parks the execution for seconds (or a timedelta) and ends this
        handler run; the same attempt runs the handler again afterwards
        (attempt_type "resumed").  Does not return."""
        ms = S.seconds_to_ms(seconds, "seconds", allow_none=False)
        self._finishing = True
        try:
            self._refused(self._fence.delay(self._conn, delay_ms=ms))
        except BaseException:
            self._finishing = False
            raise
        raise _Parked("delayed", ms)

    def signals(self) -> List[Signal]:
        """The signals that resumed this attempt's last suspension."""
        rows = S.run(self._conn, "SELECT * FROM ff.observe_signals(%s, %s)",
                     (self.execution_id, self.attempt_index))
        return [Signal(r) for r in rows]

    def wait_for_signal(self, name: Optional[str] = None, *, timeout: Any = None,
                        on_timeout: str = "fail",
                        on_waitpoint: Optional[Callable[[Waitpoint], Any]] = None) -> Signal:
        """Returns the signal named ``name`` (any signal when None) that
        resumed this attempt; otherwise suspends the execution on a new
        waitpoint and ends this handler run (the lease is released; nothing
        runs while it waits).  ``on_waitpoint(wp)`` is called once the
        suspension is committed: hand ``wp`` (or ``wp.to_json()``) to whoever
        will call ``Client.deliver_signal``.  When the signal comes, a worker
        runs the handler again for the same attempt and this call returns it.
        ``timeout`` (seconds) with ``on_timeout`` fail / cancel / expire /
        auto_resume bounds the wait.  Write the handler so that what comes
        before the call can run twice."""
        S.check_str(name, "name", min_bytes=1, allow_none=True)
        to_ms = S.seconds_to_ms(timeout, "timeout", positive=True)
        if on_timeout not in ("fail", "cancel", "expire", "auto_resume", "auto_resume_with_timeout_signal",
                              "escalate"):
            raise ArgumentError("on_timeout must be fail, cancel, expire, auto_resume, "
                                "auto_resume_with_timeout_signal or escalate")
        if on_waitpoint is not None and not callable(on_waitpoint):
            raise ArgumentError("on_waitpoint must be callable")
        for sig in self.signals():
            if name is None or sig.name == name:
                return sig
        wp_id = str(uuid.uuid4())
        key = name or "any"
        cond = {"required_signal_names": [name] if name else []}
        self._finishing = True
        try:
            env = self._refused(self._fence.suspend(self._conn, wp_id, key, cond, to_ms, on_timeout))
        except BaseException:
            self._finishing = False
            raise
        wp = Waitpoint(self.execution_id, env.get("waitpoint_id", wp_id), env["waitpoint_token"], key)
        if on_waitpoint is not None:
            on_waitpoint(wp)
        raise _Parked("suspended", wp)


Handler = Callable[[Job], Any]


class Worker:
    """Runs handlers for the executions of one or more lanes.

    ``Worker(conninfo, lanes="emails", concurrency=10)``; register handlers
    with ``@worker.handler("send_invoice")`` (or ``worker.handler("k", fn)``)
    and call ``worker.run()`` (blocks; SIGTERM/SIGINT shut it down
    gracefully) or ``start()`` / ``stop()``.

    conninfo: a libpq connection string (or a callable returning a new
    psycopg connection); the worker opens ``concurrency + 4`` connections.
    lease_ttl: seconds a lease lasts without renewal (renewed every third).
    poll_interval: seconds between claims when no notification comes (also
    how soon a dead worker's lease is taken over: the lane channel does not
    announce lost leases).  reclaim: take over expired or revoked leases.
    capabilities: what this worker offers (executions requiring more are
    left to others).  shutdown_timeout: seconds running handlers get to
    finish at shutdown before their executions are handed back.
    prefetch: executions claimed ahead of free slots, waiting for a slot
    under a renewed lease (fewer, larger claims for short jobs; no other
    worker takes them meanwhile; handed back at shutdown): a number, or
    "auto" (the default) -- as many as the slots start within ~50 ms at the
    handlers' mean duration (none for handlers of a second or more).
    complete_delay: seconds a finished job's completion waits for others
    to be committed with it (one complete_executions, one WAL flush for
    all): 0.005 by default; 0 completes each at once.  Fewer commits leave
    the disk's flushes to the claims, which start the next jobs sooner.
    namespaces: namespaces whose lease channel (``ff.lease_channel``) is
    listened to from the start, ("default",) by default; others as claims
    meet them.  A lost lease announced there is checked by renewing it at
    once, and its handler told when the renewal is refused.
    """

    def __init__(self, conninfo: Union[str, Callable[[], psycopg.Connection]], lanes: Union[str, Sequence[str]] = "default", *,
                 concurrency: int = 10, worker_id: Optional[str] = None, instance_id: Optional[str] = None,
                 lease_ttl: float = 30.0, poll_interval: float = 2.0, reclaim: bool = True,
                 capabilities: Optional[Sequence[str]] = None, shutdown_timeout: float = 30.0,
                 attempt_timeout: Any = None, logger: Optional[logging.Logger] = None,
                 renew: bool = True, prefetch: Union[str, int] = "auto", complete_delay: float = 0.005,
                 namespaces: Sequence[str] = ("default",)):
        if not (isinstance(conninfo, str) or callable(conninfo)):
            raise ArgumentError("conninfo must be a connection string or a callable returning a connection")
        self._conninfo = conninfo
        lanes = [lanes] if isinstance(lanes, str) else list(lanes)
        if not lanes:
            raise ArgumentError("lanes must name at least one lane")
        self.lanes = [S.check_lane(l, "lanes entry") for l in lanes]
        self.concurrency = S.check_int(concurrency, "concurrency", 1, 1000)
        self.worker_id = S.check_str(worker_id or "ff-py", "worker_id", min_bytes=1, no_space=True)
        self.instance_id = S.check_str(instance_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
                                       "instance_id", min_bytes=1, no_space=True)
        self.lease_ttl_ms = S.seconds_to_ms(lease_ttl, "lease_ttl", allow_none=False, positive=True)
        if self.lease_ttl_ms < 300:
            raise ArgumentError("lease_ttl must be at least 0.3 s")
        self.poll_interval = S.seconds_to_ms(poll_interval, "poll_interval", allow_none=False, positive=True) / 1000
        if not isinstance(reclaim, bool):
            raise ArgumentError("reclaim must be a bool")
        self.reclaim = reclaim
        self.capabilities = S.check_tokens(capabilities, "capabilities")
        self.shutdown_timeout = S.seconds_to_ms(shutdown_timeout, "shutdown_timeout", allow_none=False) / 1000
        self.attempt_timeout_ms = S.seconds_to_ms(attempt_timeout, "attempt_timeout", positive=True)
        self.log = logger or log
        self._prefetch_auto = prefetch == "auto"
        if not self._prefetch_auto and (isinstance(prefetch, bool) or not isinstance(prefetch, int)
                                        or not 0 <= prefetch <= 10000):
            raise ArgumentError(f"prefetch must be 'auto' or an int between 0 and 10000, got {prefetch!r}")
        self.prefetch = 0 if self._prefetch_auto else prefetch
        if isinstance(complete_delay, bool) or not isinstance(complete_delay, (int, float)) \
                or not 0 <= complete_delay <= 1:
            raise ArgumentError(f"complete_delay must be a number of seconds between 0 and 1, got {complete_delay!r}")
        self.complete_delay = float(complete_delay)
        if isinstance(namespaces, str):
            raise ArgumentError("namespaces must be a sequence of namespace names, not one string")
        self.namespaces = [S.check_str(n, "namespaces entry", min_bytes=1) for n in namespaces]
        self._avg_handler_s: Optional[float] = None
        self._renew_enabled = renew   # off only in tests of lease loss
        self._handlers: Dict[str, Handler] = {}
        self._default: Optional[Handler] = None
        self._hooks: Dict[str, List[Callable[..., Any]]] = {e: [] for e in EVENTS}
        self.counters: Counter = Counter()
        self._lock = threading.Lock()
        self._running: Dict[str, Job] = {}     # claimed, until the finishing call returns
        self._busy = 0                          # claimed and not through the handler: the slots in use
        self._done: "queue.Queue[Optional[tuple]]" = queue.Queue()   # (job, result bytes, t0) to complete
        # claimed jobs waiting for an idle slot; the lead (claiming) goes to
        # one idle slot at a time
        self._slot_cv = threading.Condition(threading.Lock())
        self._ready: "collections.deque[Job]" = collections.deque()
        self._leader = False
        self._slots_exit = False
        self._poked = False            # the leader should claim now (a slot freed after a full claim, stop)
        self._leader_waiting = False   # the leader sleeps in select(): poking it takes a byte on the socket
        self._lane_heard = False       # a lane notification came while a claim was running
        self._claim_wake_r, self._claim_wake_w = socket.socketpair()
        self._claim_wake_r.setblocking(False)
        self._claim_wake_w.setblocking(False)
        self._stop_claiming = threading.Event()
        self._stopped = threading.Event()
        self._stop_requested = threading.Event()
        self._saturated = False
        self._threads: List[threading.Thread] = []
        self._conns: List[psycopg.Connection] = []
        self._local = threading.local()
        self._listen_cmds: "queue.Queue[str]" = queue.Queue()
        self._listen_wake_r, self._listen_wake_w = socket.socketpair()
        # the namespaces whose lease channel is listened to: those given, then
        # each one a claim meets
        self._namespaces_heard: set = set(self.namespaces)
        self._listening = threading.Event()   # the listener has subscribed (or given up for now)
        self._started = False

    # ---- registration and hooks ----

    def handler(self, kind: str, fn: Optional[Handler] = None):
        """Registers fn for executions of this kind ("*" for every kind
        without its own handler); usable as a decorator."""
        S.check_str(kind, "kind", max_bytes=256)

        def register(f: Handler) -> Handler:
            if not callable(f):
                raise ArgumentError("a handler must be callable")
            if kind == "*":
                self._default = f
            else:
                self._handlers[kind] = f
            return f
        return register(fn) if fn is not None else register

    def on(self, event: str, callback: Callable[..., Any]) -> None:
        """callback(event, job, info: dict) after each event of that name
        (one of EVENTS, or "*" for all); called on worker threads: keep it short."""
        if event != "*" and event not in EVENTS:
            raise ArgumentError(f"event must be one of {EVENTS} or '*'")
        for e in (EVENTS if event == "*" else (event,)):
            self._hooks[e].append(callback)

    def stats(self) -> Dict[str, int]:
        """A snapshot of the counters, and how many jobs run now."""
        with self._lock:
            d = dict(self.counters)
            d["running"] = len(self._running)
        return d

    def _emit(self, event: str, job: Optional[Job], level: int = logging.INFO, msg: str = "", **info: Any) -> None:
        with self._lock:
            self.counters[event] += 1
        # the log record's fields only when the logger takes the level (per-job events are debug)
        if self.log.isEnabledFor(level):
            fields = {"ff_event": event, "worker": self.instance_id}
            if job is not None:
                fields.update(execution_id=job.execution_id, kind=job.kind, attempt_index=job.attempt_index,
                              lease_epoch=job.lease_epoch)
            fields.update(info)
            self.log.log(level, "%s %s%s", event, job.execution_id if job else "",
                         (" " + msg) if msg else "", extra={"ff": fields})
        for cb in self._hooks.get(event, ()):
            try:
                cb(event, job, info)
            except Exception:   # a hook must not break the worker
                self.log.exception("hook for %s raised", event)

    # ---- connections ----

    def _connect(self) -> psycopg.Connection:
        if callable(self._conninfo):
            conn = self._conninfo()
            conn.autocommit = True
        else:
            conn = psycopg.connect(self._conninfo, autocommit=True,
                                   application_name=f"ff_engine.py {self.worker_id}")
        with self._lock:
            self._conns.append(conn)
        return conn

    def _slot_conn(self) -> psycopg.Connection:
        c = getattr(self._local, "conn", None)
        if c is None or c.closed or c.broken:
            c = self._local.conn = self._connect()
        return c

    # ---- running ----

    def start(self) -> "Worker":
        """Starts the worker's threads; returns once the listener listens (at most 5 s)."""
        if self._started:
            raise FFError("the worker was already started")
        if not self._handlers and self._default is None:
            raise ArgumentError("register at least one handler before starting")
        self._started = True
        # fail fast on a bad connection string or a missing extension
        conn = self._connect()
        self._lane_channels = [S.run_one(conn, "SELECT ff.lane_channel(%s)", (l,)) for l in self.lanes]
        self._claim_conn = self._listen_lanes(conn)
        self._renew_conn = self._connect()
        for name, target in [("listener", self._listen_loop), ("renewer", self._renew_loop),
                             ("completer", self._complete_loop)] + \
                            [(f"slot-{i}", self._slot_loop) for i in range(self.concurrency)]:
            t = threading.Thread(target=target, name=f"ff-{name}", daemon=True)
            t.start()
            self._threads.append(t)
            if name == "listener":
                # claims wait for the lease channels (a cancel right after the
                # first claim must not slip by), at most 5 s
                self._listening.wait(5.0)
        self.log.info("worker %s started on lanes %s, concurrency %d", self.instance_id, self.lanes,
                      self.concurrency, extra={"ff": {"ff_event": "worker_started", "worker": self.instance_id}})
        return self

    def run(self) -> None:
        """start(), then block until SIGTERM or SIGINT (a second one hands
        running work back at once), then stop()."""
        hits: List[int] = []

        def on_signal(signum, frame):
            # no lock here (no Event.set, no logging): the handler runs on the
            # main thread between two bytecodes, possibly inside the very
            # lock it would wait for, which deadlocks the process
            hits.append(signum)

        class _SecondSignal:
            @staticmethod
            def is_set() -> bool:
                return len(hits) > 1
        old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not hits and not self._stop_requested.is_set():
                time.sleep(0.1)
            if hits:
                self.log.info("signal %d: shutting down", hits[0])
            self.stop(immediate=_SecondSignal)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def stop(self, timeout: Optional[float] = None, immediate: Any = None) -> None:
        """Graceful shutdown: stop claiming, wait up to timeout (default
        shutdown_timeout) seconds for running handlers, hand the rest back,
        close the connections."""
        if self._stopped.is_set():
            return
        self._stop_requested.set()
        self._stop_claiming.set()
        self._poke()
        # claimed and not started (claimed ahead): handed back at once
        with self._slot_cv:
            ahead = list(self._ready)
            self._ready.clear()
        for job in ahead:
            self._hand_back(job)
            with self._lock:
                self._busy -= 1
                if self._running.get(job.execution_id) is job:
                    del self._running[job.execution_id]
        limit = time.monotonic() + (self.shutdown_timeout if timeout is None else timeout)
        while time.monotonic() < limit and not (immediate and immediate.is_set()):
            with self._lock:
                if not self._running:
                    break
            time.sleep(0.02)
        with self._lock:
            left = list(self._running.values())
        for job in left:
            if not job._finishing:      # finishing ones (a completion queued) end on their own
                self._hand_back(job)
        self._done.put(None)            # the completer sends what is queued, then ends
        for t in self._threads:
            if t.name == "ff-completer":
                t.join(10)
        self._stopped.set()
        self._poke()
        with self._slot_cv:
            self._slots_exit = True
            self._slot_cv.notify_all()
            # the leading slot uses the claim connection: let it step down
            # before the connections close
            self._slot_cv.wait_for(lambda: not self._leader, 2.0)
        self._listen_wake_w.send(b"x")
        for t in self._threads:
            if t.name in ("ff-renewer", "ff-listener"):
                t.join(2)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except Exception:
                pass
        self.log.info("worker %s stopped", self.instance_id,
                      extra={"ff": {"ff_event": "worker_stopped", "worker": self.instance_id}})

    def _hand_back(self, job: Job) -> None:
        job._lose("shutdown")
        job._finishing = True
        try:
            env = job._fence.delay(self._renew_conn_safe(), delay_ms=0)
        except SQLError as exc:
            self._emit("error", job, logging.ERROR, f"hand back failed: {exc}")
            return
        if env.get("ok"):
            self._emit("handed_back", job, logging.WARNING, "handler still running at shutdown")
        else:
            self._emit("refused", job, logging.WARNING, f"hand back refused: {env.get('error')}",
                       error=env.get("error"))

    def _renew_conn_safe(self) -> psycopg.Connection:
        if self._renew_conn.closed or self._renew_conn.broken:
            self._renew_conn = self._connect()
        return self._renew_conn

    # ---- claiming (by the leading slot) ----

    def _listen_lanes(self, conn: psycopg.Connection) -> psycopg.Connection:
        """Makes conn the claim connection: it LISTENs on the lanes' channels,
        so the slot that claims is the one a notification wakes."""
        conn.add_notify_handler(self._on_lane_notify)
        for ch in self._lane_channels:
            S.run(conn, _pgsql.SQL("LISTEN {}").format(_pgsql.Identifier(ch)))
        self._poked = True     # something may have been announced before the LISTEN
        return conn

    def _on_lane_notify(self, _n: Any) -> None:
        # a notification that came while a statement ran on the claim
        # connection (psycopg hands it here): claim again afterwards
        self._lane_heard = True

    def _poke(self) -> None:
        """Tells the leader to claim now."""
        self._poked = True
        if self._leader_waiting:
            try:
                self._claim_wake_w.send(b"x")
            except OSError:   # the socket's buffer is full: it is awake anyway
                pass

    def _lead(self) -> Optional[Job]:
        """Run by the leading slot: claims until there is a job for this slot
        (returned; the rest went to the ready queue and the lead to another
        idle slot) or claiming stops (None)."""
        lane_i = 0
        backoff = 0.1
        handed = False     # the lead went with the jobs: never release another slot's lead
        try:
            while not self._stop_claiming.is_set():
                if not (self._saturated or self._poked or self._lane_heard):
                    # the last claim took what there was: sleep until told
                    self._wait_lanes()
                    if self._stop_claiming.is_set():
                        break
                self._poked = self._lane_heard = False
                jobs: List[Job] = []
                try:
                    with self._lock:
                        free = self.concurrency + self.prefetch - self._busy
                    saturated = False
                    for k in range(len(self.lanes)):
                        if free <= 0:
                            break
                        lane = self.lanes[(lane_i + k) % len(self.lanes)]
                        got = self._claim(lane, min(free, 1000))
                        jobs.extend(got)
                        saturated = saturated or len(got) == min(free, 1000)
                        free -= len(got)
                    lane_i += 1
                    self._saturated = saturated or free <= 0
                    backoff = 0.1
                except Exception as exc:   # lost connection, server restart: retry later
                    if jobs:
                        handed = True
                        return self._hand_out(jobs)
                    if self._stop_claiming.is_set():
                        break         # stop() closes the connections
                    self._emit("error", None, logging.ERROR, f"claim failed: {exc}")
                    self._poked = True    # claim again after the backoff
                    self._stop_claiming.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    try:
                        if self._claim_conn.closed or self._claim_conn.broken:
                            self._claim_conn = self._listen_lanes(self._connect())
                    except Exception:
                        pass
                    continue
                if jobs:
                    handed = True
                    return self._hand_out(jobs)
            return None
        finally:
            if not handed:
                with self._slot_cv:
                    self._leader = False
                    self._slot_cv.notify_all()

    def _wait_lanes(self) -> None:
        """The leader's sleep: until a lane notification on the claim
        connection, a poke, or the poll interval."""
        self._leader_waiting = True
        try:
            if self._poked or self._stop_claiming.is_set():
                return
            conn = self._claim_conn
            try:
                notes, other = S.wait_notifies(conn, self.poll_interval, [self._claim_wake_r])
            except Exception:   # a broken connection: the next claim finds out and replaces it
                return
            if other:
                try:
                    self._claim_wake_r.recv(4096)
                except OSError:
                    pass
        finally:
            self._leader_waiting = False

    def _hand_out(self, jobs: List[Job]) -> Job:
        """Keeps the first job for this slot; the others go to idle slots,
        and the lead to one of them."""
        with self._slot_cv:
            self._ready.extend(jobs[1:])
            self._leader = False
            self._slot_cv.notify(len(jobs))
        return jobs[0]

    def _claim(self, lane: str, n: int) -> List[Job]:
        rows = S.run(self._claim_conn, CLAIM_SQL,
                     (lane, self.worker_id, self.instance_id, self.capabilities, self.lease_ttl_ms, n,
                      self.attempt_timeout_ms, self.reclaim))
        if not rows:
            return []
        now = time.monotonic()
        jobs = []
        new_ns = []
        for eid, lease_id, epoch, attempt_id, kind, ns, index, attempt_type, payload in rows:
            # the claim carries what the dispatch needs: kind and namespace
            job = Job(self, S.Fence(eid, lease_id, epoch, attempt_id, index), attempt_type or "initial",
                      None if payload is None else bytes(payload), kind or "", ns or "default", lane)
            job._deadline = now + self.lease_ttl_ms / 1000.0
            job._next_renew = now + self.lease_ttl_ms / 3000.0
            with self._lock:
                # this worker took over its own lost lease (revokes and
                # expiries are announced, reclaims answer at once): the old
                # run is over
                old = self._running.get(job.execution_id)
                if old is not None:
                    old._lose("stale_lease")
                self._running[job.execution_id] = job
                self._busy += 1
                if ns and ns not in self._namespaces_heard:
                    self._namespaces_heard.add(ns)
                    new_ns.append(ns)
            self._emit("claimed", job, logging.DEBUG, attempt_type=job.attempt_type)
            jobs.append(job)
        for ns in new_ns:
            self._listen_cmds.put(ns)
        if new_ns:
            self._listen_wake_w.send(b"x")
        return jobs

    # ---- running handlers ----

    def _slot_loop(self) -> None:
        while True:
            job = None
            with self._slot_cv:
                while True:
                    if self._ready:
                        job = self._ready.popleft()
                        break
                    if self._slots_exit:
                        return
                    if not self._leader and not self._stop_claiming.is_set():
                        self._leader = True
                        break
                    self._slot_cv.wait()
            if job is None:
                job = self._lead()
                if job is None:
                    continue
            self._run_slot(job)

    def _run_slot(self, job: Job) -> None:
        queued = False
        try:
            if job.cancelled.is_set():
                # lost or handed back before a slot took it: never start it
                self._emit("lease_lost", job, logging.INFO, "not started", reason=job.cancel_reason)
            else:
                queued = self._run_job(job)
        except Exception:
            self._emit("error", job, logging.ERROR, "worker error: " + traceback.format_exc())
        finally:
            # the slot is free once the handler is through; a completion
            # queued for the completer keeps the job (and its renewal)
            # until that call returns
            with self._lock:
                self._busy -= 1
                if not queued and self._running.get(job.execution_id) is job:
                    del self._running[job.execution_id]
            if self._saturated:
                self._poke()

    def _run_job(self, job: Job) -> bool:
        """Runs the handler; True when its completion was queued for the completer."""
        try:
            job._conn = self._slot_conn()
        except Exception as exc:
            self._emit("error", job, logging.ERROR, f"no connection: {exc}")
            return False   # the lease expires and the job is reclaimed
        fn = self._handlers.get(job.kind, self._default)
        self._emit("started", job, logging.DEBUG, attempt_type=job.attempt_type)
        t0 = time.monotonic()
        if fn is None:
            self._finish_fail(job, Permanent(f"no handler for kind {job.kind!r}"), t0)
            return False
        try:
            try:
                result = fn(job)
            finally:
                if self._prefetch_auto:
                    # the mean handler duration sets how far ahead to claim
                    d = time.monotonic() - t0
                    a = self._avg_handler_s = d if self._avg_handler_s is None else self._avg_handler_s * 0.9 + d * 0.1
                    self.prefetch = min(AUTO_MAX, int(self.concurrency * AUTO_WAIT / max(a, 1e-6)))
        except _Parked as p:
            self._emit(p.how, job, logging.INFO, duration_ms=int((time.monotonic() - t0) * 1000))
            return False
        except Exception as exc:
            self._finish_fail(job, exc, t0)
            return False
        try:
            data = S.encode_payload(result, "the handler's return value")
        except ArgumentError as exc:
            self._finish_fail(job, Permanent(str(exc)), t0)
            return False
        job._finishing = True
        self._done.put((job, data, t0))
        return True

    # ---- completing (batched) ----

    def _complete_loop(self) -> None:
        """Completions of every slot go through here: what finished while the
        previous call was in flight goes in one complete_executions (each
        item its own outcome, reported per job as a single complete's)."""
        conn = None
        while True:
            item = self._done.get()
            if item is None:
                return
            batch = [item]
            end = False
            # completions that piled up while the previous call ran have
            # waited already: they go at once
            deadline = time.monotonic() + (self.complete_delay if self._done.empty() else 0)
            while len(batch) < 1000:
                try:
                    wait = deadline - time.monotonic()
                    more = self._done.get(timeout=wait) if wait > 0 else self._done.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    end = True
                    break
                batch.append(more)
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = self._connect()
                self._complete_batch(conn, batch)
            except Exception as exc:   # no connection: the leases expire and the jobs are reclaimed
                for job, _, _ in batch:
                    self._emit("error", job, logging.ERROR, f"complete failed: {exc}")
            finally:
                with self._lock:
                    for job, _, _ in batch:
                        if self._running.get(job.execution_id) is job:
                            del self._running[job.execution_id]
            if end:
                return

    def _complete_batch(self, conn: psycopg.Connection, batch: List[tuple]) -> None:
        if len(batch) > 1:
            fences = [job._fence for job, _, _ in batch]
            try:
                row = S.run(conn, COMPLETE_MANY_SQL,
                            ([f.execution_id for f in fences], [f.lease_id for f in fences],
                             [f.lease_epoch for f in fences], [f.attempt_id for f in fences],
                             [data for _, data, _ in batch]))[0]
            except SQLError as exc:
                # the statement failed as a whole (one result over
                # ff_engine.max_payload_bytes, say): each item again alone,
                # so that every job gets the outcome a single complete gives
                self.log.debug("batched complete failed (%s), completing one by one", exc)
            else:
                all_ok, env = row
                if all_ok == len(batch):
                    for job, _, t0 in batch:
                        self._completed(job, _COMPLETED, t0)
                    return
                results = env.get("results") if isinstance(env, dict) else None
                if isinstance(results, list) and len(results) == len(batch):
                    for (job, _, t0), r in zip(batch, results):
                        self._completed(job, r, t0)
                    return
                # an answer without one outcome per item: each item alone
                self.log.debug("batched complete answered %r, completing one by one", env)
        for job, data, t0 in batch:
            try:
                self._completed(job, job._fence.complete(conn, data), t0)
            except SQLError as exc:
                if (exc.sqlstate or "")[:2] in ("54", "22"):
                    # a result the engine refuses to store would be refused
                    # again after a reclaim: the execution fails for good
                    self._finish_fail(job, Permanent(f"result refused: {exc}"), t0, conn)
                else:
                    raise

    def _completed(self, job: Job, env: dict, t0: float) -> None:
        ms = int((time.monotonic() - t0) * 1000)
        if env.get("ok"):
            self._emit("completed", job, logging.INFO, duration_ms=ms)
        else:
            self._emit("refused", job, logging.WARNING, f"complete refused: {env.get('error')}",
                       error=env.get("error"), duration_ms=ms)

    def _finish_fail(self, job: Job, exc: BaseException, t0: float,
                     conn: Optional[psycopg.Connection] = None) -> None:
        category = getattr(exc, "category", None)
        if not isinstance(category, str) or not category:
            category = "retryable"
        permanent = isinstance(exc, Permanent) or category == "permanent"
        reason = f"{type(exc).__name__}: {exc}"[:4096]
        ms = int((time.monotonic() - t0) * 1000)
        job._finishing = True
        if job.cancelled.is_set() and job.cancel_reason != "shutdown":
            self.log.info("handler of %s raised after losing its lease (%s): %s", job.execution_id,
                          job.cancel_reason, reason)
        # one fail_execution: the engine never retries category "permanent"
        env = job._fence.fail(conn or job._conn, reason, "permanent" if permanent else category)
        if not env.get("ok"):
            self._emit("refused", job, logging.WARNING, f"fail refused: {env.get('error')}",
                       error=env.get("error"), reason=reason)
        elif env.get("result") == "retry_scheduled":
            self._emit("retry_scheduled", job, logging.WARNING, reason, reason=reason,
                       delay_until=env.get("delay_until"), duration_ms=ms)
        else:
            self._emit("failed", job, logging.ERROR, reason, reason=reason, category=category,
                       permanent=permanent, duration_ms=ms)

    # ---- lease renewal ----

    def _renew_loop(self) -> None:
        while not self._stopped.is_set():
            now = time.monotonic()
            with self._lock:
                jobs = list(self._running.values())
            next_due = now + 0.25
            for job in jobs:
                if job._finishing or job.cancelled.is_set():
                    continue
                if now >= job._deadline:
                    if job._lose("lease_expired"):
                        self._emit("lease_lost", job, logging.WARNING, "lease expired before renewal",
                                   reason="lease_expired")
                    continue
                if self._renew_enabled and now >= job._next_renew:
                    self._renew(job)
                next_due = min(next_due, job._deadline,
                               job._next_renew if self._renew_enabled else next_due)
            self._stopped.wait(max(0.005, next_due - time.monotonic()))

    def _renew(self, job: Job) -> None:
        sent = time.monotonic()
        hints = job._hints
        try:
            env = job._fence.renew(self._renew_conn_safe(), self.lease_ttl_ms)
        except Exception as exc:   # retried at the next tick until the local deadline passes
            self.log.warning("renewal of %s failed: %s", job.execution_id, exc)
            job._next_renew = time.monotonic() + 0.2
            return
        if env.get("ok"):
            job._deadline = sent + self.lease_ttl_ms / 1000.0
            # an announcement heard meanwhile is checked by the next round
            job._next_renew = sent + self.lease_ttl_ms / 3000.0 if job._hints == hints else 0.0
        else:
            reason = str(env.get("error"))
            if reason == "execution_not_active" and env.get("terminal_outcome") == "cancelled":
                reason = "cancelled"
            if job._lose(reason):
                self._emit("lease_lost", job, logging.WARNING, f"renewal refused: {reason}", reason=reason)

    # ---- notifications ----

    def _listen_loop(self) -> None:
        conn = None
        channels: set = set()             # the lease channels listened to
        while not self._stopped.is_set():
            try:
                if conn is None:
                    conn = self._connect()
                    heard: List[tuple] = []
                    conn.add_notify_handler(lambda n: heard.append((n.channel, n.payload)))
                    # a new connection listens to nothing yet: every namespace again
                    channels.clear()
                    with self._lock:
                        nss = list(self._namespaces_heard)
                    for ns in nss:
                        self._listen_cmds.put(ns)
                while True:
                    try:
                        ns = self._listen_cmds.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        ch = S.run_one(conn, "SELECT ff.lease_channel(%s)", (ns,))
                    except SQLError as exc:   # a namespace this role may not read: lost leases seen at renewal
                        self.log.debug("no lease channel for %s: %s", ns, exc)
                        continue
                    if ch not in channels:
                        channels.add(ch)
                        S.run(conn, _pgsql.SQL("LISTEN {}").format(_pgsql.Identifier(ch)))
                self._listening.set()
                notes, other = S.wait_notifies(conn, 5.0, [self._listen_wake_r])
                if other:
                    try:
                        self._listen_wake_r.recv(4096)
                    except OSError:
                        pass
                notes = heard + notes
                heard.clear()
                for ch, payload in notes:
                    if ch in channels:
                        self._on_lease_lost(payload)
            except Exception as exc:
                self._listening.set()   # start() waits no longer: renewal covers until it is back
                if self._stopped.is_set():
                    break
                self.log.warning("listener connection failed (%s); polling until it is back", exc)
                try:
                    if conn is not None:
                        conn.close()
                except Exception:
                    pass
                conn = None
                self._stopped.wait(1.0)

    def _on_lease_lost(self, payload: str) -> None:
        # {execution_id, lease_epoch, reason}: only the lease this worker
        # holds, not an older one it has reclaimed since; anything else on
        # the channel (any role may NOTIFY there) is passed over
        try:
            ev = json.loads(payload)
        except (ValueError, RecursionError):   # a payload nested past Python's recursion limit too
            return
        if not isinstance(ev, dict) or not isinstance(ev.get("execution_id"), str):
            return
        with self._lock:
            job = self._running.get(ev["execution_id"])
        epoch = ev.get("lease_epoch")
        if job is not None and type(epoch) is int and job._fence.lease_epoch == epoch:
            # a hint, checked by renewing that lease at once (the renewer
            # looks every 0.25 s): its refusal loses the lease.  Any role
            # that may read the namespace may NOTIFY on its channel.
            job._hints += 1
            job._next_renew = 0.0
