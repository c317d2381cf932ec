"""Fixtures for the suite: a database with ff_engine and its engine worker
(made by tests/run.sh), one lane per test so that tests never see each
other's work, and workers that are always stopped."""

import os
import sys
import time
import uuid

import psycopg
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ff_engine import Client, Worker  # noqa: E402

DSN = "dbname={} host={} port={} user={}".format(
    os.environ.get("FF_PY_DB", "ff_python"), os.environ.get("PGHOST", "/tmp"),
    os.environ.get("PGPORT", "54329"), os.environ.get("PGUSER", "postgres"))


@pytest.fixture
def dsn():
    return DSN


@pytest.fixture
def conn():
    c = psycopg.connect(DSN)
    yield c
    c.close()


@pytest.fixture
def lane(request):
    return ("py-" + request.node.name[:40] + "-" + uuid.uuid4().hex[:6])[:64]


@pytest.fixture
def ff(lane):
    return Client(lane=lane)


@pytest.fixture
def make_worker(lane):
    made = []

    def make(**kw):
        kw.setdefault("lanes", lane)
        kw.setdefault("poll_interval", 0.3)
        kw.setdefault("shutdown_timeout", 2.0)
        w = Worker(DSN, **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        if w._started:
            w.stop(timeout=0)


def wait_until(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def sql(query, params=None):
    with psycopg.connect(DSN, autocommit=True) as c:
        cur = c.execute(query, params)
        return cur.fetchall() if cur.description else []
