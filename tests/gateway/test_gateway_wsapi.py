"""The WebSocket API's public requests (``/ws-api/v3``): Binance's envelope, the same
results and errors as the REST routes (one operation behind both)."""
from __future__ import annotations

import json
import time

from websockets.sync.client import connect


def _call(ws, method: str, params=None, req_id="r1"):
    body = {"id": req_id, "method": method}
    if params is not None:
        body["params"] = params
    ws.send(json.dumps(body))
    return json.loads(ws.recv(timeout=10))


def test_ping_time_exchange_info_depth(gateway, api):
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        r = _call(ws, "ping", req_id=1)
        assert r["id"] == 1 and r["status"] == 200 and r["result"] == {}
        rl = r["rateLimits"]
        assert rl[0]["rateLimitType"] == "REQUEST_WEIGHT" and rl[0]["interval"] == "MINUTE"
        assert rl[0]["intervalNum"] == 1 and rl[0]["count"] >= 1 and rl[0]["limit"] > 0
        r = _call(ws, "v3/time", req_id="t")
        assert r["status"] == 200 and abs(r["result"]["serverTime"] - time.time() * 1000) < 10_000
        r = _call(ws, "exchangeInfo", {"symbols": ["BTCUSDT", "ETHBTC"]})
        rest = api.get("/v3/exchangeInfo", {"symbols": '["BTCUSDT","ETHBTC"]'}).json
        assert r["status"] == 200
        assert r["result"]["symbols"] == rest["symbols"]
        # the gateway runs with the default limits (this test process raised its own)
        from chalicelib.api.ratelimit import Limits, rate_limits_info

        assert r["result"]["rateLimits"] == rate_limits_info(Limits())
        r = _call(ws, "depth", {"symbol": "BTCUSDT", "limit": 5}, req_id=None)
        assert r["id"] is None and r["status"] == 200
        assert r["result"] == api.get("/v3/depth", {"symbol": "BTCUSDT", "limit": 5}).json
        r = _call(ws, "ticker.price", {"symbol": "ETHBTC"}, req_id=7)
        assert r["result"] == api.get("/v3/ticker/price", {"symbol": "ETHBTC"}).json
        r = _call(ws, "ping", {"returnRateLimits": False}, req_id=8)
        assert r == {"id": 8, "status": 200, "result": {}}


def test_errors_are_binance_shaped(gateway, api):
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        ws.send("{nope")
        r = json.loads(ws.recv(timeout=10))
        assert r == {"id": None, "status": 400, "error": {"code": -1135, "msg": "Invalid JSON Request"}}
        r = _call(ws, "order.nope", req_id=2)
        assert r["id"] == 2 and r["status"] == 400 and r["error"]["code"] == -1020
        r = _call(ws, "depth", {}, req_id=3)
        rest = api.get("/v3/depth", {}).json
        assert r["status"] == 400 and r["error"] == rest and r["error"]["code"] == -1102
        r = _call(ws, "depth", {"symbol": "NOPEUSDT"}, req_id=4)
        assert r["error"] == api.get("/v3/depth", {"symbol": "NOPEUSDT"}).json and r["error"]["code"] == -1121
        r = _call(ws, "depth", {"symbol": "BTCUSDT", "limit": {"x": 1}}, req_id=5)
        assert r["status"] == 400 and r["error"]["code"] == -1102 and "rateLimits" in r
        r = _call(ws, "ping", [], req_id=6)
        assert r["status"] == 400 and r["error"]["code"] == -1102
        r = _call(ws, "ping", req_id=["list"])
        assert r["id"] is None and r["status"] == 400


def _signed(user, params: dict) -> dict:
    """Binance's WebSocket API signing: HMAC-SHA256 of the parameters sorted by name."""
    import hashlib
    import hmac

    p = {**params, "apiKey": user.api_key, "timestamp": int(time.time() * 1000)}
    text = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(p.items()))
    p["signature"] = hmac.new(user.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return p


def test_session_logon_and_signed_reads(gateway, api):
    from tests.api.conftest import make_user

    user = make_user("wsapi", {"USDT": "1234.5", "BTC": "0.25"})
    rest_account = api.signed("GET", "/v3/account", user).json
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        st = _call(ws, "session.status", req_id=1)["result"]
        assert st["apiKey"] is None and st["authorizedSince"] is None and st["userDataStream"] is False
        assert isinstance(st["connectedSince"], int) and isinstance(st["serverTime"], int)
        # not signed, no session: the REST API's error for a missing key
        r = _call(ws, "account.status", {"timestamp": int(time.time() * 1000)}, req_id=2)
        assert r["status"] in (400, 401) and r["error"] == api.get("/v3/account", {}).json
        # signed per request
        r = _call(ws, "account.status", _signed(user, {"omitZeroBalances": True}), req_id=3)
        assert r["status"] == 200, r
        want = [b for b in rest_account["balances"] if b["free"] != "0.00000000" or b["locked"] != "0.00000000"]
        assert r["result"]["balances"] == want and r["result"]["uid"] == rest_account["uid"]
        # a replayed read is answered (as REST); a replayed order request is refused, a wrong signature too
        replay = _signed(user, {})
        assert _call(ws, "account.status", replay, req_id=4)["status"] == 200
        assert _call(ws, "account.status", replay, req_id=5)["status"] == 200
        order = _signed(user, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                               "quantity": "0.001", "price": "20000"})
        assert _call(ws, "order.test", order, req_id=51)["status"] == 200
        assert _call(ws, "order.test", order, req_id=52)["error"]["code"] == -1022
        bad = {**_signed(user, {}), "signature": "0" * 64}
        assert _call(ws, "session.logon", bad, req_id=6)["error"]["code"] == -1022
        # logon: later signed requests need only a timestamp
        r = _call(ws, "session.logon", _signed(user, {}), req_id=7)
        assert r["status"] == 200 and r["result"]["apiKey"] == user.api_key
        assert r["result"]["authorizedSince"] >= r["result"]["connectedSince"]
        now = int(time.time() * 1000)
        r = _call(ws, "account.status", {"timestamp": now}, req_id=8)
        assert r["status"] == 200 and r["result"]["balances"] == rest_account["balances"]
        assert _call(ws, "openOrders.status", {"symbol": "BTCUSDT", "timestamp": now}, req_id=9)["result"] == []
        r = _call(ws, "order.status", {"symbol": "BTCUSDT", "orderId": 999999999, "timestamp": now}, req_id=10)
        rest = api.signed("GET", "/v3/order", user, {"symbol": "BTCUSDT", "orderId": 999999999}).json
        assert r["error"] == rest and r["error"]["code"] == -2013
        stale = _call(ws, "account.status", {"timestamp": now - 120_000}, req_id=11)
        assert stale["error"]["code"] == -1021
        assert _call(ws, "session.status", req_id=12)["result"]["apiKey"] == user.api_key
        r = _call(ws, "session.logout", req_id=13)
        assert r["result"]["apiKey"] is None and r["result"]["authorizedSince"] is None
        r = _call(ws, "account.status", {"timestamp": int(time.time() * 1000)}, req_id=14)
        assert r["status"] != 200
