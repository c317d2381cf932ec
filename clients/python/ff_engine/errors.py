"""Exceptions of the ff_engine client.

Three families, so that callers can catch what they mean:

* ``ArgumentError`` (also a ``ValueError``): the call was wrong and was refused
  before anything was sent to the database.
* ``SQLError``: PostgreSQL raised an error (misuse the engine refuses, a
  privilege, a limit, a serialization failure); ``sqlstate`` keeps the code
  and ``__cause__`` the psycopg exception.
* ``DomainError``: the engine answered with an error envelope
  (``{"ok": false, "error": ...}``) where a Python caller expects an
  exception; ``code`` is the envelope's error and ``envelope`` the whole of it.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional


class FFError(Exception):
    """Base class of every ff_engine client exception."""


class ArgumentError(FFError, ValueError):
    """A wrong argument, refused before touching the database."""


class SQLError(FFError):
    """An ERROR raised by PostgreSQL; ``sqlstate`` is its SQLSTATE."""

    def __init__(self, message: str, sqlstate: Optional[str] = None,
                 detail: Optional[str] = None, hint: Optional[str] = None):
        super().__init__(message if sqlstate is None else f"{message} (SQLSTATE {sqlstate})")
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint


class InvalidInput(SQLError):
    """Class 22: a malformed, NULL, out-of-range or oversized value."""


class PermissionDenied(SQLError):
    """42501: the role may not call this, or not in this namespace."""


class LimitExceeded(SQLError):
    """54000: a payload, JSON document or list over the engine's limit."""


class SerializationFailure(SQLError):
    """40001 / 40P01: retry the whole transaction."""


def sql_error_from(exc: BaseException) -> SQLError:
    """Wraps a psycopg error in the matching SQLError subclass."""
    diag = getattr(exc, "diag", None)
    state = getattr(exc, "sqlstate", None)
    msg = (getattr(diag, "message_primary", None) if diag else None) or str(exc).strip()
    detail = getattr(diag, "message_detail", None) if diag else None
    hint = getattr(diag, "message_hint", None) if diag else None
    cls = SQLError
    if state:
        if state.startswith("22"):
            cls = InvalidInput
        elif state == "42501":
            cls = PermissionDenied
        elif state == "54000":
            cls = LimitExceeded
        elif state in ("40001", "40P01"):
            cls = SerializationFailure
    err = cls(msg, state, detail, hint)
    err.__cause__ = exc
    return err


class DomainError(FFError):
    """An error envelope from the engine, raised as an exception."""

    def __init__(self, code: str, envelope: Mapping[str, Any], message: Optional[str] = None):
        self.code = code
        self.envelope = dict(envelope)
        extra = {k: v for k, v in envelope.items() if k not in ("ok", "error")}
        super().__init__(message or (f"{code}: {extra}" if extra else code))


class NotFound(DomainError):
    """The execution or flow does not exist (or belongs to another tenant)."""


class LeaseLost(DomainError):
    """The lease no longer holds: stale_lease, lease_expired, lease_revoked,
    execution_not_active.  Stop working on the execution."""


class SignalRejected(DomainError):
    """deliver_signal refused the signal (invalid_token, waitpoint_closed, ...)."""


class ExecutionFailed(FFError):
    """wait_for_result: the execution ended without success."""

    def __init__(self, execution_id: str, outcome: str, info: Mapping[str, Any]):
        self.execution_id = execution_id
        self.outcome = outcome
        self.info = dict(info)
        reason = info.get("failure_reason") or ""
        super().__init__(f"execution {execution_id} ended {outcome}" + (f": {reason}" if reason else ""))


class WaitTimeout(FFError, TimeoutError):
    """wait_for_result: no terminal state within the timeout."""


LEASE_LOST_CODES = frozenset({"stale_lease", "lease_expired", "lease_revoked",
                              "execution_not_active", "fence_required", "partial_fence_triple",
                              "stale_owner_cannot_append"})
NOT_FOUND_CODES = frozenset({"execution_not_found", "flow_not_found", "not_found"})


def raise_for_envelope(env: Mapping[str, Any]) -> Mapping[str, Any]:
    """Returns an ok envelope; raises the matching DomainError otherwise."""
    if env.get("ok"):
        return env
    code = str(env.get("error", "unknown_error"))
    if code in NOT_FOUND_CODES:
        raise NotFound(code, env)
    if code in LEASE_LOST_CODES:
        raise LeaseLost(code, env)
    raise DomainError(code, env)
