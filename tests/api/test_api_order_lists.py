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
