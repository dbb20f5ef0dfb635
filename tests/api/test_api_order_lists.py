"""Order lists over the signed Binance endpoints, with the matcher running: an OCO
placed (``POST /api/v3/orderList/oco`` and the legacy ``/api/v3/order/oco``), one leg
trading and the other expiring, a list canceled, the list reads, Binance's refusals,
and the funds: an OCO locks once (the larger leg's need) and unlocks exactly when
its last order ends."""
from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest

from tests.api.conftest import make_user

SYMBOL = "ETHUSDT"


def cid() -> str:
    return "l" + uuid.uuid4().hex[:20]


@pytest.fixture(scope="module")
def traders(exchange_env):
    return (make_user("ocoowner", {"USDT": "100000", "ETH": "10"}),
            make_user("ocotaker", {"USDT": "100000", "ETH": "10"}))


def _locked(api, user, asset: str) -> Decimal:
    bal = {b["asset"]: b for b in api.signed("GET", "/v3/account", user).json["balances"]}
    return Decimal(bal[asset]["locked"]) if asset in bal else Decimal(0)


def _free(api, user, asset: str) -> Decimal:
    bal = {b["asset"]: b for b in api.signed("GET", "/v3/account", user).json["balances"]}
    return Decimal(bal[asset]["free"]) if asset in bal else Decimal(0)


def _market(api) -> tuple[Decimal, Decimal | None, Decimal | None]:
    """(a price inside the spread, best bid, best ask) of the live book, and the last
    trade's price folded in: other modules may have left orders and trades behind."""
    depth = api.get("/v3/depth", {"symbol": SYMBOL}).json
    bid = Decimal(depth["bids"][0][0]) if depth["bids"] else None
    ask = Decimal(depth["asks"][0][0]) if depth["asks"] else None
    lo, hi = bid or Decimal(2000), ask or Decimal(4000)
    return ((lo + hi) / 2).quantize(Decimal("0.01")), bid, ask


def _last_price(api) -> Decimal | None:
    trades = api.get("/v3/trades", {"symbol": SYMBOL, "limit": 1}).json
    return Decimal(trades[-1]["price"]) if trades else None


def _wait_status(api, user, order_id: int, want: str) -> dict:
    deadline = time.time() + 5
    while True:
        o = api.signed("GET", "/v3/order", user, {"symbol": SYMBOL, "orderId": order_id}).json
        if o["status"] == want or time.time() > deadline:
            return o
        time.sleep(0.05)


def test_sell_oco_one_leg_trades_the_other_expires_funds_exact(api, matcher, traders):
    owner, taker = traders
    mid, bid, _ = _market(api)
    last = _last_price(api)
    above = mid  # the LIMIT_MAKER becomes the best ask
    stop = (min(x for x in (last, bid, mid) if x is not None) / 2).quantize(Decimal("0.01"))
    eth_before = _locked(api, owner, "ETH")
    r = api.signed("POST", "/v3/orderList/oco", owner, {
        "symbol": SYMBOL, "side": "SELL", "quantity": "1", "listClientOrderId": cid(),
        "aboveType": "LIMIT_MAKER", "abovePrice": str(above), "aboveClientOrderId": cid(),
        "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": str(stop), "belowPrice": str(stop - 1),
        "belowTimeInForce": "GTC", "belowClientOrderId": cid()}, in_body=True)
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["contingencyType"], body["listStatusType"], body["listOrderStatus"]) == (
        "OCO", "EXEC_STARTED", "EXECUTING")
    below_id, above_id = (o["orderId"] for o in body["orders"])
    assert [o["type"] for o in body["orderReports"]] == ["STOP_LOSS_LIMIT", "LIMIT_MAKER"]
    assert all(o["orderListId"] == body["orderListId"] and o["status"] == "NEW" for o in body["orderReports"])
    assert _locked(api, owner, "ETH") - eth_before == Decimal(1)  # once for both legs
    q = api.signed("GET", "/v3/order", owner, {"symbol": SYMBOL, "orderId": below_id}).json
    assert q["orderListId"] == body["orderListId"]
    opened = api.signed("GET", "/v3/openOrderList", owner).json
    assert [x["orderListId"] for x in opened] == [body["orderListId"]]

    buy = api.signed("POST", "/v3/order", taker, {
        "symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "IOC", "quantity": "0.4",
        "price": str(above), "newClientOrderId": cid(), "newOrderRespType": "FULL"}, in_body=True).json
    assert buy["status"] == "FILLED" and [f["price"] for f in buy["fills"]] == [f"{above:.8f}"], buy
    assert _wait_status(api, owner, below_id, "EXPIRED")["status"] == "EXPIRED"
    lst = api.signed("GET", "/v3/orderList", owner, {"orderListId": body["orderListId"]}).json
    assert (lst["listStatusType"], lst["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert api.signed("GET", "/v3/openOrderList", owner).json == []
    limit_leg = api.signed("GET", "/v3/order", owner, {"symbol": SYMBOL, "orderId": above_id}).json
    assert (limit_leg["status"], limit_leg["executedQty"]) == ("PARTIALLY_FILLED", "0.40000000")
    assert _locked(api, owner, "ETH") - eth_before == Decimal("0.6")  # what the live leg still sells
    mine = [t for t in api.signed("GET", "/v3/myTrades", owner, {"symbol": SYMBOL}).json if t["orderId"] == above_id]
    assert [t["orderListId"] for t in mine] == [body["orderListId"]]
    api.signed("DELETE", "/v3/order", owner, {"symbol": SYMBOL, "orderId": above_id})
    assert _locked(api, owner, "ETH") == eth_before


def test_buy_oco_legacy_form_reserves_the_dearer_leg_and_cancels_whole(api, matcher, traders):
    owner, _ = traders
    mid, bid, ask = _market(api)
    last = _last_price(api)
    limit_price = ((bid or mid) / 2).quantize(Decimal("0.01"))  # well below the book
    stop = (max(x for x in (last, ask, mid) if x is not None) * 2).quantize(Decimal("0.01"))
    usdt_before = _locked(api, owner, "USDT")
    r = api.signed("POST", "/v3/order/oco", owner, {
        "symbol": SYMBOL, "side": "BUY", "quantity": "0.5", "price": str(limit_price), "stopPrice": str(stop),
        "stopLimitPrice": str(stop), "stopLimitTimeInForce": "GTC"}, in_body=True)
    assert r.status_code == 200, r.json
    assert [o["type"] for o in r.json["orderReports"]] == ["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
    assert _locked(api, owner, "USDT") - usdt_before == stop * Decimal("0.5")  # max(limit, stop) x qty
    gone = api.signed("DELETE", "/v3/orderList", owner, {"symbol": SYMBOL, "orderListId": r.json["orderListId"]})
    assert gone.status_code == 200, gone.json
    assert [o["status"] for o in gone.json["orderReports"]] == ["CANCELED", "CANCELED"]
    assert gone.json["listOrderStatus"] == "ALL_DONE"
    assert _locked(api, owner, "USDT") == usdt_before
    again = api.signed("DELETE", "/v3/orderList", owner, {"symbol": SYMBOL, "orderListId": r.json["orderListId"]})
    assert again.json["code"] == -2011
    lists = api.signed("GET", "/v3/allOrderList", owner, {"limit": 10}).json
    assert r.json["orderListId"] in [x["orderListId"] for x in lists]


@pytest.mark.parametrize("change, code", [
    ({"aboveType": "STOP_LOSS", "aboveStopPrice": "1", "belowType": "STOP_LOSS", "belowStopPrice": "1"}, -1197),
    ({"belowType": "LIMIT_MAKER", "belowPrice": "1"}, -1166),
    ({"aboveType": "MARKET"}, -1158),
    ({"abovePrice": "0.5"}, -2010),  # the limit leg below the stop leg
    ({"aboveIcebergQty": "0.5"}, -1014),  # iceberg legs: not built for lists (single orders take them)
    ({"belowTrailingDelta": "100"}, -1014),  # trailing legs: the same
])
def test_oco_refusals(api, traders, change, code):
    owner, _ = traders
    params = {"symbol": SYMBOL, "side": "SELL", "quantity": "1", "aboveType": "LIMIT_MAKER", "abovePrice": "9000",
              "belowType": "STOP_LOSS", "belowStopPrice": "1", **change}
    r = api.signed("POST", "/v3/orderList/oco", owner, params, in_body=True)
    assert r.json["code"] == code, r.json


def test_an_oco_whose_limit_leg_would_take_is_refused_and_unlocks(api, matcher, traders):
    owner, taker = traders
    mid, _, _ = _market(api)
    bid = api.signed("POST", "/v3/order", taker, {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT",
                                                  "timeInForce": "GTC", "quantity": "0.1", "price": str(mid),
                                                  "newClientOrderId": cid(), "newOrderRespType": "RESULT"},
                     in_body=True).json
    eth = _locked(api, owner, "ETH")
    r = api.signed("POST", "/v3/orderList/oco", owner, {
        "symbol": SYMBOL, "side": "SELL", "quantity": "0.1", "aboveType": "LIMIT_MAKER", "abovePrice": str(mid),
        "belowType": "STOP_LOSS", "belowStopPrice": str((mid / 4).quantize(Decimal("0.01")))}, in_body=True)
    assert (r.json["code"], r.json["msg"]) == (-2010, "Order would immediately match and take."), r.json
    assert _locked(api, owner, "ETH") == eth
    assert _free(api, owner, "ETH") > 0
    refused = api.signed("GET", "/v3/allOrderList", owner, {"limit": 1}).json[0]
    assert (refused["listStatusType"], refused["listOrderStatus"]) == ("ALL_DONE", "REJECT")
    assert api.signed("GET", "/v3/openOrderList", owner).json == []
    api.signed("DELETE", "/v3/order", taker, {"symbol": SYMBOL, "orderId": bid["orderId"]})


def _bal(api, user) -> dict:
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"]))
            for b in api.signed("GET", "/v3/account", user).json["balances"]}


def _list_when(api, user, list_id: int, want: str) -> dict:
    deadline = time.time() + 5
    while True:
        lst = api.signed("GET", "/v3/orderList", user, {"orderListId": list_id}).json
        if lst["listOrderStatus"] == want or time.time() > deadline:
            return lst
        time.sleep(0.05)


def test_oto_places_its_pending_order_when_the_working_order_fills(api, matcher, traders):
    """Binance's OTO: the working BUY rests, the pending SELL waits (PENDING_NEW) and is
    placed when the working order is filled.  Funds (Binance's OPO page): the placement
    locks both orders' needs; each unlocks when its order ends."""
    owner, taker = traders
    mid, bid, ask = _market(api)
    working_price = ((bid or mid) + (ask or mid * 2)) / 2
    working_price = min(working_price, (ask or working_price + 1) - Decimal("0.01")).quantize(Decimal("0.01"))
    pending_price = (max(x for x in (ask, mid, working_price) if x is not None) * 2).quantize(Decimal("0.01"))
    before = _bal(api, owner)
    r = api.signed("POST", "/v3/orderList/oto", owner, {
        "symbol": SYMBOL, "listClientOrderId": cid(), "workingType": "LIMIT", "workingSide": "BUY",
        "workingPrice": str(working_price), "workingQuantity": "0.2", "workingTimeInForce": "GTC",
        "pendingType": "LIMIT_MAKER", "pendingSide": "SELL", "pendingPrice": str(pending_price),
        "pendingQuantity": "0.2"}, in_body=True)
    assert r.status_code == 200, r.json
    assert r.json["contingencyType"] == "OTO"
    assert [o["status"] for o in r.json["orderReports"]] == ["NEW", "PENDING_NEW"]
    working_id, pending_id = (o["orderId"] for o in r.json["orders"])
    held = _bal(api, owner)
    assert held["USDT"][1] - before["USDT"][1] == working_price * Decimal("0.2")
    assert held["ETH"][1] - before["ETH"][1] == Decimal("0.2")
    sell = api.signed("POST", "/v3/order", taker, {
        "symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "IOC", "quantity": "0.2",
        "price": str(working_price), "newClientOrderId": cid(), "newOrderRespType": "FULL"}, in_body=True).json
    assert sell["status"] == "FILLED" and sell["fills"][0]["price"] == f"{working_price:.8f}", sell
    placed = _wait_status(api, owner, pending_id, "NEW")
    assert (placed["status"], placed["orderListId"], placed["isWorking"]) == ("NEW", r.json["orderListId"], True)
    assert _list_when(api, owner, r.json["orderListId"], "ALL_DONE")["listStatusType"] == "ALL_DONE"
    after = _bal(api, owner)
    assert after["USDT"][1] == before["USDT"][1]  # the working order's lock paid its fill
    assert after["ETH"][1] - before["ETH"][1] == Decimal("0.2")  # the pending SELL rests
    api.signed("DELETE", "/v3/order", owner, {"symbol": SYMBOL, "orderId": pending_id})
    assert _bal(api, owner)["ETH"][1] == before["ETH"][1]
    assert api.signed("GET", "/v3/order", owner, {"symbol": SYMBOL, "orderId": working_id}).json["status"] == "FILLED"


def test_canceling_an_otos_pending_order_cancels_the_list(api, matcher, traders):
    owner, _ = traders
    mid, bid, _ = _market(api)
    low = ((bid or mid) / 2).quantize(Decimal("0.01"))
    before = _bal(api, owner)
    r = api.signed("POST", "/v3/orderList/oto", owner, {
        "symbol": SYMBOL, "workingType": "LIMIT_MAKER", "workingSide": "BUY", "workingPrice": str(low),
        "workingQuantity": "0.1", "pendingType": "LIMIT", "pendingSide": "SELL", "pendingPrice": str(mid * 3),
        "pendingQuantity": "0.1", "pendingTimeInForce": "GTC"}, in_body=True)
    assert r.status_code == 200, r.json
    working_id, pending_id = (o["orderId"] for o in r.json["orders"])
    gone = api.signed("DELETE", "/v3/order", owner, {"symbol": SYMBOL, "orderId": pending_id})
    assert gone.status_code == 200 and gone.json["status"] == "CANCELED", gone.json
    assert _wait_status(api, owner, working_id, "CANCELED")["status"] == "CANCELED"
    assert _list_when(api, owner, r.json["orderListId"], "ALL_DONE")["listOrderStatus"] == "ALL_DONE"
    assert _bal(api, owner) == before


def test_otoco_places_an_oco_pair_and_cancels_whole(api, matcher, traders):
    owner, taker = traders
    mid, bid, ask = _market(api)
    working_price = min(((bid or mid) + (ask or mid * 2)) / 2, (ask or mid * 2) - Decimal("0.01"))
    working_price = working_price.quantize(Decimal("0.01"))
    above = (max(x for x in (ask, mid, working_price) if x is not None) * 2).quantize(Decimal("0.01"))
    stop = (working_price / 2).quantize(Decimal("0.01"))
    before = _bal(api, owner)
    r = api.signed("POST", "/v3/orderList/otoco", owner, {
        "symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": str(working_price),
        "workingQuantity": "0.3", "workingTimeInForce": "GTC", "pendingSide": "SELL", "pendingQuantity": "0.3",
        "pendingAboveType": "LIMIT_MAKER", "pendingAbovePrice": str(above),
        "pendingBelowType": "STOP_LOSS", "pendingBelowStopPrice": str(stop)}, in_body=True)
    assert r.status_code == 200, r.json
    assert [o["status"] for o in r.json["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
    assert _bal(api, owner)["ETH"][1] - before["ETH"][1] == Decimal("0.3")  # the pending pair locks once
    working_id, below_id, above_id = (o["orderId"] for o in r.json["orders"])
    api.signed("POST", "/v3/order", taker, {
        "symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "IOC", "quantity": "0.3",
        "price": str(working_price), "newClientOrderId": cid()}, in_body=True)
    assert _wait_status(api, owner, above_id, "NEW")["status"] == "NEW"
    assert _wait_status(api, owner, below_id, "NEW")["status"] == "NEW"
    assert api.signed("GET", "/v3/openOrderList", owner).json[0]["orderListId"] == r.json["orderListId"]
    gone = api.signed("DELETE", "/v3/orderList", owner, {"symbol": SYMBOL, "orderListId": r.json["orderListId"]})
    assert [o["status"] for o in gone.json["orderReports"]] == ["FILLED", "CANCELED", "CANCELED"], gone.json
    after = _bal(api, owner)
    assert after["ETH"][1] == before["ETH"][1] and after["USDT"][1] == before["USDT"][1]
