"""Conformance with Binance's own Python clients, used unchanged and pointed at the local
API over HTTP (devstack.web's front door): the official connector (``binance-connector``,
``binance.spot.Spot``) and ``python-binance`` (``binance.client.Client``).  Both ship a
``binance`` package; they coexist because their modules differ, but only one
``binance/__init__.py`` survives the install, so python-binance is imported as
``binance.client`` (its ``from binance import Client`` needs its own ``__init__``)."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from tests.api.conftest import make_user

SYMBOL = "BTCUSDT"


@pytest.fixture
def stays_on_host(monkeypatch, web_url):
    """Every request either library makes (both go through ``requests.Session``),
    failing the test on any that leaves our host."""
    seen = []
    real = requests.Session.request

    def guarded(self, method, url, *args, **kwargs):
        seen.append((method.upper(), url))
        if not url.startswith(web_url + "/api/"):
            pytest.fail(f"the client left the host: {method} {url}")
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", guarded)
    return seen


@pytest.fixture(scope="module")
def users(web_url, matcher):
    """A seller and a buyer per library; each test cancels what it leaves resting (the
    invariants check)."""
    return {lib: (make_user(f"{lib}-seller", {"BTC": "2", "USDT": "1000"}),
                  make_user(f"{lib}-buyer", {"USDT": "100000"}))
            for lib in ("connector", "pybinance")}


def position(balances: list[dict], asset: str) -> tuple[Decimal, Decimal]:
    row = next(b for b in balances if b["asset"] == asset)
    return Decimal(row["free"]), Decimal(row["locked"])


def oco_prices(last: str | None) -> tuple[str, str]:
    """A SELL OCO's LIMIT_MAKER price above and STOP_LOSS stop below any price traded so far."""
    ref = Decimal(last) if last and Decimal(last) > 0 else Decimal(30000)
    cent = Decimal("0.01")
    above = (max(ref, Decimal(30000)) * Decimal("1.5")).quantize(cent)
    return str(above), str((min(ref, Decimal(30000)) / 2).quantize(cent))


def test_official_connector_end_to_end(web_url, users, stays_on_host):
    from binance.error import ClientError
    from binance.spot import Spot

    seller_user, buyer_user = users["connector"]
    seller = Spot(seller_user.api_key, seller_user.secret, base_url=web_url, timeout=20)
    buyer = Spot(buyer_user.api_key, buyer_user.secret, base_url=web_url, timeout=20)

    assert seller.ping() == {} and seller.time()["serverTime"] > 0
    info = seller.exchange_info(symbol=SYMBOL)
    assert [s["symbol"] for s in info["symbols"]] == [SYMBOL]
    assert {f["filterType"] for f in info["symbols"][0]["filters"]} >= {"PRICE_FILTER", "LOT_SIZE"}
    assert position(seller.account()["balances"], "BTC") == (Decimal(2), Decimal(0))

    ask = seller.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01",
                           price="30000")
    assert ask["status"] == "NEW" and Decimal(ask["price"]) == 30000, ask
    got = seller.get_order(SYMBOL, orderId=ask["orderId"])
    assert got["clientOrderId"] == ask["clientOrderId"] and Decimal(got["origQty"]) == Decimal("0.01")
    assert [o["orderId"] for o in seller.get_open_orders(SYMBOL)] == [ask["orderId"]]

    bought = buyer.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.004", newOrderRespType="FULL")
    assert bought["status"] == "FILLED" and Decimal(bought["executedQty"]) == Decimal("0.004"), bought
    assert [Decimal(f["price"]) for f in bought["fills"]] == [30000]
    mine = buyer.my_trades(SYMBOL)
    assert len(mine) == 1 and mine[0]["isBuyer"] and not mine[0]["isMaker"] and mine[0]["commissionAsset"] == "BTC"
    assert seller.my_trades(SYMBOL, orderId=ask["orderId"])[0]["isMaker"]

    canceled = seller.cancel_order(SYMBOL, orderId=ask["orderId"])
    assert canceled["status"] == "CANCELED" and Decimal(canceled["executedQty"]) == Decimal("0.004")
    with pytest.raises(ClientError) as err:
        seller.cancel_order(SYMBOL, orderId=ask["orderId"])
    assert (err.value.status_code, err.value.error_code) == (400, -2011)
    assert [o["orderId"] for o in seller.get_orders(SYMBOL)] == [ask["orderId"]]

    # order lists: the connector's OCO calls (orderList/oco, orderList, allOrderList, openOrderList)
    above, stop = oco_prices(seller.ticker_price(SYMBOL)["price"])
    oco = seller.new_oco_order(SYMBOL, "SELL", "0.01", "LIMIT_MAKER", "STOP_LOSS", abovePrice=above,
                               belowStopPrice=stop)
    assert oco["contingencyType"] == "OCO" and oco["listOrderStatus"] == "EXECUTING", oco
    assert sorted(o["type"] for o in oco["orderReports"]) == ["LIMIT_MAKER", "STOP_LOSS"]
    assert position(seller.account()["balances"], "BTC")[1] == Decimal("0.01")  # locked once for both legs
    assert seller.get_oco_order(orderListId=oco["orderListId"])["listClientOrderId"] == oco["listClientOrderId"]
    assert seller.get_oco_order(origClientOrderId=oco["listClientOrderId"])["orderListId"] == oco["orderListId"]
    assert [x["orderListId"] for x in seller.get_oco_open_orders()] == [oco["orderListId"]]
    gone = seller.cancel_oco_order(SYMBOL, orderListId=oco["orderListId"])
    assert gone["listOrderStatus"] == "ALL_DONE" and [o["status"] for o in gone["orderReports"]] == ["CANCELED"] * 2
    assert [x["orderListId"] for x in seller.get_oco_orders()] == [oco["orderListId"]]
    assert seller.get_oco_open_orders() == []
    assert position(seller.account()["balances"], "BTC") == (Decimal("1.996"), Decimal(0))


def test_python_binance_end_to_end(web_url, users, stays_on_host):
    from binance.client import Client
    from binance.exceptions import BinanceAPIException

    def client(user) -> Client:
        # python-binance builds API_URL + "/v3/" + path; the constructor's ping would go
        # to api.binance.com before the URL is ours, so it is turned off (ping=False)
        c = Client(user.api_key, user.secret, ping=False)
        c.API_URL = web_url + "/api"
        return c

    seller_user, buyer_user = users["pybinance"]
    seller, buyer = client(seller_user), client(buyer_user)

    assert seller.ping() == {} and seller.get_server_time()["serverTime"] > 0
    assert seller.get_symbol_info(SYMBOL)["baseAsset"] == "BTC"
    assert seller.get_asset_balance("BTC") == {"asset": "BTC", "free": "2.00000000", "locked": "0.00000000"}

    ask = seller.order_limit_sell(symbol=SYMBOL, quantity="0.01", price="30000")
    assert ask["status"] == "NEW" and ask["clientOrderId"].startswith(Client.SPOT_ORDER_PREFIX), ask
    assert seller.get_order(symbol=SYMBOL, orderId=ask["orderId"])["status"] == "NEW"
    assert [o["orderId"] for o in seller.get_open_orders(symbol=SYMBOL)] == [ask["orderId"]]

    bought = buyer.order_market_buy(symbol=SYMBOL, quantity="0.004")
    assert bought["status"] == "FILLED" and Decimal(bought["cummulativeQuoteQty"]) == 120, bought
    mine = buyer.get_my_trades(symbol=SYMBOL)
    assert len(mine) == 1 and Decimal(mine[0]["price"]) == 30000 and Decimal(mine[0]["qty"]) == Decimal("0.004")

    canceled = seller.cancel_order(symbol=SYMBOL, orderId=ask["orderId"])
    assert canceled["status"] == "CANCELED" and Decimal(canceled["executedQty"]) == Decimal("0.004")
    with pytest.raises(BinanceAPIException) as err:
        seller.get_order(symbol=SYMBOL, orderId=10**15)
    assert (err.value.status_code, err.value.code) == (400, -2013)

    above, stop = oco_prices(seller.get_symbol_ticker(symbol=SYMBOL)["price"])
    oco = seller.create_oco_order(symbol=SYMBOL, side="SELL", quantity="0.01", aboveType="LIMIT_MAKER",
                                  abovePrice=above, belowType="STOP_LOSS", belowStopPrice=stop)
    assert oco["contingencyType"] == "OCO" and oco["listClientOrderId"].startswith(Client.SPOT_ORDER_PREFIX), oco
    assert [x["orderListId"] for x in seller.get_open_oco_orders()] == [oco["orderListId"]]
    assert seller.v3_get_order_list(orderListId=oco["orderListId"])["listStatusType"] == "EXEC_STARTED"
    gone = seller.v3_delete_order_list(symbol=SYMBOL, orderListId=oco["orderListId"])
    assert gone["listStatusType"] == "ALL_DONE" and [o["status"] for o in gone["orderReports"]] == ["CANCELED"] * 2
    assert [x["listOrderStatus"] for x in seller.v3_get_all_order_list()] == ["ALL_DONE"]
    assert seller.get_asset_balance("BTC") == {"asset": "BTC", "free": "1.99600000", "locked": "0.00000000"}
