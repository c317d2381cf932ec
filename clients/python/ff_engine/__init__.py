"""ff_engine: a Python client and worker runtime for the ff_engine
PostgreSQL extension (durable jobs and workflows inside PostgreSQL).

    from ff_engine import Client, Worker

    ff = Client()
    with conn.transaction():                      # your own transaction
        conn.execute("INSERT INTO orders ...")
        ff.enqueue(conn, "send_invoice", {"order": 42}, lane="emails")

    worker = Worker("dbname=app", lanes="emails", concurrency=10)

    @worker.handler("send_invoice")
    def send_invoice(job):
        return {"sent_to": job.json()["order"]}

    worker.run()                                  # until SIGTERM / SIGINT
"""

from .client import Client, Enqueued, Result, RetryPolicy, Waitpoint
from .errors import (ArgumentError, DomainError, ExecutionFailed, FFError, InvalidInput, LeaseLost,
                     LimitExceeded, NotFound, PermissionDenied, SerializationFailure, SignalRejected,
                     SQLError, WaitTimeout)
from .worker import EVENTS, Job, Permanent, Retryable, Signal, Worker

__version__ = "0.1.0"

__all__ = ["Client", "Enqueued", "Result", "RetryPolicy", "Waitpoint", "Worker", "Job", "Signal",
           "Permanent", "Retryable", "EVENTS", "FFError", "ArgumentError", "SQLError", "InvalidInput",
           "PermissionDenied", "LimitExceeded", "SerializationFailure", "DomainError", "NotFound",
           "LeaseLost", "SignalRejected", "ExecutionFailed", "WaitTimeout"]
