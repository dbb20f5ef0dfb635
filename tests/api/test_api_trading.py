"""Order entry and order/trade reads over the signed Binance endpoints, with the
matcher running: place, fill, query, cancel, cancel-replace, idempotency and the
authorization walls between accounts."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.api.conftest import make_user


def cid() -> str:
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture(scope="module")
def traders(exchange_env):
    return (make_user("maker", {"USDT": "100000", "ETH": "100"}), make_user("taker", {"USDT": "100000", "ETH": "100"}))


def _order(api, user, **params):
    return api.signed("POST", "/v3/order", user, {"symbol": "ETHUSDT", **params}, in_body=True)


def test_limit_orders_fill_and_show_up_everywhere(api, matcher, traders):
    maker, taker = traders
    sell = _order(api, maker, side="SELL", type="LIMIT", timeInForce="GTC", quantity="1.5", price="2500",
                  newClientOrderId=cid(), newOrderRespType="RESULT")
    assert sell.status_code == 200, sell.json
    assert sell.json["status"] == "NEW" and "resultPending" not in sell.json, sell.json
    assert sell.headers["X-MBX-ORDER-COUNT-10S"] and sell.headers["X-MBX-ORDER-COUNT-1D"]
    buy = _order(api, taker, side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="2500",
                 newClientOrderId=cid(), newOrderRespType="FULL")
    assert buy.json["status"] == "FILLED", buy.json
    assert buy.json["executedQty"] == "1.00000000" and buy.json["cummulativeQuoteQty"] == "2500.00000000"
    assert [f["price"] for f in buy.json["fills"]] == ["2500.00000000"]
    got = api.signed("GET", "/v3/order", maker, {"symbol": "ETHUSDT", "orderId": sell.json["orderId"]}).json
    assert (got["status"], got["executedQty"]) == ("PARTIALLY_FILLED", "1.00000000")
    opens = api.signed("GET", "/v3/openOrders", maker, {"symbol": "ETHUSDT"}).json
    assert [o["orderId"] for o in opens] == [sell.json["orderId"]]
    mine = api.signed("GET", "/v3/myTrades", taker, {"symbol": "ETHUSDT"}).json
    assert len(mine) == 1 and mine[0]["isBuyer"] and not mine[0]["isMaker"] and mine[0]["qty"] == "1.00000000"
    assert api.signed("GET", "/v3/allOrders", taker, {"symbol": "ETHUSDT"}).json[-1]["status"] == "FILLED"
    # the book and trades as market data
    deadline = time.time() + 5
    while time.time() < deadline:
        depth = api.get("/v3/depth", {"symbol": "ETHUSDT"}).json
        if depth["asks"]:
            break
        time.sleep(0.1)
    assert depth["asks"][0] == ["2500.00000000", "0.50000000000"[:10]] or depth["asks"][0][0] == "2500.00000000"
    cancel = api.signed("DELETE", "/v3/order", maker, {"symbol": "ETHUSDT", "orderId": sell.json["orderId"]})
    assert cancel.json["status"] == "CANCELED", cancel.json
    assert api.signed("GET", "/v3/openOrders", maker, {"symbol": "ETHUSDT"}).json == []
    bal = {b["asset"]: b for b in api.signed("GET", "/v3/account", maker).json["balances"]}
    assert bal["ETH"]["locked"] == "0.00000000"


def test_idempotent_placement_and_duplicates(api, matcher, traders):
    maker, _ = traders
    client_id = cid()
    params = dict(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="1000",
                  newClientOrderId=client_id, newOrderRespType="ACK")
    first = _order(api, maker, **params)
    again = _order(api, maker, **params)
    assert first.status_code == again.status_code == 200, (first.json, again.json)
    assert first.json["orderId"] == again.json["orderId"]
    other = _order(api, maker, **{**params, "price": "1001"})
    assert (other.status_code, other.json.get("code")) == (400, -2010), (first.json, other.json)
    for changed in ({"timeInForce": "IOC"}, {"selfTradePreventionMode": "EXPIRE_TAKER"}):  # any field differs
        other = _order(api, maker, **{**params, **changed})
        assert (other.status_code, other.json.get("code")) == (400, -2010), (changed, other.json)
    assert api.signed("GET", "/v3/order", maker, {"symbol": "ETHUSDT", "origClientOrderId": client_id}).json[
        "orderId"] == first.json["orderId"]
    r = api.signed("POST", "/v3/order/cancelReplace", maker, {
        "symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.02",
        "price": "1000", "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": client_id}, in_body=True)
    assert r.status_code == 200 and r.json["cancelResult"] == "SUCCESS", r.json
    assert r.json["newOrderResponse"]["origQty"] == "0.02000000"
    gone = api.signed("DELETE", "/v3/openOrders", maker, {"symbol": "ETHUSDT"})
    assert gone.status_code == 200 and len(gone.json) >= 1
    # the day's count (the 10 s window is aligned to the clock: it may have turned since the last order)
    usage = {u["interval"]: u["count"] for u in api.signed("GET", "/v3/rateLimit/order", maker).json}
    assert usage["DAY"] >= 2, usage  # the first order and the cancel-replace's new one at least


def test_test_order_and_errors(api, traders):
    maker, _ = traders
    ok = api.signed("POST", "/v3/order/test", maker, {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                                      "timeInForce": "GTC", "quantity": "0.01", "price": "1000",
                                                      "computeCommissionRates": "true"})
    assert ok.status_code == 200 and ok.json["standardCommissionForOrder"]["taker"] == "0.00100000"
    r = api.signed("GET", "/v3/order", maker, {"symbol": "ETHUSDT", "orderId": 999999999})
    assert (r.status_code, r.json["code"]) == (400, -2013)
    r = api.signed("DELETE", "/v3/order", maker, {"symbol": "ETHUSDT", "orderId": 999999999})
    assert r.json["code"] == -2011
    assert api.signed("GET", "/v3/order", maker, {"symbol": "ETHUSDT"}).json["code"] == -1102


def test_no_account_sees_or_touches_another(api, exchange_env):
    a = make_user("wall-a", {"USDT": "1000"})
    b = make_user("wall-b", {"USDT": "5"})
    placed = api.signed("POST", "/v3/order", a, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                 "timeInForce": "GTC", "quantity": "0.001", "price": "10000",
                                                 "newOrderRespType": "ACK"}).json
    oid, ocid = placed["orderId"], placed["clientOrderId"]
    assert api.signed("GET", "/v3/order", b, {"symbol": "BTCUSDT", "orderId": oid}).json["code"] == -2013
    assert api.signed("GET", "/v3/order", b, {"symbol": "BTCUSDT", "origClientOrderId": ocid}).json["code"] == -2013
    assert api.signed("DELETE", "/v3/order", b, {"symbol": "BTCUSDT", "orderId": oid}).json["code"] == -2011
    assert api.signed("GET", "/v3/openOrders", b, {"symbol": "BTCUSDT"}).json == []
    assert api.signed("GET", "/v3/allOrders", b, {"symbol": "BTCUSDT"}).json == []
    assert api.signed("DELETE", "/v3/openOrders", b, {"symbol": "BTCUSDT"}).json["code"] == -2011
    r = api.signed("POST", "/v3/order/cancelReplace", b, {
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.0001",
        "price": "10000", "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": oid})
    assert r.status_code == 400
    assert api.signed("GET", "/v3/myTrades", b, {"symbol": "BTCUSDT"}).json == []
    acct = api.signed("GET", "/v3/account", b).json
    assert acct["uid"] == b.account_id
    assert {x["asset"]: x["free"] for x in acct["balances"]}["USDT"] == "5.00000000"
    # b's web session cannot list or revoke a's keys
    assert a.api_key not in [k["apiKey"] for k in api.web("GET", "/v1/apiKeys", b.id_token).json]
    assert api.web("DELETE", f"/v1/apiKeys/{a.api_key}", b.id_token).status_code == 400
    assert api.signed("GET", "/v3/account", a).status_code == 200
    # a's order is untouched
    assert api.signed("GET", "/v3/order", a, {"symbol": "BTCUSDT", "orderId": oid}).json["orderId"] == oid
