"""Fixtures for the pipeline tests: funded accounts, a matcher (in a thread or as a
``python -m matcher`` subprocess) against the session's real servers, and the
checks every test ends with (conservation, fills, no duplicate trades)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from pipeline_support import MADE_ACCOUNTS, MatcherProcess, cancel_all, pipeline_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pipeline_env(exchange_env):
    """The exchange env plus fast matcher knobs for tests."""
    env = dict(exchange_env)
    env.update({"MATCHER_LEASE_TTL_MS": "3000", "MATCHER_RENEW_MS": "500", "MATCHER_POLL_MS": "30",
                "MATCHER_RECONCILE_MS": "1000", "MATCHER_RECONCILE_GRACE_MS": "1500",
                "MATCHER_SNAPSHOT_EVERY": "300", "MATCHER_DESCRIBE_MS": "2000", "MATCHER_LOG_LEVEL": "WARNING",
                "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"})
    os.environ.update(env)
    return env


@pytest.fixture
def matcher_factory(pipeline_env, tmp_path):
    """``make(worker_id, extra, module)``: a :class:`MatcherProcess` logging at INFO to
    ``<tmp_path>/matcher-<worker_id>.log``; ``make.procs`` lists every one made.  At
    teardown, whatever the test did, every one is stopped: SIGTERM with SIGCONT (a
    paused process keeps SIGTERM pending until continued), SIGKILL after 15 s."""
    procs: list[MatcherProcess] = []

    def make(worker_id: str = "w1", extra: dict | None = None, module: str = "matcher") -> MatcherProcess:
        p = MatcherProcess(pipeline_env, worker_id, tmp_path / f"matcher-{worker_id}.log", extra, module)
        procs.append(p)
        return p

    make.procs = procs  # type: ignore[attr-defined]
    yield make
    for p in procs:
        try:
            p.terminate()
        finally:  # never leave one running (or stopped) for the tests after this one
            if p.alive():
                p.proc.kill()
                p.proc.wait()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)  # read by leave_no_orders
    return rep


@pytest.fixture(autouse=True)
def leave_no_orders(request):
    """A pipeline test that failed leaves no open orders behind for the lane's next
    tests (they would trade against them, or find no room for their own): after its
    matchers are stopped (this fixture is torn down after the test's own fixtures), the
    open orders of the accounts it made (``make_accounts``) are cancelled through a
    matcher process started for that.  A test that passed cleans up itself."""
    if "pipeline_env" not in request.fixturenames:
        yield
        return
    env = request.getfixturevalue("pipeline_env")
    db = request.getfixturevalue("migrated_db")
    logs = request.getfixturevalue("tmp_path")
    first = len(MADE_ACCOUNTS)
    yield
    rep = getattr(request.node, "rep_call", None)
    accounts = MADE_ACCOUNTS[first:]
    if rep is None or rep.passed or not accounts:
        return
    from chalicelib import orders

    if not any(orders.open_orders(a) for a in accounts):
        return
    m = MatcherProcess(env, "cleanup", logs / "matcher-cleanup.log").start()
    try:
        cancel_all(accounts, 120, explain=lambda: pipeline_state(db, [m]))
    finally:
        m.terminate()


@pytest.fixture
def matcher_thread(pipeline_env):
    """A matcher worker running in a thread of the test process."""
    from matcher.service.config import MatcherConfig
    from matcher.service.worker import Worker

    worker = Worker(MatcherConfig.from_env())
    t = threading.Thread(target=worker.run, daemon=True)
    t.start()
    yield worker
    worker.stop.set()
    t.join(20)
