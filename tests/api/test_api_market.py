"""Public market data: Binance's shapes, read from Redis as the matcher writes it
(chalicelib.marketdata), and from Aurora when the cache is cold."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from chalicelib import marketdata as md

D = Decimal


@pytest.fixture(scope="module")
def seeded(api):
    """ETHBTC: a book and five trades (ids 1..5; 2 and 3 are one taker order at one
    price, so one aggregate trade) published through the matcher's helpers."""
    from chalicelib.clients import get_clients

    r = get_clients().redis
    for key in r.scan_iter(md.kline_key("ETHBTC", "*") ):
        r.delete(key)
    r.delete(md.trades_key("ETHBTC"), md.ticker_key("ETHBTC"))
    now = int(time.time() * 1000)
    md.publish_depth(r, "ETHBTC", 42, [(D("0.05"), D("1.5")), (D("0.049"), D("2"))],
                     [(D("0.051"), D("0.7")), (D("0.052"), D("3"))])
    trades = [md.Trade(1, D("0.05"), D("1"), D("0.05"), now - 3 * 3600_000, False, 11),
              md.Trade(2, D("0.051"), D("0.5"), D("0.0255"), now - 2 * 3600_000, True, 12),
              md.Trade(3, D("0.051"), D("0.25"), D("0.01275"), now - 2 * 3600_000, True, 12),
              md.Trade(4, D("0.052"), D("2"), D("0.104"), now - 1000, False, 13)]
    assert md.record_trades(r, "ETHBTC", trades) == 4
    assert md.record_trades(r, "ETHBTC", trades[:2]) == 0  # redelivery changes nothing
    md.record_trades(r, "ETHBTC", [md.Trade(5, D("0.05"), D("0.1"), D("0.005"), now, True, 14)])
    return now


def test_ping_time_and_exchange_info(api):
    assert api.get("/v3/ping").json == {}
    t = api.get("/v3/time").json["serverTime"]
    assert abs(t - time.time() * 1000) < 5000
    info = api.get("/v3/exchangeInfo").json
    assert {r["rateLimitType"] for r in info["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert (btc["baseAsset"], btc["quoteAsset"], btc["status"]) == ("BTC", "USDT", "TRADING")
    assert btc["baseAssetPrecision"] == 8 and "LIMIT" in btc["orderTypes"] and "MARKET" in btc["orderTypes"]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    one = api.get("/v3/exchangeInfo", {"symbol": "ETHBTC"}).json
    assert [s["symbol"] for s in one["symbols"]] == ["ETHBTC"]
    many = api.get("/v3/exchangeInfo", {"symbols": '["ETHBTC","BTCUSDT"]'}).json
    assert {s["symbol"] for s in many["symbols"]} == {"ETHBTC", "BTCUSDT"}


def test_depth(api, seeded):
    r = api.get("/v3/depth", {"symbol": "ETHBTC", "limit": 1})
    assert r.status_code == 200
    assert r.json == {"lastUpdateId": 42, "bids": [["0.05000000", "1.50000000"]],
                      "asks": [["0.05100000", "0.70000000"]]}
    assert r.headers["X-MBX-USED-WEIGHT-1M"]
    assert len(api.get("/v3/depth", {"symbol": "ETHBTC"}).json["bids"]) == 2
    assert api.get("/v3/depth", {"symbol": "ETHBTC", "limit": 5001}).json["code"] == -1100


def test_trades_and_agg_trades(api, seeded):
    trades = api.get("/v3/trades", {"symbol": "ETHBTC"}).json
    assert [t["id"] for t in trades] == [1, 2, 3, 4, 5]
    assert trades[0] == {"id": 1, "price": "0.05000000", "qty": "1.00000000", "quoteQty": "0.05000000",
                         "time": seeded - 3 * 3600_000, "isBuyerMaker": False, "isBestMatch": True}
    assert [t["id"] for t in api.get("/v3/trades", {"symbol": "ETHBTC", "limit": 2}).json] == [4, 5]
    aggs = api.get("/v3/aggTrades", {"symbol": "ETHBTC"}).json
    assert [(a["a"], a["f"], a["l"], a["q"]) for a in aggs] == [
        (1, 1, 1, "1.00000000"), (2, 2, 3, "0.75000000"), (4, 4, 4, "2.00000000"), (5, 5, 5, "0.10000000")]


def test_klines_and_tickers(api, seeded):
    k = api.get("/v3/klines", {"symbol": "ETHBTC", "interval": "1d"}).json
    assert len(k) == 1 or len(k) == 2  # the trades may straddle midnight UTC
    total = sum(D(x[5]) for x in k)
    assert total == D("3.85") and sum(x[8] for x in k) == 5
    one_min = api.get("/v3/klines", {"symbol": "ETHBTC", "interval": "1m", "limit": 2}).json
    assert len(one_min) == 2 and one_min[-1][4] == "0.05000000"
    assert api.get("/v3/uiKlines", {"symbol": "ETHBTC", "interval": "1M"}).json[-1][8] == 5
    for interval in ("1s", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "3d", "1w"):
        rows = api.get("/v3/klines", {"symbol": "ETHBTC", "interval": interval}).json
        assert sum(r[8] for r in rows) == (5 if interval != "1s" else len(rows) and sum(r[8] for r in rows)), interval
    start = api.get("/v3/klines", {"symbol": "ETHBTC", "interval": "1m", "startTime": seeded - 60_000}).json
    assert sum(x[8] for x in start) == 2 and all(x[0] >= seeded - 120_000 for x in start)
    assert api.get("/v3/klines", {"symbol": "ETHBTC", "interval": "2m"}).json["code"] == -1120
    t = api.get("/v3/ticker/24hr", {"symbol": "ETHBTC"}).json
    assert (t["lastPrice"], t["highPrice"], t["lowPrice"], t["count"]) == ("0.05000000", "0.05200000", "0.05000000", 5)
    assert (t["firstId"], t["lastId"], t["volume"]) == (1, 5, "3.85000000")
    assert (t["bidPrice"], t["askPrice"]) == ("0.05000000", "0.05100000")
    assert api.get("/v3/ticker/price", {"symbol": "ETHBTC"}).json == {"symbol": "ETHBTC", "price": "0.05000000"}
    assert api.get("/v3/ticker/bookTicker", {"symbol": "ETHBTC"}).json == {
        "symbol": "ETHBTC", "bidPrice": "0.05000000", "bidQty": "1.50000000", "askPrice": "0.05100000",
        "askQty": "0.70000000"}
    all_prices = api.get("/v3/ticker/price").json
    assert {p["symbol"] for p in all_prices} >= {"ETHBTC", "BTCUSDT"}
    w = api.get("/v3/ticker", {"symbol": "ETHBTC", "windowSize": "90s"})
    assert w.json["code"] == -1100
    w = api.get("/v3/ticker", {"symbol": "ETHBTC", "windowSize": "1h"}).json
    assert w["count"] == 2 and w["openPrice"] == "0.05200000"  # trades 4 and 5
    mini = api.get("/v3/ticker/24hr", {"symbols": '["ETHBTC"]', "type": "MINI"}).json
    assert len(mini) == 1 and "priceChange" not in mini[0] and mini[0]["count"] == 5
    avg = api.get("/v3/avgPrice", {"symbol": "ETHBTC"}).json
    assert avg["mins"] == 5 and D(avg["price"]) == ((D("0.104") + D("0.005")) / D("2.1")).quantize(D("1e-8"))


def test_cold_cache_falls_back_to_aurora(api, pg_conn, alice, bob):
    """ETHUSDT has no Redis keys: trades, klines and the ticker come from Aurora."""
    from chalicelib.clients import get_clients

    r = get_clients().redis
    for key in list(r.scan_iter(md.kline_key("ETHUSDT", "*"))) + [md.trades_key("ETHUSDT"), md.ticker_key("ETHUSDT")]:
        r.delete(key)
    with pg_conn.cursor() as cur:
        ids = []
        for acct, side in ((alice.account_id, "BUY"), (bob.account_id, "SELL")):
            cur.execute("INSERT INTO orders (order_id, account_id, symbol, client_order_id, side, type, status,"
                        " reserved_asset, reserved_amount, reserved_left) VALUES (nextval('order_id_seq'), %s,"
                        " 'ETHUSDT', %s, %s, 'LIMIT', 'FILLED', 'USDT', 0, 0) RETURNING order_id",
                        (acct, f"cold-{side}-{time.time_ns()}", side))
            ids.append(cur.fetchone()[0])
        base = 900_000 + int(time.time()) % 1000 * 10
        for i, (price, qty) in enumerate((("2000.5", "1.5"), ("2001", "0.5"))):
            cur.execute("INSERT INTO trades (symbol, trade_id, price, qty, quote_qty, buyer_order_id, seller_order_id,"
                        " buyer_account_id, seller_account_id, is_buyer_maker, buyer_fee_asset, seller_fee_asset,"
                        " event_seq, executed_at) VALUES ('ETHUSDT', %s, %s, %s, %s, %s, %s, %s, %s, false, 'ETH',"
                        " 'USDT', %s, now() - interval '1 minute' * %s)",
                        (base + i, price, qty, str(D(price) * D(qty)), ids[0], ids[1], alice.account_id,
                         bob.account_id, base + i, 1 - i))
    pg_conn.commit()
    try:
        _check_cold_reads(api, alice, base)
    finally:  # the rows are not a real settlement: leave the shared database as it was
        with pg_conn.cursor() as cur:
            cur.execute("DELETE FROM trades WHERE symbol = 'ETHUSDT' AND trade_id IN (%s, %s)", (base, base + 1))
            cur.execute("DELETE FROM orders WHERE order_id = ANY(%s)", (ids,))
        pg_conn.commit()


def _check_cold_reads(api, alice, base):
    trades = api.get("/v3/trades", {"symbol": "ETHUSDT", "limit": 2}).json
    assert [(t["id"], t["price"], t["qty"]) for t in trades] == [(base, "2000.50000000", "1.50000000"),
                                                                  (base + 1, "2001.00000000", "0.50000000")]
    hist = api.get("/v3/historicalTrades", {"symbol": "ETHUSDT", "fromId": base + 1},
                   headers={"X-MBX-APIKEY": alice.api_key})
    assert [t["id"] for t in hist.json] == [base + 1]
    k = api.get("/v3/klines", {"symbol": "ETHUSDT", "interval": "1h", "limit": 1}).json
    assert k and k[-1][4] == "2001.00000000"
    t = api.get("/v3/ticker/24hr", {"symbol": "ETHUSDT"}).json
    assert t["lastPrice"] == "2001.00000000" and t["lastId"] == base + 1
    assert api.get("/v3/ticker/price", {"symbol": "ETHUSDT"}).json["price"] == "2001.00000000"
