"""Every market stream's payload, fed through the matcher's own Redis publishing
helpers (``chalicelib.marketdata``) and compared with the REST route that shows the
same data: the field set and formats Binance documents, and the same values."""
from __future__ import annotations

import json
import time
from decimal import Decimal as D

import pytest
from websockets.sync.client import connect

from chalicelib import marketdata as md
from tests.gateway.conftest import recv_until, request

SYM = "ETHBTC"


@pytest.fixture(scope="module")
def redis(exchange_env):
    """The session's Redis; ETHBTC's market-data keys are restored afterwards, so the
    synthetic book and trade ids published here cannot leak into later test folders
    (record_trades skips ids at or below the last one recorded)."""
    import redis as redis_lib

    from chalicelib.clients import get_clients

    r = get_clients().redis
    raw = redis_lib.Redis.from_url(get_clients().settings.redis_url)  # bytes: DUMP/RESTORE
    keys = [md.depth_key(SYM), md.trades_key(SYM), md.ticker_key(SYM)] + \
        [md.kline_key(SYM, i) for i in md.INTERVALS]
    saved = {k: raw.dump(k) for k in keys}
    yield r
    for k, blob in saved.items():
        raw.delete(k)
        if blob is not None:
            raw.restore(k, 0, blob)


def _next_update_id(redis) -> int:
    snap = md.read_depth(redis, SYM)
    return (snap["lastUpdateId"] if snap else 0) + 1


def _next_trade_id(redis) -> int:
    last = md.read_last(redis, SYM)
    return (int(last["lastId"]) if last else 0) + 1


def _is_num_text(v) -> bool:
    return isinstance(v, str) and D(v) >= 0 and "." in v


def test_depth_streams(gateway, api, redis):
    names = ["ethbtc@depth@100ms", "ethbtc@depth", "ethbtc@depth5", "ethbtc@depth10@100ms", "ethbtc@bookTicker"]
    # a prelude book unlike the test's first one (a snapshot equal to the stored one is
    # an empty diff, which is not sent)
    md.publish_depth(redis, SYM, _next_update_id(redis), [(D("0.01"), D("9.99"))], [(D("0.09"), D("9.99"))])
    with connect(f"{gateway.url}/stream?streams={'/'.join(names)}") as ws:
        u0 = _next_update_id(redis)
        md.publish_depth(redis, SYM, u0, [(D("0.05"), D("1.5")), (D("0.049"), D("2"))],
                         [(D("0.051"), D("0.7")), (D("0.052"), D("3"))])
        # the prelude's own diff may still reach a connection that subscribed just before
        # the gateway read it: skip it (it ends before u0)
        first = recv_until(ws, lambda m: m["stream"] == "ethbtc@depth@100ms" and m["data"]["u"] >= u0)["data"]
        assert set(first) == {"e", "E", "s", "U", "u", "b", "a"}
        assert first["e"] == "depthUpdate" and first["s"] == SYM and first["u"] == u0 and first["U"] <= u0
        assert isinstance(first["E"], int) and abs(first["E"] - time.time() * 1000) < 10_000
        assert ["0.05000000", "1.50000000"] in first["b"] and ["0.05100000", "0.70000000"] in first["a"]
        # two more batches at once: the 100 ms stream merges or sends them apart, never with a gap
        md.publish_depth(redis, SYM, u0 + 1, [(D("0.05"), D("1")), (D("0.049"), D("2"))],
                         [(D("0.051"), D("0.7")), (D("0.052"), D("3"))])
        md.publish_depth(redis, SYM, u0 + 2, [(D("0.05"), D("1"))], [(D("0.0505"), D("0.1")), (D("0.051"), D("0.7"))])
        fast, slow, last = [first], [], {}
        deadline = time.time() + 6
        while time.time() < deadline and not (fast[-1]["u"] == u0 + 2 and slow and slow[-1]["u"] == u0 + 2
                                              and "ethbtc@depth5" in last and "ethbtc@depth10@100ms" in last
                                              and last["ethbtc@depth5"]["lastUpdateId"] == u0 + 2
                                              and last.get("ethbtc@bookTicker", {}).get("u") == u0 + 2):
            m = recv_until(ws, lambda m: True, timeout=deadline - time.time())
            if m["stream"] == "ethbtc@depth@100ms":
                assert m["data"]["U"] == fast[-1]["u"] + 1, (fast, m)
                fast.append(m["data"])
            elif m["stream"] == "ethbtc@depth":
                assert not slow or m["data"]["U"] == slow[-1]["u"] + 1
                slow.append(m["data"])
            last[m["stream"]] = m["data"]
        assert fast[-1]["u"] == u0 + 2 and slow[-1]["u"] == u0 + 2
        rest = api.get("/v3/depth", {"symbol": SYM, "limit": 5}).json
        assert rest["lastUpdateId"] == u0 + 2
        assert last["ethbtc@depth5"] == rest  # {"lastUpdateId", "bids", "asks"}, top 5
        assert last["ethbtc@depth10@100ms"] == api.get("/v3/depth", {"symbol": SYM, "limit": 10}).json
        assert fast[-1]["a"] and ["0.04900000", "0.00000000"] in fast[-1]["b"] + fast[-2]["b"]
        bt = last["ethbtc@bookTicker"]
        rest_bt = api.get("/v3/ticker/bookTicker", {"symbol": SYM}).json
        assert bt == {"u": u0 + 2, "s": SYM, "b": rest_bt["bidPrice"], "B": rest_bt["bidQty"],
                      "a": rest_bt["askPrice"], "A": rest_bt["askQty"]}
        for ev in fast + slow:
            for p, q in ev["b"] + ev["a"]:
                assert _is_num_text(p) and _is_num_text(q)


def _candle(got: dict, interval: str, trade_ms: int, last_id: int) -> dict | None:
    """The last event of the candle that holds ``trade_ms`` once it includes trade
    ``last_id`` (the one sent on subscribing may predate the trades)."""
    evs = [e for e in got[f"ethbtc@kline_{interval}"]
           if e["k"]["t"] == md.kline_open(interval, trade_ms) and e["k"]["L"] == last_id]
    return evs[-1] if evs else None


def test_trade_aggtrade_and_kline_streams(gateway, api, redis):
    names = ["ethbtc@trade", "ethbtc@aggTrade", "ethbtc@kline_1m", "ethbtc@kline_1s"]
    with connect(f"{gateway.url}/stream?streams={'/'.join(names)}") as ws:
        t0 = _next_trade_id(redis)
        now = int(time.time() * 1000)
        trades = [md.Trade(t0, D("0.05"), D("1"), D("0.05"), now, False, 901),
                  md.Trade(t0 + 1, D("0.051"), D("0.5"), D("0.0255"), now, True, 902),
                  md.Trade(t0 + 2, D("0.051"), D("0.25"), D("0.01275"), now, True, 902)]
        assert md.record_trades(redis, SYM, trades) == 3
        got: dict[str, list] = {n: [] for n in names}
        deadline = time.time() + 8
        while time.time() < deadline and not (len(got["ethbtc@trade"]) >= 3 and len(got["ethbtc@aggTrade"]) >= 2
                                              and all(_candle(got, i, now, t0 + 2) for i in ("1m", "1s"))):
            m = recv_until(ws, lambda m: True, timeout=deadline - time.time())
            got[m["stream"]].append(m["data"])
    tr = got["ethbtc@trade"]
    assert [t["t"] for t in tr] == [t0, t0 + 1, t0 + 2]
    for ev in tr:
        assert set(ev) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"} and ev["e"] == "trade" and ev["s"] == SYM
        assert isinstance(ev["E"], int) and ev["T"] == now and ev["M"] is True
    rest_trades = {t["id"]: t for t in api.get("/v3/trades", {"symbol": SYM, "limit": 5}).json}
    for ev in tr:
        r = rest_trades[ev["t"]]
        assert (ev["p"], ev["q"], ev["T"], ev["m"]) == (r["price"], r["qty"], r["time"], r["isBuyerMaker"])
    aggs = got["ethbtc@aggTrade"]
    rest_aggs = {a["a"]: a for a in api.get("/v3/aggTrades", {"symbol": SYM, "limit": 5}).json}
    assert [(a["a"], a["f"], a["l"]) for a in aggs] == [(t0, t0, t0), (t0 + 1, t0 + 1, t0 + 2)]
    for ev in aggs:
        assert set(ev) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"} and ev["e"] == "aggTrade"
        assert {k: ev[k] for k in ("a", "p", "q", "f", "l", "T", "m", "M")} == rest_aggs[ev["a"]]
    for interval in ("1m", "1s"):
        ev = _candle(got, interval, now, t0 + 2)  # the candle of the trades (a 1 s one may be closed by now)
        assert set(ev) == {"e", "E", "s", "k"} and ev["e"] == "kline" and ev["s"] == SYM
        k = ev["k"]
        assert set(k) == {"t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"}
        assert k["i"] == interval and k["L"] == t0 + 2 and k["c"] == "0.05100000"
        row = api.get("/v3/klines", {"symbol": SYM, "interval": interval, "startTime": k["t"],
                                         "limit": 1}).json[0]
        assert [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"]] == row[:11]
        assert k["f"] == k["L"] - k["n"] + 1


def test_ticker_streams(gateway, api, redis):
    names = ["ethbtc@ticker", "ethbtc@miniTicker", "!ticker@arr", "!miniTicker@arr"]
    with connect(f"{gateway.url}/ws") as ws:
        assert request(ws, "SUBSCRIBE", names, 1) == {"result": None, "id": 1}
        assert request(ws, "SET_PROPERTY", ["combined", True], 2) == {"result": None, "id": 2}
        got = {}
        deadline = time.time() + 8
        while time.time() < deadline and len(got) < 4:
            m = recv_until(ws, lambda m: "stream" in m, timeout=deadline - time.time())
            got[m["stream"]] = m["data"]
    rest = api.get("/v3/ticker/24hr", {"symbol": SYM}).json
    full = got["ethbtc@ticker"]
    assert list(full) == ["e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q",
                          "O", "C", "F", "L", "n"]
    assert full["e"] == "24hrTicker" and full["s"] == SYM and full["C"] - full["O"] == 86_400_000
    pairs = {"p": "priceChange", "P": "priceChangePercent", "w": "weightedAvgPrice", "x": "prevClosePrice",
             "c": "lastPrice", "Q": "lastQty", "b": "bidPrice", "B": "bidQty", "a": "askPrice", "A": "askQty",
             "o": "openPrice", "h": "highPrice", "l": "lowPrice", "v": "volume", "q": "quoteVolume", "F": "firstId",
             "L": "lastId", "n": "count"}
    assert {k: full[k] for k in pairs} == {k: rest[v] for k, v in pairs.items()}
    mini = got["ethbtc@miniTicker"]
    assert mini == {"e": "24hrMiniTicker", "E": mini["E"], "s": SYM, "c": rest["lastPrice"], "o": rest["openPrice"],
                    "h": rest["highPrice"], "l": rest["lowPrice"], "v": rest["volume"], "q": rest["quoteVolume"]}
    arr = {t["s"]: t for t in got["!ticker@arr"]}
    assert SYM in arr and arr[SYM]["c"] == full["c"] and arr[SYM]["e"] == "24hrTicker"
    assert {t["e"] for t in got["!miniTicker@arr"]} == {"24hrMiniTicker"}


def _next_message(pubsub) -> dict:
    deadline = time.time() + 5
    while time.time() < deadline:
        m = pubsub.get_message(timeout=0.5)  # None also for the subscribe confirmation
        if m is not None:
            return json.loads(m["data"])
    raise AssertionError("nothing published")


def test_publish_depth_diffs_and_a_flushed_cache(gateway, redis):
    """The matcher's diff: U = previous lastUpdateId + 1, levels that left at quantity 0;
    with no stored snapshot it diffs from the empty book (U = 1), and a gateway that
    has seen the symbol before turns that into a new chain (U = u) so clients re-sync."""
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(md.channel(SYM))
    try:
        with connect(f"{gateway.url}/ws/ethbtc@depth@100ms") as ws:
            u = _next_update_id(redis)
            md.publish_depth(redis, SYM, u, [(D("0.04"), D("1"))], [(D("0.06"), D("2")), (D("0.07"), D("1"))])
            md.publish_depth(redis, SYM, u + 2, [(D("0.04"), D("1"))], [(D("0.06"), D("2"))])
            msgs = [_next_message(pubsub), _next_message(pubsub)]
            assert msgs[1] == {"e": "depth", "s": SYM, "E": msgs[1]["E"], "U": u + 1, "u": u + 2, "b": [],
                               "a": [["0.07000000", "0.00000000"]]}
            assert recv_until(ws, lambda m: m["u"] == u + 2)["U"] <= u + 1
            redis.delete(md.depth_key(SYM))  # a flushed cache
            md.publish_depth(redis, SYM, u + 5, [(D("0.04"), D("1"))], [(D("0.06"), D("2"))])
            raw = _next_message(pubsub)
            assert (raw["U"], raw["u"]) == (1, u + 5)
            ev = recv_until(ws, lambda m: m["u"] == u + 5)
            assert ev["U"] == u + 5  # a gap for every client holding an older snapshot
    finally:
        pubsub.close()


def test_rolling_window_ticker_and_avg_price_streams(gateway, api, redis):
    names = ["ethbtc@ticker_1h", "!ticker_4h@arr", "ethbtc@avgPrice"]
    now = int(time.time() * 1000)
    t0 = _next_trade_id(redis)
    md.record_trades(redis, SYM, [md.Trade(t0, D("0.0525"), D("2"), D("0.105"), now, False, 990)])
    with connect(f"{gateway.url}/stream?streams={'/'.join(names)}") as ws:
        got = {}
        deadline = time.time() + 8
        while time.time() < deadline and len(got) < 3:
            m = recv_until(ws, lambda m: True, timeout=deadline - time.time())
            got[m["stream"]] = m["data"]
    rest = api.get("/v3/ticker", {"symbol": SYM, "windowSize": "1h"}).json
    ev = got["ethbtc@ticker_1h"]
    assert list(ev) == ["e", "E", "s", "p", "P", "o", "h", "l", "c", "w", "v", "q", "O", "C", "F", "L", "n"]
    assert ev["e"] == "1hTicker" and ev["s"] == SYM and ev["C"] - ev["O"] == 3_600_000 and ev["L"] == t0
    pairs = {"p": "priceChange", "P": "priceChangePercent", "o": "openPrice", "h": "highPrice", "l": "lowPrice",
             "c": "lastPrice", "w": "weightedAvgPrice", "v": "volume", "q": "quoteVolume", "F": "firstId",
             "L": "lastId", "n": "count"}
    assert {k: ev[k] for k in pairs} == {k: rest[v] for k, v in pairs.items()}
    arr = {t["s"]: t for t in got["!ticker_4h@arr"]}
    assert arr[SYM]["e"] == "4hTicker" and arr[SYM]["c"] == "0.05250000"
    avg = got["ethbtc@avgPrice"]
    rest_avg = api.get("/v3/avgPrice", {"symbol": SYM}).json
    assert avg == {"e": "avgPrice", "E": avg["E"], "s": SYM, "i": "5m", "w": rest_avg["price"], "T": now}


def test_kline_closes_and_empty_candles(gateway, redis):
    """A candle's final event has x = true; a candle with no trade yet repeats the last
    close with zero volume and f = L = -1 (Binance's behaviour)."""
    with connect(f"{gateway.url}/ws/ethbtc@kline_1s") as ws:
        t0 = _next_trade_id(redis)
        now = int(time.time() * 1000)
        md.record_trades(redis, SYM, [md.Trade(t0, D("0.0531"), D("1"), D("0.0531"), now, True, 995)])
        opened = md.kline_open("1s", now)
        closed = recv_until(ws, lambda m: m["k"]["t"] == opened and m["k"]["x"], timeout=10)["k"]
        assert (closed["c"], closed["L"], closed["T"]) == ("0.05310000", t0, opened + 999)
        empty = recv_until(ws, lambda m: m["k"]["t"] > opened, timeout=10)["k"]
        assert empty["n"] == 0 and empty["f"] == -1 and empty["L"] == -1 and not empty["x"]
        assert empty["o"] == empty["h"] == empty["l"] == empty["c"] == "0.05310000" and empty["v"] == "0.00000000"


def test_notifications_received_together_reach_every_subscriber_in_order(gateway, redis):
    """Notifications the gateway reads from Redis at once are handed over as one batch
    and written to each connection in one go: every frame still arrives, whole and in
    publish order, on raw and combined connections alike."""
    with connect(f"{gateway.url}/ws/ethbtc@trade") as raw, \
            connect(f"{gateway.url}/stream?streams=ethbtc@trade/ethbtc@depth@100ms") as comb:
        # ids below any real one: the gateway's last trade id (its klines' "L") stays as it was
        t0, now = -4, int(time.time() * 1000)
        pipe = redis.pipeline(transaction=True)  # delivered back to back to the gateway's subscription
        for i in range(4):
            doc = {"id": t0 + i, "price": "0.05000000", "qty": "1.00000000", "quoteQty": "0.05000000",
                   "time": now, "isBuyerMaker": False, "isBestMatch": True, "o": 1}
            pipe.publish(md.channel(SYM), json.dumps({"e": "trade", "s": SYM, "t": [doc]}))
        pipe.execute()
        got_raw = [recv_until(raw, lambda m: m["t"] < 0)["t"]] + [json.loads(raw.recv(5))["t"] for _ in range(3)]
        got_comb = []
        while len(got_comb) < 4:
            m = recv_until(comb, lambda m: m["stream"] == "ethbtc@trade" and m["data"]["t"] < 0)
            assert set(m) == {"stream", "data"}
            got_comb.append(m["data"]["t"])
    assert got_raw == got_comb == [t0, t0 + 1, t0 + 2, t0 + 3]
