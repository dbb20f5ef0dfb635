"""A Redis outage is a normal event: the gateway reports it on /healthz, keeps its
clients, re-subscribes when Redis is back, re-reads its books, and a diff it missed
reaches clients as a ``U`` jump (which Binance's procedure answers with a re-sync)
rather than as a silent hole."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from decimal import Decimal as D

import redis as redis_lib
from websockets.sync.client import connect

from chalicelib import marketdata as md
from tests.conftest import free_port
from tests.gateway.conftest import GatewayProcess, recv_until

PREFIX = "outage:"


def _health(gw) -> int:
    try:
        with urllib.request.urlopen(f"{gw.http}/healthz", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_health(gw, status: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while _health(gw) != status:
        assert time.time() < deadline, f"healthz never became {status}"
        time.sleep(0.2)


def _publish(r, u: int, bid: str) -> None:
    md.publish_depth(r, "BTCUSDT", u, [(D(bid), D("1"))], [(D("30001"), D("2"))], prefix=PREFIX)


def _restart(data, port):
    from devstack import redisserver

    deadline = time.time() + 20
    while True:
        try:
            return redisserver.start(None, data, port)
        except redisserver.RedisUnavailable:
            assert time.time() < deadline, "embedded Redis did not start again"
            time.sleep(0.5)


def test_redis_outage_and_return(exchange_env, tmp_path, make_scratch_dir):
    from devstack import redisserver

    port, data = free_port(), make_scratch_dir("gw-outage-")
    server = redisserver.start(None, data, port)
    env = {**exchange_env, "REDIS_URL": server.url, "REDIS_KEY_PREFIX": PREFIX}
    gw = GatewayProcess(env, tmp_path / "gateway.log")
    r = redis_lib.Redis.from_url(server.url, decode_responses=True)
    try:
        with connect(f"{gw.url}/stream?streams=btcusdt@depth@100ms/btcusdt@depth5") as ws:
            _publish(r, 10, "29990")
            assert recv_until(ws, lambda m: m["stream"] == "btcusdt@depth@100ms")["data"]["u"] == 10
            server.stop()
            _wait_health(gw, 503)
            server = _restart(data, port)  # back, with its saved data
            r = redis_lib.Redis.from_url(server.url, decode_responses=True)
            _publish(r, 11, "29991")  # most likely before the gateway is subscribed again: missed
            _wait_health(gw, 200)
            time.sleep(0.3)
            _publish(r, 12, "29992")
            ev = recv_until(ws, lambda m: m["stream"] == "btcusdt@depth@100ms" and m["data"]["u"] == 12)["data"]
            assert ev["U"] in (11, 12)  # 11: the gateway saw the missed diff after all; 12: the jump
            top = recv_until(ws, lambda m: m["stream"] == "btcusdt@depth5" and m["data"]["lastUpdateId"] == 12,
                             timeout=10)["data"]
            assert top == {"lastUpdateId": 12, "bids": [["29992.00000000", "1.00000000"]],
                           "asks": [["30001.00000000", "2.00000000"]]}
            assert json.loads(r.get(md.depth_key("BTCUSDT", PREFIX)))["lastUpdateId"] == 12
    finally:
        gw.stop()
        server.stop()
