"""The stream gateway in the local stack: ``python -m devstack up`` starts it, supervises
it, and the web port relays WebSocket upgrades on ``/ws``, ``/stream`` and
``/ws-api/v3`` to it, so a client (and the web app) reaches it on the API's own
host and port."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.conftest import free_port_block
from tests.devstack.stack_support import ROOT, Stack, place, port_block_outside_ephemeral, stack_env
from tests.pipeline.pipeline_support import wait_until


@pytest.fixture(scope="module")
def stack(original_env, make_scratch_dir):
    import shutil

    state_dir = make_scratch_dir("exchange-relay-")
    s = Stack(state_dir, port_block_outside_ephemeral(), stack_env(original_env), args=("--no-bot",)).start()
    s.ws = f"ws://127.0.0.1:{s.port}"
    yield s
    s.down()
    shutil.rmtree(state_dir, ignore_errors=True)


def recv_until(ws, pred, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no matching message in time"
        msg = json.loads(ws.recv(timeout=left))
        if pred(msg):
            return msg


def web_threads(s: Stack) -> int:
    return len(os.listdir(f"/proc/{s.pid('web')}/task"))


def test_up_and_status_show_the_gateway(stack):
    out = stack.output()
    assert f"ws://127.0.0.1:{stack.port}/ws" in out and f"ws://127.0.0.1:{stack.port}/ws-api/v3" in out
    status = stack.status()
    assert status["healthy"] and status["checks"]["gateway"], status
    assert status["processes"]["gateway"]["running"]
    assert stack.state()["urls"]["gateway"] == f"http://127.0.0.1:{stack.port + 3}"


def test_trade_reaches_a_raw_stream_through_the_web_port(stack):
    alice, bob = stack.client("alice@demo.local"), stack.client("bob@demo.local")
    with connect(f"{stack.ws}/ws/btcusdt@trade", open_timeout=10) as ws:
        place(alice, "BTCUSDT", "BUY", "0.00100", "64000.00")
        place(bob, "BTCUSDT", "SELL", "0.00100", "64000.00", want=("FILLED",))
        trade = recv_until(ws, lambda m: m.get("e") == "trade")
    assert trade["s"] == "BTCUSDT"
    assert Decimal(trade["p"]) == Decimal("64000") and Decimal(trade["q"]) == Decimal("0.001")


def test_combined_depth_and_ws_api_ping_through_the_web_port(stack):
    alice = stack.client("alice@demo.local")
    with connect(f"{stack.ws}/stream?streams=btcusdt@depth", open_timeout=10) as ws:
        order = place(alice, "BTCUSDT", "BUY", "0.01000", "1000.00", want=("NEW",))
        msg = recv_until(ws, lambda m: m.get("stream") == "btcusdt@depth"
                         and any(Decimal(p) == Decimal("1000") for p, _ in m["data"]["b"]))
        assert msg["data"]["e"] == "depthUpdate" and msg["data"]["s"] == "BTCUSDT"
        alice.cancel_order("BTCUSDT", order["orderId"])
    with connect(f"{stack.ws}/ws-api/v3", open_timeout=10) as ws:
        ws.send(json.dumps({"id": "p1", "method": "ping"}))
        reply = json.loads(ws.recv(timeout=10))
    assert reply["id"] == "p1" and reply["status"] == 200 and reply["result"] == {}


def test_gateway_http_refusals_are_relayed_as_they_are(stack):
    """An unknown stream name is the gateway's own 400 ``-1100``; a plain GET (no
    upgrade) of ``/ws`` is not relayed at all."""
    with pytest.raises(InvalidStatus) as err:
        connect(f"{stack.ws}/stream?streams=nosuch@thing", open_timeout=10)
    assert err.value.response.status_code == 400
    assert json.loads(err.value.response.body)["code"] == -1100
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    conn.request("GET", "/api/v3/ping")
    assert conn.getresponse().read() == b"{}"


def test_sigkilled_gateway_comes_back_and_relays_end_with_it(stack):
    base_threads = web_threads(stack)
    old = stack.pid("gateway")
    restarts = stack.state()["processes"]["gateway"]["restarts"]
    ws = connect(f"{stack.ws}/ws/btcusdt@trade", open_timeout=10)
    assert web_threads(stack) > base_threads  # the relay's threads
    os.kill(old, signal.SIGKILL)
    with pytest.raises(ConnectionClosed):  # the relay ends when the gateway's side closes
        ws.recv(timeout=10)
    ws.close()
    wait_until(lambda: web_threads(stack) <= base_threads, 10, "the relay's threads gone")

    def back() -> bool:
        st = stack.status()
        return (st["healthy"] and st["processes"]["gateway"]["pid"] != old
                and st["processes"]["gateway"]["restarts"] == restarts + 1)

    wait_until(back, 15, "the gateway back (restarted once) and healthy")
    with connect(f"{stack.ws}/ws-api/v3", open_timeout=10) as ws:
        ws.send(json.dumps({"id": 2, "method": "ping"}))
        assert json.loads(ws.recv(timeout=10))["status"] == 200


def test_gateway_down_is_a_binance_503(stack, original_env):
    """A web host whose gateway port has nobody listening answers the upgrade with 503
    ``{"code": -1001}`` (what a client sees while the gateway restarts)."""
    port = free_port_block(2)
    env = {**original_env, **stack.state()["env"]}
    log = open(Path(stack.dir) / "web-503.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "devstack.web", "--port", str(port), "--gateway-port",
                             str(port + 1)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/api/v3/ping")
                return c.getresponse().status == 200
            except OSError:
                return False

        wait_until(up, 20, "the second web host")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/ws/btcusdt@trade", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 503 and body["code"] == -1001 and body["msg"], body
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
