"""Iceberg orders and trailing stops through the signed API with the matcher running
(real PostgreSQL, Redis, moto and ``python -m matcher``): parameters and their
errors, exchangeInfo's filters, MAX_NUM_ALGO_ORDERS / MAX_NUM_ICEBERG_ORDERS, an
iceberg that refreshes (depth shows only its slice), a trailing stop that activates
and fires, and the order fields Binance shows for them."""
from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest

from tests.api.conftest import make_user

SYMBOL = "BTCUSDT"


def cid() -> str:
    return "i" + uuid.uuid4().hex[:20]


@pytest.fixture(scope="module")
def pair(exchange_env):
    return (make_user("ice-a", {"USDT": "1000000", "BTC": "10"}), make_user("ice-b", {"USDT": "1000000", "BTC": "10"}))


def _order(api, user, **params):
    return api.signed("POST", "/v3/order", user, {"symbol": SYMBOL, "newClientOrderId": cid(), **params},
                      in_body=True)


def _get(api, user, order_id):
    return api.signed("GET", "/v3/order", user, {"symbol": SYMBOL, "orderId": order_id}).json


def _wait(predicate, what: str, timeout: float = 10.0):
    deadline = time.time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert time.time() < deadline, what
        time.sleep(0.1)


def _band(api) -> Decimal:
    """A price P with the book clear between P x 0.9 and P x 1.1 (other tests of the
    session may have left orders on the symbol), so that this module's trades only
    meet this module's orders."""
    depth = api.get("/v3/depth", {"symbol": SYMBOL, "limit": 5000}).json
    prices = sorted(Decimal(p) for p, _ in depth["bids"] + depth["asks"])
    for p in (Decimal(v) for v in ("31000", "47000", "63000", "88000", "150000", "410000")):
        if not any(p * Decimal("0.9") <= x <= p * Decimal("1.1") for x in prices):
            return p
    raise AssertionError(f"no clear price band on {SYMBOL}: {prices}")


def test_exchange_info_lists_the_filters_for_every_symbol(api):
    info = api.get("/v3/exchangeInfo").json
    assert info["symbols"]
    for s in info["symbols"]:
        f = {x["filterType"]: x for x in s["filters"]}
        assert s["icebergAllowed"] is True and s["allowTrailingStop"] is True
        assert f["ICEBERG_PARTS"] == {"filterType": "ICEBERG_PARTS", "limit": 10}
        assert f["TRAILING_DELTA"] == {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10,
                                       "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10,
                                       "maxTrailingBelowDelta": 2000}
        assert f["MAX_NUM_ALGO_ORDERS"] == {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5}
        assert f["MAX_NUM_ICEBERG_ORDERS"] == {"filterType": "MAX_NUM_ICEBERG_ORDERS", "maxNumIcebergOrders": 5}


@pytest.mark.parametrize("params, code, msg", [
    ({"type": "STOP_LOSS", "quantity": "0.001"}, -1102,
     "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!"),
    ({"type": "STOP_LOSS", "quantity": "0.001", "trailingDelta": "5"}, -1013, "Filter failure: TRAILING_DELTA"),
    ({"type": "TAKE_PROFIT", "quantity": "0.001", "trailingDelta": "2001"}, -1013, "Filter failure: TRAILING_DELTA"),
    ({"type": "STOP_LOSS", "quantity": "0.001", "trailingDelta": "0"}, -1013, "Filter failure: TRAILING_DELTA"),
    ({"type": "MARKET", "quantity": "0.001", "trailingDelta": "100"}, -1106,
     "Parameter 'trailingDelta' sent when not required."),
    ({"type": "MARKET", "quantity": "0.01", "icebergQty": "0.001"}, -1106,
     "Parameter 'icebergQty' sent when not required."),
    ({"type": "STOP_LOSS", "quantity": "0.01", "stopPrice": "20000", "icebergQty": "0.001"}, -1106,
     "Parameter 'icebergQty' sent when not required."),
    ({"type": "LIMIT", "timeInForce": "FOK", "quantity": "0.01", "price": "20000", "icebergQty": "0.005"}, -1014,
     "Unsupported order combination."),
    ({"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "20000", "icebergQty": "0.0005"}, -1013,
     "Filter failure: ICEBERG_PARTS"),
    ({"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "20000", "icebergQty": "0.02"}, -2010,
     "IcebergQty exceeds QTY."),
])
def test_parameter_errors(api, pair, params, code, msg):
    r = _order(api, pair[0], side="SELL", **params)
    assert (r.status_code, r.json) == (400, {"code": code, "msg": msg})


def test_open_algo_and_iceberg_orders_are_limited(api, matcher, pair):
    a, _ = pair
    p = _band(api)
    stops = [_order(api, a, side="SELL", type="STOP_LOSS", quantity="0.001", stopPrice=str(p / 4 + i),
                    newOrderRespType="ACK") for i in range(5)]
    assert all(r.status_code == 200 for r in stops), [r.json for r in stops]
    r = _order(api, a, side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="0.001",
               price=str(p / 4), trailingDelta="100")
    assert r.json == {"code": -1013, "msg": "Filter failure: MAX_NUM_ALGO_ORDERS"}
    icebergs = [_order(api, a, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.002", icebergQty="0.001",
                       price=str(p * 2 + i), newOrderRespType="ACK") for i in range(5)]
    assert all(r.status_code == 200 for r in icebergs), [r.json for r in icebergs]
    r = _order(api, a, side="SELL", type="LIMIT_MAKER", quantity="0.002", icebergQty="0.001", price=str(p * 2))
    assert r.json == {"code": -1013, "msg": "Filter failure: MAX_NUM_ICEBERG_ORDERS"}
    # a cancelled one frees its place
    api.signed("DELETE", "/v3/order", a, {"symbol": SYMBOL, "orderId": icebergs[0].json["orderId"]})
    r = _order(api, a, side="SELL", type="LIMIT_MAKER", quantity="0.002", icebergQty="0.001", price=str(p * 2))
    assert r.status_code == 200, r.json
    gone = api.signed("DELETE", "/v3/openOrders", a, {"symbol": SYMBOL})
    assert gone.status_code == 200 and len(gone.json) == 10, gone.json


def test_iceberg_refreshes_and_a_trailing_stop_fires(api, matcher, pair):
    a, b = pair
    p = _band(api)
    ice_price = p * Decimal("1.05")
    ice = _order(api, a, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01", icebergQty="0.003",
                 price=str(ice_price), newOrderRespType="RESULT")
    assert ice.status_code == 200 and ice.json["icebergQty"] == "0.00300000", ice.json
    got = _get(api, a, ice.json["orderId"])
    assert got["icebergQty"] == "0.00300000" and "trailingDelta" not in got

    def ask_at_ice():
        asks = api.get("/v3/depth", {"symbol": SYMBOL}).json["asks"]
        return [q for px, q in asks if Decimal(px) == ice_price]

    assert Decimal(_wait(ask_at_ice, "the iceberg's slice in depth")[0]) == Decimal("0.003")  # only the slice
    buy = _order(api, b, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.005", price=str(ice_price),
                 newOrderRespType="FULL")
    assert buy.json["status"] == "FILLED", buy.json
    assert [f["qty"] for f in buy.json["fills"]] == ["0.00300000", "0.00200000"]  # two slices, one match
    got = _get(api, a, ice.json["orderId"])
    assert (got["status"], got["executedQty"]) == ("PARTIALLY_FILLED", "0.00500000")
    _wait(lambda: ask_at_ice() == ["0.00100000"], "the refreshed slice's rest (0.003 - 0.002) in depth")

    # a trailing SELL STOP_LOSS without a stop price: trails from placement (last = ice_price)
    bid = _order(api, b, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.002",
                 price=str(p * Decimal("0.95")), newOrderRespType="RESULT")
    assert bid.json["status"] == "NEW", bid.json
    stop = _order(api, a, side="SELL", type="STOP_LOSS", quantity="0.002", trailingDelta="100",
                  newOrderRespType="RESULT")
    assert stop.status_code == 200, stop.json
    assert stop.json["trailingDelta"] == 100 and stop.json["trailingTime"] > 0, stop.json  # active at once
    # the iceberg's last 0.005: up to 1.05 P, then a trade at 1% below fires the stop
    high = _order(api, b, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.005", price=str(ice_price),
                  newOrderRespType="RESULT")
    assert high.json["status"] == "FILLED", high.json
    assert _get(api, a, ice.json["orderId"])["status"] == "FILLED"
    below = ice_price * Decimal("0.99")
    ask = _order(api, a, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.001", price=str(below))
    assert ask.status_code == 200, ask.json
    hit = _order(api, b, side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.001", price=str(below),
                 newOrderRespType="RESULT")
    assert hit.json["status"] == "FILLED", hit.json
    fired = _wait(lambda: (lambda o: o if o["status"] == "FILLED" else None)(_get(api, a, stop.json["orderId"])),
                  "the trailing stop fires and sells")
    assert fired["executedQty"] == "0.00200000" and fired["trailingDelta"] == 100 and fired["trailingTime"] > 0
    assert Decimal(fired["cummulativeQuoteQty"]) == p * Decimal("0.95") * Decimal("0.002")  # into the bid
    assert _get(api, b, bid.json["orderId"])["status"] == "FILLED"
    for user in pair:  # nothing stays locked
        bal = {x["asset"]: x for x in api.signed("GET", "/v3/account", user).json["balances"]}
        assert bal["BTC"]["locked"] == bal["USDT"]["locked"] == "0.00000000", bal


def test_buy_trailing_stop_reserves_a_bound(api, matcher, pair):
    """A BUY trailing STOP_LOSS with a stop price reserves quantity x stop x (1 + delta)
    x 1.05 (market protection), rounded up to a tick."""
    a, _ = pair
    p = _band(api)
    r = _order(api, a, side="BUY", type="STOP_LOSS", quantity="0.01", stopPrice=str(p * 2), trailingDelta="200",
               newOrderRespType="ACK")
    assert r.status_code == 200, r.json
    bal = {x["asset"]: x for x in api.signed("GET", "/v3/account", a).json["balances"]}
    cap = (p * 2 * Decimal("1.02") * Decimal("1.05")).quantize(Decimal("0.01"))
    assert Decimal(bal["USDT"]["locked"]) == cap * Decimal("0.01")
    api.signed("DELETE", "/v3/order", a, {"symbol": SYMBOL, "orderId": r.json["orderId"]})
