"""Conformance with a real client: ccxt's stock ``binance`` class, pointed at the local
API (over HTTP through devstack.web's front door), spot only."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import ROOT, make_user


def readme_snippet() -> str:
    """The ccxt snippet of the README, as a user pastes it."""
    text = (ROOT / "README.md").read_text()
    start = text.index("```python\n", text.index("## Trading against it")) + len("```python\n")
    return text[start:text.index("```", start)]


def point_at_host(ex, host: str) -> None:
    """What the README snippet does to a stock ccxt client: every URL to ``host``."""
    for name, url in ex.urls["api"].items():
        path = urlsplit(url).path
        ex.urls["api"][name] = host + (path if path.startswith("/api/") else "/api" + path)


@pytest.fixture
def stays_on_host(monkeypatch, web_url):
    """Every request a ccxt client makes, failing the test on any that leaves our host."""
    import ccxt

    seen = []
    real = ccxt.binance.fetch

    def guarded(self, url, method="GET", headers=None, body=None):
        seen.append((method, url))
        if not url.startswith(web_url + "/api/"):
            pytest.fail(f"ccxt left the host: {method} {url}")
        return real(self, url, method, headers, body)

    monkeypatch.setattr(ccxt.binance, "fetch", guarded)
    return seen


def _client(web_url: str, user) -> object:
    import ccxt

    ex = ccxt.binance({"apiKey": user.api_key, "secret": user.secret, "enableRateLimit": False, "timeout": 20000})
    point_at_host(ex, web_url)
    return ex


@pytest.fixture(scope="module")
def clients(web_url, matcher):
    seller = make_user("ccxt-seller", {"BTC": "2", "USDT": "1000"})
    buyer = make_user("ccxt-buyer", {"USDT": "100000"})
    return _client(web_url, seller), _client(web_url, buyer)


def test_ccxt_binance_end_to_end(clients, stays_on_host):
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


def test_readme_snippet_with_a_key_never_leaves_the_host(web_url, stays_on_host, matcher):
    """The README's snippet, pasted as is (stock class, an API key, no options): every
    request -- load_markets' futures, currencies and margin calls included -- goes to
    our host, and it places its order."""
    user = make_user("ccxt-readme", {"USDT": "1000"})
    code = readme_snippet()
    assert '"options"' not in code and 'HOST = "http://127.0.0.1:8000"' in code
    scope = {"KEY": user.api_key, "SECRET": user.secret}
    exec(compile(code.replace("http://127.0.0.1:8000", web_url), "README.md", "exec"), scope)
    ex = scope["ex"]
    paths = {urlsplit(url).path for _, url in stays_on_host}
    assert {"/api/v3/exchangeInfo", "/api/sapi/v1/capital/config/getall", "/api/fapi/v1/exchangeInfo",
            "/api/dapi/v1/exchangeInfo", "/api/v3/order"} <= paths, paths
    assert ex.markets["BTC/USDT"]["spot"] and all(m["spot"] for m in ex.markets.values())
    opened = ex.fetch_open_orders("BTC/USDT")
    assert len(opened) == 1 and opened[0]["price"] == 30000.0
    canceled = ex.cancel_all_orders("BTC/USDT")
    assert [(o["id"], o["status"]) for o in canceled] == [(opened[0]["id"], "canceled")]
    assert ex.fetch_status()["status"] == "ok"
    ex.options["fetchMargins"] = True  # the margin pairs ccxt asks for when configured to
    ex.load_markets(reload=True)
    assert "/api/sapi/v1/margin/allPairs" in {urlsplit(url).path for _, url in stays_on_host}


def test_ccxt_order_lists_through_its_binance_endpoints(clients, stays_on_host):
    """ccxt has no unified OCO for Binance spot (``createOrderWithTakeProfitAndStopLoss``
    is off); its users call Binance's order-list endpoints through the stock class's
    implicit methods, with ccxt generating the client order ids: both forms place, the
    legs show in fetch_open_orders with their orderListId, the funds lock once, and a
    list canceled whole or through one leg leaves nothing locked."""
    seller, _ = clients
    seller.load_markets()
    ticker = seller.fetch_ticker("BTC/USDT")
    seen = [p for p in (ticker["last"], ticker["bid"], ticker["ask"]) if p]
    above, stop = round(max(seen + [30000.0]) * 1.5, 2), round(min(seen + [30000.0]) / 2, 2)
    used = seller.fetch_balance()["BTC"]["used"]

    placed = seller.private_post_orderlist_oco({
        "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "aboveType": "LIMIT_MAKER",
        "abovePrice": str(above), "belowType": "STOP_LOSS", "belowStopPrice": str(stop)})
    assert placed["contingencyType"] == "OCO" and placed["listClientOrderId"], placed
    legs = {str(o["orderId"]) for o in placed["orders"]}
    opened = [o for o in seller.fetch_open_orders("BTC/USDT") if o["id"] in legs]
    assert {o["info"]["orderListId"] for o in opened} == {placed["orderListId"]} and len(opened) == 2
    assert sorted(o["info"]["type"] for o in opened) == ["LIMIT_MAKER", "STOP_LOSS"]
    assert {o["type"] for o in opened} == {"limit", "market"}  # ccxt's own names for them
    assert seller.fetch_balance()["BTC"]["used"] == pytest.approx(used + 0.01)  # once for both legs
    assert [x["orderListId"] for x in seller.private_get_openorderlist()] == [placed["orderListId"]]
    gone = seller.private_delete_orderlist({"symbol": "BTCUSDT", "orderListId": placed["orderListId"]})
    assert [o["status"] for o in gone["orderReports"]] == ["CANCELED", "CANCELED"]
    assert seller.fetch_balance()["BTC"]["used"] == pytest.approx(used)

    legacy = seller.private_post_order_oco({
        "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "price": str(above), "stopPrice": str(stop),
        "stopLimitPrice": str(round(stop - 1, 2)), "stopLimitTimeInForce": "GTC"})
    stop_leg, limit_leg = (str(o["orderId"]) for o in legacy["orders"])
    assert seller.cancel_order(limit_leg, "BTC/USDT")["status"] == "canceled"
    other = seller.fetch_order(stop_leg, "BTC/USDT")
    assert other["status"] == "canceled" and other["info"]["orderListId"] == legacy["orderListId"]
    assert seller.private_get_orderlist({"orderListId": legacy["orderListId"]})["listOrderStatus"] == "ALL_DONE"
    assert seller.fetch_balance()["BTC"]["used"] == pytest.approx(used)


def test_ccxt_oto_and_otoco_through_its_binance_endpoints(clients, stays_on_host):
    """ccxt's implicit ``orderList/oto`` and ``orderList/otoco`` methods (ccxt fills in
    workingClientOrderId / pendingClientOrderId / pendingAbove/BelowClientOrderId): the
    working order rests, the pending ones wait PENDING_NEW, a list cancel frees it all."""
    seller, _ = clients
    seller.load_markets()
    ticker = seller.fetch_ticker("BTC/USDT")
    seen = [p for p in (ticker["last"], ticker["bid"], ticker["ask"]) if p] + [30000.0]
    low, high = round(min(seen) / 2, 2), round(max(seen) * 2, 2)
    before = seller.fetch_balance()
    oto = seller.private_post_orderlist_oto({
        "symbol": "BTCUSDT", "workingType": "LIMIT_MAKER", "workingSide": "BUY", "workingPrice": str(low),
        "workingQuantity": "0.01", "pendingType": "LIMIT_MAKER", "pendingSide": "SELL", "pendingPrice": str(high),
        "pendingQuantity": "0.01"})
    assert [o["status"] for o in oto["orderReports"]] == ["NEW", "PENDING_NEW"], oto
    otoco = seller.private_post_orderlist_otoco({
        "symbol": "BTCUSDT", "workingType": "LIMIT_MAKER", "workingSide": "BUY", "workingPrice": str(low),
        "workingQuantity": "0.01", "pendingSide": "SELL", "pendingQuantity": "0.01",
        "pendingAboveType": "LIMIT_MAKER", "pendingAbovePrice": str(high),
        "pendingBelowType": "STOP_LOSS", "pendingBelowStopPrice": str(round(low / 2, 2))})
    assert otoco["contingencyType"] == "OTOCO" and len(otoco["orders"]) == 3, otoco
    held = seller.fetch_balance()
    assert held["BTC"]["used"] == pytest.approx(before["BTC"]["used"] + 0.02)  # the pending SELLs, once each
    assert held["USDT"]["used"] == pytest.approx(before["USDT"]["used"] + 2 * low * 0.01)
    for lst in (oto, otoco):
        seller.private_delete_orderlist({"symbol": "BTCUSDT", "orderListId": lst["orderListId"]})
    after = seller.fetch_balance()
    assert (after["BTC"]["used"], after["USDT"]["used"]) == (before["BTC"]["used"], before["USDT"]["used"])


def test_ccxt_stop_loss_and_take_profit_params(clients, stays_on_host):
    """ccxt's unified ``stopLossPrice`` / ``takeProfitPrice`` params, as bots send them:
    for Binance spot ccxt turns a limit order into STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT and
    a market order into STOP_LOSS / TAKE_PROFIT with ``stopPrice``; each rests untriggered
    and reads back with its trigger price, and canceling both frees what they locked."""
    seller, _ = clients
    seller.load_markets()
    ticker = seller.fetch_ticker("BTC/USDT")
    seen = [p for p in (ticker["last"], ticker["bid"], ticker["ask"]) if p] + [30000.0]
    low, high = round(min(seen) / 2, 2), round(max(seen) * 2, 2)
    used = seller.fetch_balance()["BTC"]["used"]

    placed = [
        seller.create_order("BTC/USDT", "limit", "sell", 0.01, low - 1, {"stopLossPrice": low}),
        seller.create_order("BTC/USDT", "market", "sell", 0.01, None, {"stopLossPrice": low}),
        seller.create_order("BTC/USDT", "limit", "sell", 0.01, high + 1, {"takeProfitPrice": high}),
        seller.create_order("BTC/USDT", "market", "sell", 0.01, None, {"takeProfitPrice": high}),
    ]
    assert [o["info"]["type"] for o in placed] == ["STOP_LOSS_LIMIT", "STOP_LOSS", "TAKE_PROFIT_LIMIT", "TAKE_PROFIT"]
    assert all(o["status"] == "open" for o in placed), placed
    read = [seller.fetch_order(o["id"], "BTC/USDT") for o in placed]
    assert [o["triggerPrice"] for o in read] == [low, low, high, high]
    assert [o["takeProfitPrice"] for o in read] == [None, None, high, high]
    assert [o["price"] for o in read[::2]] == [low - 1, high + 1]
    assert {o["id"] for o in placed} <= {o["id"] for o in seller.fetch_open_orders("BTC/USDT")}
    assert seller.fetch_balance()["BTC"]["used"] == pytest.approx(used + 0.04)
    for o in placed:
        assert seller.cancel_order(o["id"], "BTC/USDT")["status"] == "canceled"
    assert seller.fetch_balance()["BTC"]["used"] == pytest.approx(used)
