"""Order amend keep priority (``PUT /api/v3/order/amend/keepPriority``) and the order's
amendments (``GET /api/v3/order/amendments``), over HTTP through the local host with the
matcher running: Binance's reply shapes and errors, the queue place kept, the
reservation of the removed quantity released exactly (a BUY's reservation rounded at
the quote asset's precision as a fresh order of the new quantity would be), the
client order id renamed, and an amend to what executed finishing the order."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.api.conftest import make_user
from tests.api.test_api_cancels import SYMBOL, Http, cid, mid_price

AMEND = "/v3/order/amend/keepPriority"


@pytest.fixture(scope="module")
def http(web_url, matcher):
    return Http(web_url)


def amend(http, user, **params):
    return http.call("PUT", AMEND, user, {"symbol": SYMBOL, **params})


def balance(http, user, asset: str) -> tuple[D, D]:
    _, acct = http.call("GET", "/v3/account", user)
    b = next(b for b in acct["balances"] if b["asset"] == asset)
    return D(b["free"]), D(b["locked"])


def test_amend_a_sell_releases_the_removed_quantity_and_renames_the_order(http):
    a = make_user("am-sell", {"ETH": "10"})
    price = mid_price(http) + D("500")
    status, placed = http.order(a, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.0500",
                                price=str(price), newClientOrderId="am-sell-1")
    assert status == 200 and placed["status"] == "NEW", placed
    assert balance(http, a, "ETH") == (D("9.95"), D("0.05"))

    status, body = amend(http, a, orderId=placed["orderId"], newQty="0.03", newClientOrderId="am-sell-2")
    assert status == 200, body
    assert set(body) == {"transactTime", "executionId", "amendedOrder"}
    assert body["amendedOrder"] == {
        "symbol": SYMBOL, "orderId": placed["orderId"], "orderListId": -1, "origClientOrderId": "am-sell-1",
        "clientOrderId": "am-sell-2", "price": f"{price:.8f}", "qty": "0.03000000", "executedQty": "0.00000000",
        "preventedQty": "0.00000000", "quoteOrderQty": "0.00000000", "cumulativeQuoteQty": "0.00000000",
        "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "SELL",
        "workingTime": body["amendedOrder"]["workingTime"], "selfTradePreventionMode": "NONE"}
    assert balance(http, a, "ETH") == (D("9.97"), D("0.03"))

    _, order = http.call("GET", "/v3/order", a, {"symbol": SYMBOL, "origClientOrderId": "am-sell-2"})
    assert order["orderId"] == placed["orderId"] and order["origQty"] == "0.03000000"
    # the renamed-away id stays taken: a retry of the original request is a duplicate, not a second order
    status, dup = http.order(a, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.0500", price=str(price),
                             newClientOrderId="am-sell-1")
    assert (status, dup) == (400, {"code": -2010, "msg": "Duplicate order sent."})

    # no newClientOrderId: one is generated; the amendments list both, oldest first
    status, second = amend(http, a, origClientOrderId="am-sell-2", newQty="0.0200")
    assert status == 200, second
    assert second["amendedOrder"]["origClientOrderId"] == "am-sell-2"
    assert second["amendedOrder"]["clientOrderId"] not in ("am-sell-1", "am-sell-2")
    assert second["executionId"] > body["executionId"]
    status, listed = http.call("GET", "/v3/order/amendments", a, {"symbol": SYMBOL, "orderId": placed["orderId"]})
    assert status == 200
    assert listed == [
        {"symbol": SYMBOL, "orderId": placed["orderId"], "executionId": body["executionId"],
         "origClientOrderId": "am-sell-1", "newClientOrderId": "am-sell-2", "origQty": "0.05000000",
         "newQty": "0.03000000", "time": body["transactTime"]},
        {"symbol": SYMBOL, "orderId": placed["orderId"], "executionId": second["executionId"],
         "origClientOrderId": "am-sell-2", "newClientOrderId": second["amendedOrder"]["clientOrderId"],
         "origQty": "0.03000000", "newQty": "0.02000000", "time": second["transactTime"]}]
    status, tail = http.call("GET", "/v3/order/amendments", a, {"symbol": SYMBOL, "orderId": placed["orderId"],
                                                                "fromExecutionId": second["executionId"]})
    assert status == 200 and tail == listed[1:]
    _, one = http.call("GET", "/v3/order/amendments", a, {"symbol": SYMBOL, "orderId": placed["orderId"],
                                                          "limit": 1})
    assert one == listed[:1]
    assert balance(http, a, "ETH") == (D("9.98"), D("0.02"))
    http.cancel(a, placed["orderId"])
    assert balance(http, a, "ETH") == (D("10"), D("0"))


def test_amend_a_buy_releases_its_reservation_exactly_at_the_quote_precision(http):
    """ETHBTC: price x quantity has 9 decimals, BTC 8: a BUY reserves it rounded up; the
    amend leaves exactly what a fresh order of the new quantity reserves."""
    a = make_user("am-buy", {"BTC": "1"})
    status, placed = http.call("POST", "/v3/order", a, {
        "symbol": "ETHBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1.0001",
        "price": "0.01235", "newOrderRespType": "RESULT"})
    assert status == 200 and placed["status"] == "NEW", placed
    assert balance(http, a, "BTC")[1] == D("0.01235124")  # 0.012351235 rounded up
    status, body = http.call("PUT", AMEND, a, {"symbol": "ETHBTC", "orderId": placed["orderId"], "newQty": "0.5001"})
    assert status == 200, body
    assert body["amendedOrder"]["qty"] == "0.50010000"
    assert balance(http, a, "BTC") == (D("1") - D("0.00617624"), D("0.00617624"))  # 0.006176235 rounded up
    http.call("DELETE", "/v3/order", a, {"symbol": "ETHBTC", "orderId": placed["orderId"]})
    assert balance(http, a, "BTC") == (D("1"), D("0"))


def test_amend_keeps_priority_and_an_amend_to_what_executed_fills_the_order(http):
    a, b = make_user("am-pr-a", {"USDT": "10000"}), make_user("am-pr-b", {"ETH": "10"})
    price = mid_price(http)
    first = http.rest(a, "BUY", price, "0.05")
    second = http.rest(a, "BUY", price, "0.05")
    status, body = amend(http, a, orderId=first, newQty="0.04")
    assert status == 200, body
    # a SELL of 0.03 trades with the amended order first: its place in the queue was kept
    status, fill = http.order(b, side="SELL", type="LIMIT", timeInForce="IOC", quantity="0.03", price=str(price))
    assert status == 200 and fill["status"] == "FILLED", fill
    _, o1 = http.call("GET", "/v3/order", a, {"symbol": SYMBOL, "orderId": first})
    _, o2 = http.call("GET", "/v3/order", a, {"symbol": SYMBOL, "orderId": second})
    assert (o1["status"], o1["executedQty"], o2["executedQty"]) == ("PARTIALLY_FILLED", "0.03000000", "0.00000000")
    # below what executed: the order is FILLED at what executed, its reservation all released
    status, done = amend(http, a, orderId=first, newQty="0.01")
    assert status == 200, done
    assert (done["amendedOrder"]["status"], done["amendedOrder"]["executedQty"]) == ("FILLED", "0.03000000")
    http.cancel(a, second)
    free, locked = balance(http, a, "USDT")
    assert locked == 0 and free == D("10000") - price * D("0.03")
    status, gone = amend(http, a, orderId=first, newQty="0.005")
    assert (status, gone) == (400, {"code": -2038, "msg": "Unknown order sent."})


def test_amend_refusals(http):
    a, other = make_user("am-ref", {"ETH": "10"}), make_user("am-ref-o", {"ETH": "10"})
    price = mid_price(http) + D("600")
    status, placed = http.order(a, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.05", price=str(price),
                                newClientOrderId=cid())
    assert status == 200, placed
    oid = placed["orderId"]
    busy = http.rest(a, "SELL", price, "0.05")
    _, busy_order = http.call("GET", "/v3/order", a, {"symbol": SYMBOL, "orderId": busy})
    cases = [
        ({"orderId": oid, "newQty": "0.05"},
         {"code": -2038, "msg": "The requested action would change no state; rejecting"}),
        ({"orderId": oid, "newQty": "0.06"},
         {"code": -2038, "msg": "Order amend (quantity increase) is not supported."}),
        ({"orderId": oid, "newQty": "0.00001"}, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}),
        ({"orderId": oid, "newQty": "0"}, {"code": -1013, "msg": "Invalid quantity."}),
        ({"orderId": oid, "newQty": "0.01", "newClientOrderId": busy_order["clientOrderId"]},
         {"code": -2038, "msg": "Duplicate order sent."}),
        ({"orderId": 999999999, "newQty": "0.01"}, {"code": -2038, "msg": "Unknown order sent."}),
        ({"newQty": "0.01"}, {"code": -1102,
                              "msg": "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"}),
    ]
    for params, error in cases:
        assert amend(http, a, **params) == (400, error), params
    status, missing = amend(http, a, orderId=oid)
    assert status == 400 and missing["code"] == -1102
    assert amend(http, other, orderId=oid, newQty="0.01") == (400, {"code": -2038, "msg": "Unknown order sent."})
    assert http.call("GET", "/v3/order/amendments", other, {"symbol": SYMBOL, "orderId": oid}) == (
        400, {"code": -2013, "msg": "Order does not exist."})
    assert http.call("GET", "/v3/order/amendments", a, {"symbol": SYMBOL, "orderId": oid}) == (200, [])
    assert balance(http, a, "ETH")[1] == D("0.1")  # nothing refused moved any funds
    http.call("DELETE", "/v3/openOrders", a, {"symbol": SYMBOL})


def test_exchange_info_allows_amend_and_the_weight_is_binances(http):
    from chalicelib.api import ops

    _, info = http.call("GET", "/v3/exchangeInfo", None, {"symbol": SYMBOL})
    assert info["symbols"][0]["amendAllowed"] is True
    by_id = {op.id: op for op in ops.OPS}
    assert (by_id["amendKeepPriority"].weight, by_id["amendKeepPriority"].orders) == (4, False)
    assert by_id["orderAmendments"].weight == 4
