"""ccxt's stock ``binance`` class places an iceberg and a trailing stop unchanged
(Binance's own parameters passed through ``params``), against the local API with the
matcher running, and reads them back."""
from __future__ import annotations

import pytest

from tests.api.conftest import make_user
from tests.api.test_api_ccxt import _client


@pytest.fixture(scope="module")
def trader(web_url, matcher):
    return _client(web_url, make_user("ccxt-ice", {"BTC": "1", "USDT": "100000"}))


def test_ccxt_places_an_iceberg_and_a_trailing_stop(trader):
    ex = trader
    ex.load_markets()
    ice = ex.create_order("BTC/USDT", "limit", "sell", 0.01, 900000, {"icebergQty": "0.002"})
    got = ex.fetch_order(ice["id"], "BTC/USDT")
    assert got["info"]["icebergQty"] == "0.00200000" and got["status"] == "open", got["info"]
    trail = ex.create_order("BTC/USDT", "STOP_LOSS_LIMIT", "sell", 0.001, 10000, {"trailingDelta": 250,
                                                                               "timeInForce": "GTC"})
    got = ex.fetch_order(trail["id"], "BTC/USDT")
    assert got["info"]["trailingDelta"] == 250 and got["info"]["type"] == "STOP_LOSS_LIMIT", got["info"]
    for order in (ice, trail):
        ex.cancel_order(order["id"], "BTC/USDT")
    assert ex.fetch_open_orders("BTC/USDT") == []
