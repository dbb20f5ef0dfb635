"""Supervision: SIGKILL any long-lived process of ``python -m devstack up`` under light
load (the demo market maker plus two bots) and the stack comes back by itself — every
process running again, every endpoint healthy, an order through the whole pipeline —
within 10 s; money stays conserved and nothing is left PENDING_NEW."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.devstack.stack_support import (
    ROOT,
    Stack,
    db_now,
    port_block_outside_ephemeral,
    stack_env,
    stuck_orders,
    wait_status,
)
from tests.pipeline.pipeline_support import assert_invariants, pending_count, wait_until

RECOVERY_BUDGET_S = 10.0


class Load:
    """Two bots trading with each other (and the market maker) on two symbols, a few
    orders a second; errors while a process is down are expected and counted."""

    def __init__(self, alice, bob):
        self.alice, self.bob = alice, bob
        self.stop = threading.Event()
        self.paused = threading.Event()
        self.ok = self.errors = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        orders = [("BTCUSDT", "0.00100", "64000.00"), ("ETHUSDT", "0.0100", "3150.00")]
        i = 0
        while not self.stop.is_set():
            if self.paused.is_set():
                time.sleep(0.05)
                continue
            symbol, qty, price = orders[i % 2]
            for client, side in ((self.alice, "BUY"), (self.bob, "SELL")):
                try:
                    client.new_order(symbol=symbol, side=side, type="LIMIT", timeInForce="IOC", quantity=qty,
                                     price=price)
                    self.ok += 1
                except Exception:
                    self.errors += 1
            i += 1
            self.stop.wait(0.3)


@pytest.fixture(scope="module")
def stack(original_env, make_scratch_dir):
    import shutil

    state_dir = make_scratch_dir("exchange-supervise-")
    s = Stack(state_dir, port_block_outside_ephemeral(), stack_env(original_env, MARKETMAKER_INTERVAL="0.5")).start()
    load = Load(s.client("alice@demo.local"), s.client("bob@demo.local"))
    load.thread.start()
    s.load = load
    s.probe = s.client("alice@demo.local")  # its own key; the market maker cancels its own orders
    s.killed = set()
    yield s
    load.stop.set()
    load.thread.join(10)
    s.down()
    print(f"\nload: {load.ok} orders accepted, {load.errors} refused while processes were down")
    shutil.rmtree(state_dir, ignore_errors=True)


def back_within(s: Stack, name: str, old_pid: int, probe, budget: float) -> float:
    """Seconds until ``name`` runs again under a new pid, ``status`` is healthy and an
    order goes through the whole pipeline (entered, sequenced, cancelled)."""
    t0 = time.monotonic()
    deadline = t0 + budget + 20  # measured beyond the budget, so a miss shows by how much

    def healthy() -> bool:
        try:
            st = s.status()
        except ValueError:  # the state file is being rewritten
            return False
        return st.get("healthy", False) and st["processes"][name]["pid"] != old_pid

    back = False
    while time.monotonic() < deadline and not back:
        back = healthy()
        time.sleep(0 if back else 0.1)
    assert back, f"{name} not back after {time.monotonic() - t0:.1f} s:\n{s.output()[-3000:]}"
    last = None
    while time.monotonic() < deadline:
        try:
            order = probe.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                    quantity="0.01000", price="1000.00")
            wait_status(probe, "BTCUSDT", order["orderId"], {"NEW"}, timeout=max(1.0, deadline - time.monotonic()))
            probe.cancel_order("BTCUSDT", order["orderId"])
            wait_status(probe, "BTCUSDT", order["orderId"], {"CANCELED"},
                        timeout=max(1.0, deadline - time.monotonic()))
            break
        except AssertionError:
            raise
        except Exception as exc:
            last = exc
            time.sleep(0.2)
    else:
        raise AssertionError(f"no order round trip after {name} restart (last: {last!r})")
    return time.monotonic() - t0


PROCESSES = ["web", "dataapi", "matcher", "marketmaker", "gateway", "redis", "postgres", "moto"]


@pytest.mark.parametrize("name", PROCESSES)
def test_killed_process_comes_back_by_itself(stack, name):
    probe = stack.probe
    assert stack.status()["healthy"], stack.output()[-2000:]
    time.sleep(1.0)  # let the load run against the healthy stack first
    old = stack.pid(name)
    restarts = stack.state()["processes"][name]["restarts"]
    os.kill(old, signal.SIGKILL)
    stack.killed.add(name)
    took = back_within(stack, name, old, probe, RECOVERY_BUDGET_S)
    print(f"\n{name}: SIGKILL -> healthy and an order round trip in {took:.1f} s")
    if os.environ.get("SUPERVISION_VERBOSE"):
        print(stack.output().split("stops everything", 1)[-1])
    assert stack.state()["processes"][name]["restarts"] == restarts + 1
    assert took < RECOVERY_BUDGET_S, f"{name} took {took:.1f} s to come back:\n{stack.output()[-3000:]}"
    assert stack.proc.poll() is None, "the supervisor itself stopped"
    # nothing entered before the stack was back stays PENDING_NEW; money is conserved
    back = db_now(stack.database_url)
    wait_until(lambda: stuck_orders(stack.database_url, back) == 0, 30, f"no order stuck after {name} restart")
    assert_invariants(stack.database_url)


def test_quiescent_after_all_kills(stack):
    """With the load paused (bots stopped, the market maker frozen), every order settles
    and every invariant holds."""
    stack.load.paused.set()
    mm = stack.pid("marketmaker")
    os.kill(mm, signal.SIGSTOP)
    try:
        wait_until(lambda: pending_count(stack.database_url) == 0, 30, "every order sequenced")
        figures = assert_invariants(stack.database_url)
        assert figures["trades"] > 0
        status = stack.status()
        assert status["healthy"]
        assert all(status["processes"][n]["restarts"] >= 1 for n in stack.killed), status["processes"]
        # `make status` shows the restarts
        res = subprocess.run([sys.executable, "-m", "devstack", "--state-dir", str(stack.dir), "status"], cwd=ROOT,
                             env=stack.env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        for name in stack.killed:
            line = next(ln for ln in res.stdout.splitlines() if ln.split()[:1] == [name] and "pid" in ln)
            assert "running" in line and "restarted" in line, res.stdout
    finally:
        os.kill(mm, signal.SIGCONT)
        stack.load.paused.clear()
