"""Conformance with a real client: ccxt's stock ``binance`` class, pointed at the local
API (over HTTP through devstack.web's front door), spot only."""
from __future__ import annotations

import time

import pytest

from tests.api.conftest import make_user


def _client(web_url: str, user) -> "object":
    import ccxt

    ex = ccxt.binance({
        "apiKey": user.api_key, "secret": user.secret, "enableRateLimit": False, "timeout": 20000,
        "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                    "adjustForTimeDifference": False, "warnOnFetchOpenOrdersWithoutSymbol": False,
                    "fetchMargins": False},
    })
    ex.urls["api"]["public"] = f"{web_url}/api/v3"
    ex.urls["api"]["private"] = f"{web_url}/api/v3"
    return ex


@pytest.fixture(scope="module")
def clients(web_url, matcher):
    seller = make_user("ccxt-seller", {"BTC": "2", "USDT": "1000"})
    buyer = make_user("ccxt-buyer", {"USDT": "100000"})
    return _client(web_url, seller), _client(web_url, buyer)


def test_ccxt_binance_end_to_end(clients):
    seller, buyer = clients
    markets = seller.load_markets()
    assert markets["BTC/USDT"]["id"] == "BTCUSDT" and markets["BTC/USDT"]["spot"]
    assert markets["BTC/USDT"]["precision"]["price"] == 0.01
    balance = seller.fetch_balance()
    assert balance["BTC"]["free"] == 2.0 and balance["USDT"]["total"] == 1000.0

    ask = seller.create_order("BTC/USDT", "limit", "sell", 0.01, 30000)
    assert ask["id"] and ask["status"] == "open" and ask["price"] == 30000.0
    fetched = seller.fetch_order(ask["id"], "BTC/USDT")
    assert fetched["id"] == ask["id"] and fetched["amount"] == 0.01
    assert [o["id"] for o in seller.fetch_open_orders("BTC/USDT")] == [ask["id"]]
    deadline = time.time() + 5
    while time.time() < deadline:
        book = buyer.fetch_order_book("BTC/USDT")
        if book["asks"]:
            break
        time.sleep(0.1)
    assert book["asks"][0] == [30000.0, 0.01]

    bought = buyer.create_order("BTC/USDT", "market", "buy", 0.004)
    assert bought["status"] == "closed" and bought["filled"] == 0.004, bought
    assert bought["average"] == 30000.0

    mine = buyer.fetch_my_trades("BTC/USDT")
    assert len(mine) == 1 and mine[0]["side"] == "buy" and mine[0]["amount"] == 0.004 and mine[0]["price"] == 30000
    assert mine[0]["fee"]["currency"] == "BTC"
    theirs = seller.fetch_my_trades("BTC/USDT")
    assert theirs[0]["side"] == "sell" and theirs[0]["takerOrMaker"] == "maker"

    deadline = time.time() + 5
    while time.time() < deadline:
        trades = buyer.fetch_trades("BTC/USDT")
        if trades:
            break
        time.sleep(0.1)
    assert trades[-1]["price"] == 30000.0 and trades[-1]["amount"] == 0.004
    ticker = buyer.fetch_ticker("BTC/USDT")
    assert ticker["last"] == 30000.0 and ticker["ask"] == 30000.0
    tickers = buyer.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    ohlcv = buyer.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert ohlcv and ohlcv[-1][4] == 30000.0 and ohlcv[-1][5] >= 0.004

    canceled = seller.cancel_order(ask["id"], "BTC/USDT")
    assert canceled["status"] == "canceled" and canceled["filled"] == 0.004
    assert seller.fetch_open_orders("BTC/USDT") == []
    after = seller.fetch_balance()
    assert after["BTC"]["total"] == pytest.approx(2 - 0.004) and after["BTC"]["used"] == 0
