"""Fixtures for the stream gateway tests: ``python -m gateway`` as a process on the
session's real Redis (and, where a test needs the whole pipeline, the API and the
matcher of tests/api's fixtures), and small WebSocket client helpers built on the
same library the gateway serves with."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.api.conftest import api, app_module, matcher, web_url  # noqa: F401  (fixtures)
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    """``python -m gateway`` with the session's settings, on a free port."""

    def __init__(self, env: dict, log: Path, *extra: str):
        self.port = free_port()
        self.log_path = log
        self.fh = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "--port", str(self.port), *extra],
                                     cwd=str(ROOT), env={**os.environ, **env}, stdout=self.fh,
                                     stderr=subprocess.STDOUT)
        self.url = f"ws://127.0.0.1:{self.port}"
        self.http = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.http}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gateway did not become healthy:\n{self.log()}")

    def log(self) -> str:
        self.fh.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.fh.close()


@pytest.fixture(scope="module")
def gateway(exchange_env, tmp_path_factory):
    gw = GatewayProcess(exchange_env, tmp_path_factory.mktemp("gateway") / "gateway.log")
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def gateway_factory(exchange_env, tmp_path_factory):
    made: list[GatewayProcess] = []

    def make(*extra: str) -> GatewayProcess:
        gw = GatewayProcess(exchange_env, tmp_path_factory.mktemp("gateway") / "gateway.log", *extra)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.stop()


def recv_json(ws, timeout: float = 5.0):
    return json.loads(ws.recv(timeout=timeout))


def recv_until(ws, pred, timeout: float = 8.0):
    """The first message (decoded) for which ``pred`` is true; others are skipped."""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError("no matching message in time")
        msg = json.loads(ws.recv(timeout=left))
        if pred(msg):
            return msg


def request(ws, method: str, params=None, req_id=1):
    body = {"method": method, "id": req_id}
    if params is not None:
        body["params"] = params
    ws.send(json.dumps(body))
    return recv_until(ws, lambda m: isinstance(m, dict) and "id" in m and ("result" in m or "error" in m))


@pytest.fixture
def cleanup_orders():
    """Accounts a test trades with (append their ids); afterwards their open orders are
    cancelled through the matcher, so the shared books are as the test found them for
    the test folders that run after this one."""
    accounts: list[int] = []
    yield accounts
    from chalicelib import orders

    deadline = time.time() + 30
    for acct in accounts:
        while True:
            left = orders.open_orders(acct)
            if not left:
                break
            assert time.time() < deadline, f"open orders left behind: {left[:3]}"
            for o in left:
                try:
                    orders.cancel_order(acct, o["symbol"], o["orderId"], None, wait_s=3)
                except Exception:  # filled or already cancelled meanwhile: look again
                    pass
