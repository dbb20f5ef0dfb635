"""Fixtures for the pipeline tests: funded accounts, a matcher (in a thread or as a
``python -m matcher`` subprocess) against the session's real servers, and the
checks every test ends with (conservation, fills, no duplicate trades)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from pipeline_support import MatcherProcess

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
    procs: list[MatcherProcess] = []

    def make(worker_id: str = "w1", extra: dict | None = None, module: str = "matcher") -> MatcherProcess:
        p = MatcherProcess(pipeline_env, worker_id, tmp_path / f"matcher-{worker_id}.log", extra, module)
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.terminate()


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
