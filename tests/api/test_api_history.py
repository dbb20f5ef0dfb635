"""The history reads' parameter rules as Binance documents them: allOrders and myTrades
refuse ``startTime``/``endTime`` more than 24 hours apart (-1127), myTrades and
aggTrades refuse the combinations Binance does not support (-1128), allOrders ignores
``orderId`` beside a time bound, aggTrades has no cap on its window, and the weights
(myTrades 5 with ``orderId``, 20 without; aggTrades 4)."""
from __future__ import annotations

import itertools
import time

import pytest

from tests.api.conftest import make_user

DAY_MS = 86_400_000
MORE_THAN_24H = {"code": -1127, "msg": "More than 24 hours between startTime and endTime."}
BAD_COMBO = {"code": -1128, "msg": "Combination of optional parameters invalid."}
_viewer = itertools.count(1)


@pytest.fixture(scope="module")
def user(exchange_env):
    return make_user("history", {"USDT": "1000"})


def _fresh_ip(trusted_proxy) -> dict:
    """Headers that make the request come from an address nothing else used, so its
    ``X-MBX-USED-WEIGHT-1M`` is that request's weight alone."""
    return {"CloudFront-Viewer-Address": f"198.51.100.{100 + next(_viewer)}:443", **trusted_proxy}


@pytest.mark.parametrize("path", ["/v3/allOrders", "/v3/myTrades"])
def test_a_window_over_24_hours_is_refused(api, user, path):
    now = int(time.time() * 1000)
    r = api.signed("GET", path, user, {"symbol": "BTCUSDT", "startTime": now - DAY_MS - 1, "endTime": now})
    assert (r.status_code, r.json) == (400, MORE_THAN_24H)
    # exactly 24 hours, one bound alone (however far back) and no bound are windows Binance takes
    for q in ({"startTime": now - DAY_MS, "endTime": now}, {"startTime": now - 30 * DAY_MS},
              {"endTime": now - 30 * DAY_MS}, {}):
        r = api.signed("GET", path, user, {"symbol": "BTCUSDT", **q})
        assert (r.status_code, r.json) == (200, []), (q, r.json)


def test_all_orders_ignores_order_id_beside_a_time_bound(api, user):
    placed = api.signed("POST", "/v3/order", user, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                    "timeInForce": "GTC", "quantity": "0.001", "price": "10000",
                                                    "newOrderRespType": "ACK"})
    assert placed.status_code == 200, placed.json
    oid, now = placed.json["orderId"], int(time.time() * 1000)
    past = {"symbol": "BTCUSDT", "orderId": oid + 1}
    assert api.signed("GET", "/v3/allOrders", user, past).json == []
    for bound in ({"startTime": now - 60_000}, {"endTime": now + 60_000},
                  {"startTime": now - 60_000, "endTime": now + 60_000}):
        got = api.signed("GET", "/v3/allOrders", user, {**past, **bound}).json
        assert [o["orderId"] for o in got] == [oid], (bound, got)


def test_my_trades_combinations(api, user):
    now = int(time.time() * 1000)
    for q in ({"fromId": 1, "startTime": now - 1000}, {"fromId": 1, "endTime": now},
              {"orderId": 1, "startTime": now - 1000}, {"orderId": 1, "startTime": now - 1000, "endTime": now},
              {"orderId": 1, "fromId": 1, "endTime": now}):
        r = api.signed("GET", "/v3/myTrades", user, {"symbol": "BTCUSDT", **q})
        assert (r.status_code, r.json) == (400, BAD_COMBO), q
    for q in ({"orderId": 1}, {"fromId": 1}, {"orderId": 1, "fromId": 1}, {"startTime": now - 1000, "endTime": now}):
        r = api.signed("GET", "/v3/myTrades", user, {"symbol": "BTCUSDT", **q})
        assert (r.status_code, r.json) == (200, []), (q, r.json)


def test_agg_trades_rules(api):
    now = int(time.time() * 1000)
    for q in ({"fromId": 1, "startTime": now - 1000}, {"fromId": 1, "endTime": now}):
        r = api.get("/v3/aggTrades", {"symbol": "BTCUSDT", **q})
        assert (r.status_code, r.json) == (400, BAD_COMBO), q
    # Binance documents no cap on aggTrades' window
    r = api.get("/v3/aggTrades", {"symbol": "BTCUSDT", "startTime": now - 3 * DAY_MS, "endTime": now})
    assert r.status_code == 200 and isinstance(r.json, list), r.json


def test_weights(api, user, trusted_proxy):
    r = api.signed("GET", "/v3/myTrades", user, {"symbol": "BTCUSDT", "orderId": 1}, headers=_fresh_ip(trusted_proxy))
    assert (r.status_code, r.headers["X-MBX-USED-WEIGHT-1M"]) == (200, "5"), r.json
    r = api.signed("GET", "/v3/myTrades", user, {"symbol": "BTCUSDT"}, headers=_fresh_ip(trusted_proxy))
    assert (r.status_code, r.headers["X-MBX-USED-WEIGHT-1M"]) == (200, "20"), r.json
    r = api.get("/v3/aggTrades", {"symbol": "BTCUSDT"}, headers=_fresh_ip(trusted_proxy))
    assert (r.status_code, r.headers["X-MBX-USED-WEIGHT-1M"]) == (200, "4"), r.json
