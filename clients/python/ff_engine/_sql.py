"""Everything that touches SQL: running a statement on the caller's
connection or cursor with errors translated, argument checks, payload
encoding, waiting for notifications, and the lease fence (the one place
that knows the argument orders of the lease-bound functions)."""

from __future__ import annotations

import datetime as _dt
import json
import math
import select
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import psycopg

from .errors import ArgumentError, sql_error_from

# ---- running statements ----------------------------------------------------


def check_conn(conn: Any, what: str = "conn") -> None:
    if not isinstance(conn, (psycopg.Connection, psycopg.Cursor)):
        raise ArgumentError(f"{what} must be a psycopg Connection or Cursor, got {type(conn).__name__}")


def run(conn: Any, sql: str, params: Any = None) -> List[tuple]:
    """Runs one statement on a psycopg Connection or Cursor (inside whatever
    transaction it is in) and returns its rows; SQL errors become SQLError."""
    try:
        if isinstance(conn, psycopg.Cursor):
            conn.execute(sql, params)
            return conn.fetchall() if conn.description else []
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        raise sql_error_from(exc) from None


def run_one(conn: Any, sql: str, params: Any = None) -> Any:
    rows = run(conn, sql, params)
    return rows[0][0] if rows else None


# ---- argument checks (before anything is sent) ------------------------------


def check_str(value: Any, name: str, *, min_bytes: int = 0, max_bytes: int = 256,
              no_space: bool = False, allow_none: bool = False) -> Optional[str]:
    if value is None:
        if allow_none:
            return None
        raise ArgumentError(f"{name} is required")
    if not isinstance(value, str):
        raise ArgumentError(f"{name} must be a str, got {type(value).__name__}")
    n = len(value.encode("utf-8"))
    if n < min_bytes or n > max_bytes:
        raise ArgumentError(f"{name} must be {min_bytes} to {max_bytes} bytes long, got {n}")
    if "\x00" in value:
        raise ArgumentError(f"{name} must not contain NUL")
    if no_space and any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise ArgumentError(f"{name} must not contain whitespace or control characters")
    return value


def check_lane(lane: Any, name: str = "lane") -> str:
    check_str(lane, name, min_bytes=1, max_bytes=64)
    if any(not (0x20 <= ord(c) <= 0x7E) for c in lane):
        raise ArgumentError(f"{name} must be printable ASCII")
    return lane


def check_int(value: Any, name: str, lo: Optional[int] = None, hi: Optional[int] = None,
              allow_none: bool = False) -> Optional[int]:
    if value is None:
        if allow_none:
            return None
        raise ArgumentError(f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{name} must be an int, got {type(value).__name__}")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ArgumentError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def seconds_to_ms(value: Any, name: str, *, allow_none: bool = True, positive: bool = False) -> Optional[int]:
    """A duration given as seconds (int/float) or a timedelta, in ms."""
    if value is None:
        if allow_none:
            return None
        raise ArgumentError(f"{name} is required")
    if isinstance(value, _dt.timedelta):
        secs = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = float(value)
    else:
        raise ArgumentError(f"{name} must be seconds (int or float) or a timedelta, got {type(value).__name__}")
    if math.isnan(secs) or math.isinf(secs) or secs < 0 or (positive and secs <= 0):
        raise ArgumentError(f"{name} must be {'positive' if positive else 'non-negative'} and finite, got {value!r}")
    return int(round(secs * 1000))


def datetime_to_ms(value: Any, name: str) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, _dt.datetime):
        raise ArgumentError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ArgumentError(f"{name} must be timezone-aware")
    return int(value.timestamp() * 1000)


def check_uuid(value: Any, name: str, allow_none: bool = False) -> Optional[str]:
    if value is None:
        if allow_none:
            return None
        raise ArgumentError(f"{name} is required")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise ArgumentError(f"{name} must be a UUID, got {value!r}")


def check_execution_id(value: Any, name: str = "execution_id") -> str:
    check_str(value, name, min_bytes=1, max_bytes=64)
    ok = value.startswith("{fp:") and "}:" in value
    if ok:
        part, _, rest = value[4:].partition("}:")
        ok = part.isdigit() and len(part) <= 5
        try:
            uuid.UUID(rest)
        except ValueError:
            ok = False
    if not ok:
        raise ArgumentError(f"{name} must look like {{fp:N}}:<uuid>, got {value!r}")
    return value


def check_tokens(values: Any, name: str) -> List[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise ArgumentError(f"{name} must be a list of str")
    out = []
    for v in values:
        check_str(v, f"{name} entry", min_bytes=1, max_bytes=4096, no_space=True)
        if "," in v:
            raise ArgumentError(f"{name} entries must not contain a comma: {v!r}")
        out.append(v)
    if len(out) > 256:
        raise ArgumentError(f"{name} has more than 256 entries")
    return sorted(set(out))


# ---- payloads -----------------------------------------------------------------


def encode_payload(value: Any, name: str = "payload") -> Optional[bytes]:
    """bytes stay as they are, str is UTF-8, anything else is JSON."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{name} must be bytes, str or JSON-serialisable: {exc}") from None


def decode_json(data: Optional[bytes]) -> Any:
    return None if data is None else json.loads(bytes(data).decode("utf-8"))


# ---- notifications --------------------------------------------------------------


def drain_notifies(conn: psycopg.Connection) -> List[Tuple[str, str]]:
    """Reads what the server sent and returns the pending notifications."""
    pg = conn.pgconn
    pg.consume_input()
    out = []
    while True:
        n = pg.notifies()
        if n is None:
            return out
        out.append((n.relname.decode(), n.extra.decode()))


def wait_notifies(conn: psycopg.Connection, timeout: float,
                  extra_fds: Sequence[Any] = ()) -> Tuple[List[Tuple[str, str]], list]:
    """Waits up to timeout seconds for a notification on an idle connection
    (or for one of extra_fds to become readable)."""
    notes = drain_notifies(conn)
    if notes:
        return notes, []
    fd = conn.fileno()
    ready, _, _ = select.select([fd, *extra_fds], [], [], max(0.0, timeout))
    if fd in ready:
        notes = drain_notifies(conn)
    return notes, [r for r in ready if r != fd]


# ---- the fence -------------------------------------------------------------------


@dataclass(frozen=True)
class Fence:
    """What a claim returned; every lease-bound call goes through here, so
    nobody passes the ids by hand (renew_lease and complete_execution take
    them in different orders)."""

    execution_id: str
    lease_id: str
    lease_epoch: int
    attempt_id: str
    attempt_index: int

    def renew(self, conn, ttl_ms: int) -> dict:
        return run_one(conn, "SELECT ff.renew_lease(%s, %s, %s, %s, %s, lease_ttl_ms => %s)",
                       (self.execution_id, self.attempt_index, self.attempt_id, self.lease_id,
                        self.lease_epoch, ttl_ms))

    def complete(self, conn, result: Optional[bytes]) -> dict:
        return run_one(conn, "SELECT ff.complete_execution(%s, %s, %s, %s, result_payload => %s)",
                       (self.execution_id, self.lease_id, self.lease_epoch, self.attempt_id, result))

    def fail(self, conn, reason: str, category: str) -> dict:
        return run_one(conn, "SELECT ff.fail_execution(%s, %s, %s, %s, failure_reason => %s, failure_category => %s)",
                       (self.execution_id, self.lease_id, self.lease_epoch, self.attempt_id,
                        reason, category))

    def cancel(self, conn, reason: str) -> dict:
        return run_one(conn, "SELECT ff.cancel_execution(%s, %s, 'lease_holder', %s, %s)",
                       (self.execution_id, reason, self.lease_id, self.lease_epoch))

    def delay(self, conn, delay_ms: Optional[int] = None, until_ms: Optional[int] = None) -> dict:
        # the engine clock decides "now", not this machine's
        return run_one(conn, "SELECT ff.delay_execution(%s, %s, %s, %s, "
                             "COALESCE(%s::bigint, ff.now_ms() + %s::bigint))",
                       (self.execution_id, self.lease_id, self.lease_epoch, self.attempt_id,
                        until_ms, delay_ms or 0))

    def progress(self, conn, pct: Optional[int], message: Optional[str]) -> dict:
        return run_one(conn, "SELECT ff.update_progress(%s, %s, %s, %s, %s)",
                       (self.execution_id, self.lease_id, self.lease_epoch, pct, message))

    def append_frame(self, conn, frame_type: str, payload: bytes, mode: str,
                     encoding: str, ttl_ms: int) -> dict:
        return run_one(conn, "SELECT ff.append_frame(%s, %s, %s, %s, %s, %s, encoding => %s, "
                             "attempt_id => %s, stream_mode => %s, ttl_ms => %s)",
                       (self.execution_id, self.attempt_index, self.lease_id, self.lease_epoch,
                        frame_type, payload, encoding, self.attempt_id, mode, ttl_ms))

    def suspend(self, conn, waitpoint_id: str, key: str, condition: dict,
                timeout_ms: Optional[int], on_timeout: str) -> dict:
        return run_one(conn, "SELECT ff.suspend_execution(%s, %s, %s, %s, %s, %s, %s, %s, "
                             "'waiting_for_signal', %s::jsonb, "
                             "CASE WHEN %s::bigint IS NULL THEN NULL ELSE ff.now_ms() + %s::bigint END, %s)",
                       (self.execution_id, self.attempt_index, self.lease_id, self.lease_epoch,
                        self.attempt_id, str(uuid.uuid4()), waitpoint_id, key,
                        json.dumps(condition), timeout_ms, timeout_ms, on_timeout))


def as_list(values: Iterable[Any]) -> list:
    return values if isinstance(values, list) else list(values)
