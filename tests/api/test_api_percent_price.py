"""PERCENT_PRICE_BY_SIDE (filters.md): listed in exchangeInfo from the symbol's spec
(symbols.json: ETHBTC carries it) and enforced at order entry against the average
price of the filter's ``avgPriceMins`` -- the same number ``GET /api/v3/avgPrice``
reports -- per side, bounds inclusive; orders without a price are not checked."""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal as D

import pytest

from tests.api.conftest import make_user
from tests.api.test_api_cancels import Http

SYM = "ETHBTC"
TICK = D("0.00001")
REFUSED = {"code": -1013, "msg": "Filter failure: PERCENT_PRICE_BY_SIDE"}


@pytest.fixture(scope="module")
def http(web_url, matcher):
    return Http(web_url)


def test_exchange_info_lists_the_filter_from_the_spec(http):
    _, info = http.call("GET", "/v3/exchangeInfo", None, {"symbols": '["ETHBTC","BTCUSDT"]'})
    by = {s["symbol"]: [f["filterType"] for f in s["filters"]] for s in info["symbols"]}
    assert by["ETHBTC"] == ["PRICE_FILTER", "LOT_SIZE", "ICEBERG_PARTS", "MARKET_LOT_SIZE", "TRAILING_DELTA",
                            "PERCENT_PRICE_BY_SIDE", "NOTIONAL", "MAX_NUM_ALGO_ORDERS", "MAX_NUM_ICEBERG_ORDERS"]
    assert "PERCENT_PRICE_BY_SIDE" not in by["BTCUSDT"]
    f = next(f for s in info["symbols"] if s["symbol"] == SYM for f in s["filters"]
             if f["filterType"] == "PERCENT_PRICE_BY_SIDE")
    assert f == {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
                 "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5}


def test_order_prices_are_bounded_by_side_around_the_average_price(http):
    seller, buyer = make_user("pp-s", {"ETH": "10"}), make_user("pp-b", {"BTC": "1"})
    # a trade, so that the symbol has a reference price whatever ran before
    status, _ = http.call("POST", "/v3/order", seller, {"symbol": SYM, "side": "SELL", "type": "LIMIT",
                                                        "timeInForce": "GTC", "quantity": "0.1", "price": "0.05"})
    assert status == 200
    status, fill = http.call("POST", "/v3/order", buyer, {"symbol": SYM, "side": "BUY", "type": "LIMIT",
                                                          "timeInForce": "IOC", "quantity": "0.1", "price": "0.05",
                                                          "newOrderRespType": "RESULT"})
    assert status == 200 and fill["executedQty"] == "0.10000000", fill
    _, avg = http.call("GET", "/v3/avgPrice", None, {"symbol": SYM})
    ref = D(avg["price"])
    assert ref > 0

    def test_order(user, side, price, **extra):
        return http.call("POST", "/v3/order/test", user, {"symbol": SYM, "side": side, "type": "LIMIT",
                                                          "timeInForce": "GTC", "quantity": "0.1",
                                                          "price": str(price), **extra})

    high = (ref * 5).quantize(TICK, rounding=ROUND_FLOOR)  # both sides' up multiplier is 5
    low = (ref * D("0.2")).quantize(TICK, rounding=ROUND_CEILING)
    for side, user in (("BUY", buyer), ("SELL", seller)):
        assert test_order(user, side, high) == (200, {}), side
        assert test_order(user, side, low) == (200, {}), side
        assert test_order(user, side, high + TICK) == (400, REFUSED), side
        assert test_order(user, side, low - TICK) == (400, REFUSED), side
    # a stop-limit's price is checked; a MARKET order has none
    stop = str((ref * 2).quantize(TICK))
    assert test_order(buyer, "BUY", high + TICK, type="STOP_LOSS_LIMIT", stopPrice=stop) == (400, REFUSED)
    assert http.call("POST", "/v3/order/test", seller, {"symbol": SYM, "side": "SELL", "type": "MARKET",
                                                        "quantity": "0.1"}) == (200, {})
    # a real order out of bounds is refused with nothing reserved
    status, body = http.call("POST", "/v3/order", buyer, {"symbol": SYM, "side": "BUY", "type": "LIMIT",
                                                          "timeInForce": "GTC", "quantity": "0.1",
                                                          "price": str(low - TICK)})
    assert (status, body) == (400, REFUSED)
    _, acct = http.call("GET", "/v3/account", buyer)
    assert next(b["locked"] for b in acct["balances"] if b["asset"] == "BTC") == "0.00000000"


def test_the_filter_holds_while_redis_is_down(http, monkeypatch):
    """With the market-data cache unreachable (a real client at a closed port), the
    reference price comes from Aurora's trades: an order far above it is still refused,
    one at it still passes -- never refused for want of market data, never waved through."""
    import redis

    from chalicelib import marketstats, orders
    from chalicelib.clock import now_ms
    from chalicelib.errors import ExchangeError
    from chalicelib.symbols import spec_of
    from tests.conftest import free_port

    spec = spec_of(SYM)
    ref = marketstats.average_price(SYM, spec.percent_price_by_side.avg_price_mins, now_ms())
    assert ref, "an earlier test traded ETHBTC"
    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setattr(marketstats, "_redis", lambda: dead)
    orders.check_percent_price_by_side(spec, "BUY", ref.quantize(TICK))
    with pytest.raises(ExchangeError) as refused:
        orders.check_percent_price_by_side(spec, "BUY", (ref * 10).quantize(TICK))
    assert refused.value.failure.body() == REFUSED
