"""The publisher's tail (matcher/service/publisher.py): a wait for a tail stuck on a
server still steps the worker down as soon as the lease renewer loses a lease."""
from __future__ import annotations

import threading
import time
import uuid

import pytest


def _blocking_tail(release: threading.Event, started: threading.Event):
    def tail() -> None:
        started.set()
        release.wait(60)  # a call that hangs on a server
    return tail


def test_a_wait_raises_what_check_raises_and_leaves_the_tail_running():
    from matcher.service.publisher import Publisher

    lost = threading.Event()

    def check() -> None:
        if lost.is_set():
            raise RuntimeError("lost")

    p = Publisher(check=check, poll_s=0.05)
    release, started = threading.Event(), threading.Event()
    p.submit(_blocking_tail(release, started))
    assert started.wait(5)
    threading.Timer(0.5, lost.set).start()
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="lost"):
        p.wait()
    assert 0.5 <= time.monotonic() - t0 < 2  # it waited while check passed, and not longer
    assert not p.idle()  # left behind, still running
    release.set()
    deadline = time.monotonic() + 5
    while not p.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p.idle()
    p.wait()  # nothing in flight any more: the tail given up on is not waited for again

    bounded = Publisher(check=lambda: None, poll_s=0.05)
    release = threading.Event()
    bounded.submit(_blocking_tail(release, threading.Event()))
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):  # a bounded wait (a stop's) still times out while check passes
        bounded.wait(0.3)
    assert 0.3 <= time.monotonic() - t0 < 1.5 and not bounded.idle()
    release.set()


def test_a_timeout_raised_by_the_tail_is_the_tails():
    from matcher.service.publisher import Publisher

    def tail() -> None:
        raise TimeoutError("read timed out")  # a socket's timeout, not the wait's

    p = Publisher(check=lambda: None, poll_s=0.05)
    p.submit(tail)
    with pytest.raises(TimeoutError, match="read timed out"):
        p.wait()
    p.submit(lambda: None)
    p.wait()
    assert p.idle()


def test_a_stuck_tail_does_not_hide_a_lease_taken_over(exchange_env):
    """A real worker's publisher and lease renewer against moto: the lease taken by
    another task while a tail hangs -> the wait raises the worker's step-down promptly."""
    from matcher.service.config import MatcherConfig
    from matcher.service.leases import Lease, LeaseTable, Renewer
    from matcher.service.worker import StepDown, Worker

    cfg = MatcherConfig.from_env()
    cfg = type(cfg)(**{**cfg.__dict__, "worker_id": f"stuck-{uuid.uuid4().hex[:6]}", "reconcile_every_ms": 0})
    w = Worker(cfg, symbols=["ETHBTC"])
    key = f"test:{uuid.uuid4().hex[:8]}"
    w.leases.create(key)
    taken = w.leases.try_take(w.leases.get(key))
    assert taken is not None
    renewer = Renewer(w.leases, 100)
    renewer.start()
    release, started = threading.Event(), threading.Event()
    try:
        w.publisher.submit(_blocking_tail(release, started))
        assert started.wait(5)

        def steal() -> None:  # another task takes the lease (the counter moves: a new fencing token)
            thief = LeaseTable(w.ddb, w.settings.leases_table, "thief", cfg.lease_ttl_ms)
            assert thief.try_take(Lease(key, None, taken.counter, 0)) is not None

        threading.Timer(1.0, steal).start()
        t0 = time.monotonic()
        with pytest.raises(StepDown, match=key):
            w.publisher.wait()
        # held: it waited; taken: it stepped down within the renewal period + a poll, not the tail's minutes
        assert 1.0 <= time.monotonic() - t0 < 3.5
        assert key in w.leases.lost and not w.publisher.idle()
    finally:
        release.set()
        renewer.stop.set()
        renewer.join(5)


def test_a_clean_stop_waits_for_a_stuck_publish_only_so_long(exchange_env, monkeypatch):
    """SIGTERM while the last batch's publish hangs: the clean stop waits at most
    CLEAN_STOP_PUBLISH_S (half the task's stopTimeout), then stops as an unclean one --
    its leases are not released (a standby takes them once they expire, after this
    process is gone, so the hung publish can never run beside the next owner's)."""
    from matcher.service import worker as worker_mod
    from matcher.service.config import CLEAN_STOP_PUBLISH_S, STOP_TIMEOUT_S, MatcherConfig
    from matcher.service.worker import Worker

    assert CLEAN_STOP_PUBLISH_S < STOP_TIMEOUT_S
    monkeypatch.setattr(worker_mod, "CLEAN_STOP_PUBLISH_S", 0.5)
    cfg = MatcherConfig.from_env()
    cfg = type(cfg)(**{**cfg.__dict__, "worker_id": f"stop-{uuid.uuid4().hex[:6]}", "reconcile_every_ms": 0})
    w = Worker(cfg, symbols=["ETHBTC"])
    key = f"test:{uuid.uuid4().hex[:8]}"
    w.leases.create(key)
    assert w.leases.try_take(w.leases.get(key)) is not None
    release, started = threading.Event(), threading.Event()
    try:
        w.publisher.submit(_blocking_tail(release, started))
        assert started.wait(5)
        t0 = time.monotonic()
        w.shutdown(clean=True)
        assert time.monotonic() - t0 < 3.0
        lease = w.leases.get(key)
        assert lease.owner == cfg.worker_id and lease.expires_ms > 0  # not released: left to expire
    finally:
        release.set()
