"""The stock ccxt pro ``binance`` class (shipped in the installed ccxt package),
pointed at our REST API and the gateway: watch_order_book (diff stream + REST
snapshot, ccxt's own nonce checks), watch_trades, watch_ticker and watch_ohlcv; and its
WebSocket API trading: create_order_ws, fetch_order_ws, fetch_open_orders_ws, cancel_order_ws; and
the user data stream: watch_balance, watch_orders, watch_my_trades."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
import uuid
from decimal import Decimal as D

import pytest

from tests.api.conftest import make_user
from tests.api.test_api_ccxt import point_at_host

SYM = "BTCUSDT"


def _trade_flow(accounts, stop: threading.Event, errors: list) -> None:
    """A maker ask and a taker buy every ~0.3 s, so trades, klines and the book move."""
    from chalicelib import orders

    i = 0
    try:
        while not stop.is_set():
            price = D(31000) + D(i % 7)
            q = D("0.001")
            orders.place_order(accounts[0], orders.OrderRequest(SYM, "SELL", "LIMIT", "GTC", q, None, price, None,
                                                                 f"cx{i}s{uuid.uuid4().hex[:6]}"))
            orders.place_order(accounts[1], orders.OrderRequest(SYM, "BUY", "LIMIT", "GTC", q / 2, None, price, None,
                                                                 f"cx{i}b{uuid.uuid4().hex[:6]}"))
            i += 1
            stop.wait(0.3)
    except Exception as exc:  # surfaced by the test
        errors.append(exc)


def _rest_depth(web_url: str) -> dict:
    with urllib.request.urlopen(f"{web_url}/api/v3/depth?symbol={SYM}&limit=1000", timeout=10) as resp:
        return json.loads(resp.read())


def test_ccxt_pro_watchers(gateway, matcher, web_url, cleanup_orders):
    import ccxt.pro

    seller = make_user("ccxtws-s", {"BTC": "50", "USDT": "10"})
    buyer = make_user("ccxtws-b", {"USDT": "10000000"})
    cleanup_orders.extend([seller.account_id, buyer.account_id])
    stop, errors = threading.Event(), []
    flow = threading.Thread(target=_trade_flow, args=([seller.account_id, buyer.account_id], stop, errors),
                            daemon=True)

    async def run():
        ex = ccxt.pro.binance({"enableRateLimit": False, "timeout": 20000, "options": {
            "defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
            "adjustForTimeDifference": False}})
        ex.urls["api"]["public"] = f"{web_url}/api/v3"
        ex.urls["api"]["private"] = f"{web_url}/api/v3"
        ex.urls["api"]["ws"]["spot"] = f"{gateway.url}/ws"
        try:
            await ex.load_markets()
            flow.start()
            book = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 20)
            assert book["symbol"] == "BTC/USDT" and book["nonce"] >= 0
            trades = await asyncio.wait_for(ex.watch_trades("BTC/USDT"), 20)
            assert trades and trades[-1]["symbol"] == "BTC/USDT" and trades[-1]["amount"] == 0.0005
            assert 31000 <= trades[-1]["price"] <= 31006 and trades[-1]["side"] == "buy"
            ticker = await asyncio.wait_for(ex.watch_ticker("BTC/USDT"), 20)
            assert ticker["symbol"] == "BTC/USDT" and 31000 <= ticker["last"] <= 31006
            assert ticker["baseVolume"] > 0
            ohlcv = await asyncio.wait_for(ex.watch_ohlcv("BTC/USDT", "1m"), 20)
            assert ohlcv and ohlcv[-1][0] % 60_000 == 0 and 31000 <= ohlcv[-1][4] <= 31006 and ohlcv[-1][5] > 0
            for _ in range(5):  # the book keeps following the diffs
                book = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 20)
            stop.set()
            flow.join(10)
            # quiet market: ccxt's book (snapshot + diffs, its own checks) equals REST depth
            deadline = time.time() + 15
            while True:
                rest = _rest_depth(web_url)
                ob = ex.orderbooks["BTC/USDT"]
                if ob["nonce"] == rest["lastUpdateId"] or time.time() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert ob["nonce"] == rest["lastUpdateId"]
            assert [[float(p), float(q)] for p, q in rest["asks"]] == [list(x) for x in ob["asks"]]
            assert [[float(p), float(q)] for p, q in rest["bids"]] == [list(x) for x in ob["bids"]]
        finally:
            stop.set()
            await ex.close()

    asyncio.run(run())
    assert not errors, errors


def test_ccxt_pro_ws_api_orders(gateway, matcher, web_url, api, cleanup_orders):
    """ccxt's WebSocket API trading (order.place, order.status, openOrders.status,
    order.cancel signed per request, as ccxt sends them) against ours; REST agrees."""
    import ccxt.pro

    from chalicelib import orders

    user = make_user("ccxtws-t", {"USDT": "100000", "BTC": "1"})
    bidder = make_user("ccxtws-bid", {"USDT": "1000"})
    cleanup_orders.extend([user.account_id, bidder.account_id])

    async def run():
        ex = ccxt.pro.binance({"apiKey": user.api_key, "secret": user.secret, "enableRateLimit": False,
                               "timeout": 20000, "options": {
                                   "defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                                   "fetchCurrencies": False, "adjustForTimeDifference": False}})
        ws = ex.urls["api"].pop("ws")  # REST (the signed sapi reads of load_markets too) to our API
        point_at_host(ex, web_url)
        ex.urls["api"]["ws"] = {**ws, "ws-api": {**ws["ws-api"], "spot": f"{gateway.url}/ws-api/v3"}}
        try:
            await ex.load_markets()
            placed = await asyncio.wait_for(ex.create_order_ws("BTC/USDT", "limit", "buy", 0.002, 20000), 20)
            assert placed["symbol"] == "BTC/USDT" and placed["status"] == "open" and placed["id"]
            assert (placed["amount"], placed["price"], placed["filled"]) == (0.002, 20000, 0)
            got = await asyncio.wait_for(ex.fetch_order_ws(placed["id"], "BTC/USDT"), 20)
            assert (got["id"], got["status"], got["clientOrderId"]) == (placed["id"], "open", placed["clientOrderId"])
            opens = await asyncio.wait_for(ex.fetch_open_orders_ws("BTC/USDT"), 20)
            assert [o["id"] for o in opens] == [placed["id"]]
            canceled = await asyncio.wait_for(ex.cancel_order_ws(placed["id"], "BTC/USDT"), 20)
            assert canceled["id"] == placed["id"] and canceled["status"] == "canceled"
            with pytest.raises(ccxt.OrderNotFound):
                await asyncio.wait_for(ex.cancel_order_ws(placed["id"], "BTC/USDT"), 20)
            with pytest.raises(ccxt.InsufficientFunds):
                await asyncio.wait_for(ex.create_order_ws("BTC/USDT", "limit", "buy", 10, 20000), 20)
            # a market sell into a resting bid: ccxt reads the FULL answer's fills
            bid = orders.place_order(bidder.account_id, orders.OrderRequest(
                SYM, "BUY", "LIMIT", "GTC", D("0.003"), None, D(20001), None, f"cxb{uuid.uuid4().hex[:8]}"))
            assert orders.wait_for_result(bid["orderId"], 10)["status"] == "NEW"
            sold = await asyncio.wait_for(ex.create_order_ws("BTC/USDT", "market", "sell", 0.001), 20)
            assert (sold["status"], sold["filled"], sold["average"], sold["cost"]) == ("closed", 0.001, 20001, 20.001)
            assert [(t["price"], t["amount"]) for t in sold["trades"]] == [(20001, 0.001)]
            assert sold["fee"] == {"cost": 0.020001, "currency": "USDT"}
        finally:
            await ex.close()
        return placed

    placed = asyncio.run(run())
    rest = api.signed("GET", "/v3/order", user, {"symbol": SYM, "orderId": placed["id"]}).json
    assert rest["status"] == "CANCELED" and rest["clientOrderId"] == placed["clientOrderId"]


def test_ccxt_pro_watch_balance_orders_and_my_trades(gateway, matcher, web_url, cleanup_orders):
    """ccxt's spot user data: ``userDataStream.subscribe.signature`` on the WebSocket
    API, then ``outboundAccountPosition`` and ``executionReport`` parsed by ccxt itself."""
    import ccxt.pro

    from chalicelib import orders as orders_mod

    user = make_user("ccxtud", {"ETH": "3", "BTC": "1"})
    taker = make_user("ccxtudtaker", {"BTC": "1"})
    cleanup_orders.extend([user.account_id, taker.account_id])

    async def run():
        ex = ccxt.pro.binance({"apiKey": user.api_key, "secret": user.secret, "enableRateLimit": False,
                               "timeout": 20000, "options": {
                                   "defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                                   "fetchCurrencies": False, "adjustForTimeDifference": False}})
        ws = ex.urls["api"].pop("ws")
        point_at_host(ex, web_url)  # every REST URL, as the README's snippet does
        ex.urls["api"]["ws"] = ws
        ws["spot"] = f"{gateway.url}/ws"
        ws["ws-api"]["spot"] = f"{gateway.url}/ws-api/v3"
        try:
            await ex.load_markets()
            # what watch_balance / watch_orders do first, awaited here: the subscription is
            # confirmed before the order goes in
            await ex.ensure_user_data_stream_ws_subscribe_signature("spot")
            balance = asyncio.ensure_future(ex.watch_balance())
            orders = asyncio.ensure_future(ex.watch_orders("ETH/BTC"))
            placed = await ex.create_order("ETH/BTC", "limit", "sell", 1.5, 0.09999)
            got = await asyncio.wait_for(orders, 20)
            assert got[-1]["id"] == placed["id"] and got[-1]["status"] == "open"
            assert got[-1]["amount"] == 1.5 and got[-1]["price"] == 0.09999 and got[-1]["side"] == "sell"
            bal = await asyncio.wait_for(balance, 20)
            assert bal["ETH"]["free"] == 1.5 and bal["ETH"]["used"] == 1.5
            # watching before the cancel: its events come before the REST reply (which waits for the matcher)
            update = asyncio.ensure_future(ex.watch_orders("ETH/BTC"))
            balance = asyncio.ensure_future(ex.watch_balance())
            await ex.cancel_order(placed["id"], "ETH/BTC")
            got = await asyncio.wait_for(update, 20)
            assert got[-1]["id"] == placed["id"] and got[-1]["status"] == "canceled" and got[-1]["filled"] == 0
            bal = await asyncio.wait_for(balance, 20)
            assert bal["ETH"]["free"] == 3 and bal["ETH"]["used"] == 0
            # watch_my_trades: a resting sell taken by another account
            resting = await ex.create_order("ETH/BTC", "limit", "sell", 0.5, 0.09999)
            mine = asyncio.ensure_future(ex.watch_my_trades("ETH/BTC"))
            await asyncio.sleep(0)  # the watcher is registered before the fill can arrive
            await asyncio.to_thread(orders_mod.place_order, taker.account_id, orders_mod.OrderRequest(
                "ETHBTC", "BUY", "LIMIT", "GTC", D("0.5"), None, D("0.09999"), None, f"ccxtmt{uuid.uuid4().hex[:8]}"))
            trades = await asyncio.wait_for(mine, 20)
            t = trades[-1]
            assert t["order"] == resting["id"] and t["side"] == "sell" and t["takerOrMaker"] == "maker"
            assert t["amount"] == 0.5 and t["price"] == 0.09999 and t["fee"]["currency"] is not None
            rest = await ex.fetch_my_trades("ETH/BTC")
            assert rest[-1]["id"] == t["id"] and rest[-1]["fee"]["cost"] == t["fee"]["cost"]
        finally:
            await ex.close()

    asyncio.run(run())
