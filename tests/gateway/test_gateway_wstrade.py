"""The WebSocket API's trading requests (``order.place``, ``order.test``, ``order.cancel``,
``order.cancelReplace``, ``openOrders.cancelAll``, ``allOrders``, ``myTrades``, ``myPreventedMatches``,
``account.rateLimits.orders``): each reply's fields as web-socket-api.md documents
them, the same errors as the REST routes (one operation behind both), orders that
settle through the matcher and show up in REST, and cancelReplace's outcomes."""
from __future__ import annotations

import time
import uuid

import pytest
from websockets.sync.client import connect

from tests.api.conftest import make_user
from tests.gateway.test_gateway_wsapi import _call, _signed

SYM = "ETHUSDT"
P = "2345.67"  # a price no other test uses

ACK = ["symbol", "orderId", "orderListId", "clientOrderId", "transactTime"]
RESULT = ACK + ["price", "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status",
                "timeInForce", "type", "side", "workingTime", "selfTradePreventionMode"]
CANCELED = ["symbol", "origClientOrderId", "orderId", "orderListId", "clientOrderId", "transactTime", "price",
            "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status", "timeInForce", "type",
            "side", "selfTradePreventionMode"]
STATUS = ["symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty",
          "cummulativeQuoteQty", "status", "timeInForce", "type", "side", "stopPrice", "icebergQty", "time",
          "updateTime", "isWorking", "workingTime", "origQuoteOrderQty", "selfTradePreventionMode"]
FILL = ["price", "qty", "commission", "commissionAsset", "tradeId"]


def cid() -> str:
    return "w" + uuid.uuid4().hex[:20]


@pytest.fixture(scope="module")
def traders(exchange_env):
    return (make_user("wst-maker", {"USDT": "100000", "ETH": "100"}),
            make_user("wst-taker", {"USDT": "100000", "ETH": "100"}))


def _limit(side: str, qty: str, price: str = P, **extra) -> dict:
    return {"symbol": SYM, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": qty, "price": price,
            "newClientOrderId": cid(), **extra}


def _check_rate_limits(reply, orders: bool) -> None:
    kinds = [(x["rateLimitType"], x["interval"], x["intervalNum"]) for x in reply["rateLimits"]]
    want = [("ORDERS", "SECOND", 10), ("ORDERS", "DAY", 1)] if orders else []
    assert kinds == want + [("REQUEST_WEIGHT", "MINUTE", 1)], reply["rateLimits"]
    for x in reply["rateLimits"]:
        assert list(x) == ["rateLimitType", "interval", "intervalNum", "limit", "count"]
        assert isinstance(x["count"], int) and x["count"] >= 1 and x["limit"] > 0


def _rest_order(api, user, order_id: int, until=lambda o: True, timeout: float = 8) -> dict:
    deadline = time.time() + timeout
    while True:
        o = api.signed("GET", "/v3/order", user, {"symbol": SYM, "orderId": order_id}).json
        if until(o) or time.time() > deadline:
            return o
        time.sleep(0.05)


def test_place_fill_cancel_and_rest_sees_it(gateway, matcher, api, traders, cleanup_orders):
    maker, taker = traders
    cleanup_orders.extend([maker.account_id, taker.account_id])
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        # ACK: exactly the five fields; the order counts appear in rateLimits
        r = _call(ws, "order.place", _signed(maker, _limit("SELL", "0.5", newOrderRespType="ACK")), req_id="a1")
        assert r["id"] == "a1" and r["status"] == 200, r
        assert list(r["result"]) == ACK and r["result"]["orderListId"] == -1 and r["result"]["symbol"] == SYM
        _check_rate_limits(r, orders=True)
        sell_id = r["result"]["orderId"]
        # (the module's matcher may still be starting: its first batch can take a while)
        rest = _rest_order(api, maker, sell_id, lambda o: o.get("status") == "NEW", timeout=30)
        assert rest["status"] == "NEW" and rest["clientOrderId"] == r["result"]["clientOrderId"]
        # FULL (LIMIT's default): the taker's fill, the trade's fields
        r = _call(ws, "order.place", _signed(taker, _limit("BUY", "0.2")), req_id=2)
        assert r["status"] == 200, r
        res = r["result"]
        assert list(res) == RESULT + ["fills"], list(res)
        assert (res["status"], res["executedQty"], res["cummulativeQuoteQty"]) == \
            ("FILLED", "0.20000000", "469.13400000")
        assert (res["price"], res["origQty"], res["timeInForce"], res["type"], res["side"]) == \
            ("2345.67000000", "0.20000000", "GTC", "LIMIT", "BUY")
        assert [list(f) for f in res["fills"]] == [FILL]
        assert res["fills"][0]["price"] == "2345.67000000" and res["fills"][0]["qty"] == "0.20000000"
        assert res["fills"][0]["commissionAsset"] == "ETH" and res["fills"][0]["commission"] == "0.00020000"
        trade_id = res["fills"][0]["tradeId"]
        # REST sees the trade and the maker's partial fill; allOrders is REST's answer
        mine = api.signed("GET", "/v3/myTrades", taker, {"symbol": SYM}).json
        assert [t["id"] for t in mine] == [trade_id] and mine[0]["isBuyer"] is True
        rest = _rest_order(api, maker, sell_id, lambda o: o.get("status") == "PARTIALLY_FILLED")
        assert (rest["status"], rest["executedQty"]) == ("PARTIALLY_FILLED", "0.20000000")
        r = _call(ws, "allOrders", _signed(maker, {"symbol": SYM}), req_id=3)
        assert r["status"] == 200 and [list(o) for o in r["result"]] == [STATUS]
        assert r["result"] == api.signed("GET", "/v3/allOrders", maker, {"symbol": SYM}).json
        _check_rate_limits(r, orders=False)
        # RESULT: no fills
        r = _call(ws, "order.place", _signed(maker, _limit("SELL", "0.1", price="2400", newOrderRespType="RESULT")))
        assert r["status"] == 200 and list(r["result"]) == RESULT and r["result"]["status"] == "NEW", r
        second = r["result"]["orderId"]
        # order.cancel: Binance's cancel report; REST sees CANCELED
        new_cid = cid()
        r = _call(ws, "order.cancel", _signed(maker, {"symbol": SYM, "orderId": sell_id,
                                                      "newClientOrderId": new_cid}), req_id=4)
        assert r["status"] == 200, r
        assert list(r["result"]) == CANCELED
        assert (r["result"]["status"], r["result"]["executedQty"], r["result"]["clientOrderId"]) == \
            ("CANCELED", "0.20000000", new_cid)
        assert r["result"]["origClientOrderId"] == rest["clientOrderId"]
        _check_rate_limits(r, orders=False)
        assert api.signed("GET", "/v3/order", maker, {"symbol": SYM, "orderId": sell_id}).json["status"] == \
            "CANCELED"
        # openOrders.cancelAll: every open order, each as a cancel report; then -2011 as REST says
        r = _call(ws, "openOrders.cancelAll", _signed(maker, {"symbol": SYM}), req_id=5)
        assert r["status"] == 200 and [o["orderId"] for o in r["result"]] == [second], r
        assert [list(o) for o in r["result"]] == [CANCELED] and r["result"][0]["status"] == "CANCELED"
        r = _call(ws, "openOrders.cancelAll", _signed(maker, {"symbol": SYM}), req_id=6)
        assert r["status"] == 400 and r["error"] == api.signed("DELETE", "/v3/openOrders", maker,
                                                               {"symbol": SYM}).json
        assert r["error"]["code"] == -2011
        # account.rateLimits.orders: the same counts REST reports, weight 40
        before = _call(ws, "ping", req_id=7)["rateLimits"][0]["count"]
        r = _call(ws, "account.rateLimits.orders", _signed(maker, {}), req_id=8)
        assert r["status"] == 200 and r["rateLimits"][-1]["count"] - before == 40
        assert [(x["interval"], x["intervalNum"]) for x in r["result"]] == [("SECOND", 10), ("DAY", 1)]
        assert [x["count"] for x in r["result"]] == \
            [x["count"] for x in api.signed("GET", "/v3/rateLimit/order", maker).json]
        assert r["result"][1]["count"] >= 2  # the two orders the maker placed


def test_session_logon_trades_and_test_order(gateway, matcher, api, traders, cleanup_orders):
    maker, _ = traders
    cleanup_orders.append(maker.account_id)
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        assert _call(ws, "session.logon", _signed(maker, {}))["status"] == 200
        now = lambda: int(time.time() * 1000)  # noqa: E731
        # order.test: {} (weight 1), with computeCommissionRates the documented four parts (weight 20)
        before = _call(ws, "ping")["rateLimits"][0]["count"]
        r = _call(ws, "order.test", {**_limit("BUY", "0.01", price="1000"), "timestamp": now()}, req_id="t1")
        assert r == {"id": "t1", "status": 200, "result": {}, "rateLimits": r["rateLimits"]}
        assert r["rateLimits"][-1]["count"] - before == 1 and len(r["rateLimits"]) == 1
        r = _call(ws, "order.test", {**_limit("BUY", "0.01", price="1000"), "computeCommissionRates": True,
                                     "timestamp": now()}, req_id="t2")
        assert r["status"] == 200 and r["rateLimits"][-1]["count"] - before == 21
        assert r["result"] == {
            "standardCommissionForOrder": {"maker": "0.00100000", "taker": "0.00100000"},
            "specialCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
            "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
            "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": None,
                         "discount": "0.00000000"}}
        rest = api.signed("POST", "/v3/order/test", maker, {**_limit("BUY", "0.01", price="1000"),
                                                            "computeCommissionRates": "true"}).json
        assert {k: v for k, v in r["result"].items() if k != "specialCommissionForOrder"} == rest
        # a logged-on session places and cancels with only a timestamp
        r = _call(ws, "order.place", {**_limit("BUY", "0.01", price="1000", newOrderRespType="RESULT"),
                                      "timestamp": now()}, req_id="p")
        assert r["status"] == 200 and r["result"]["status"] == "NEW", r
        _check_rate_limits(r, orders=True)
        oid = r["result"]["orderId"]
        r = _call(ws, "order.status", {"symbol": SYM, "orderId": oid, "timestamp": now()})
        assert r["result"] == api.signed("GET", "/v3/order", maker, {"symbol": SYM, "orderId": oid}).json
        r = _call(ws, "order.cancel", {"symbol": SYM, "orderId": oid, "timestamp": now(), "returnRateLimits": False})
        assert r["status"] == 200 and r["result"]["status"] == "CANCELED" and "rateLimits" not in r
        # returnRateLimits is part of what a per-request signature covers (ccxt sends it)
        r = _call(ws, "order.test", _signed(maker, {**_limit("BUY", "0.01", price="1000"),
                                                    "returnRateLimits": False}))
        assert r == {"id": "r1", "status": 200, "result": {}}


def test_errors_equal_rest(gateway, api, traders, exchange_env):
    maker, _ = traders
    poor = make_user("wst-poor", {"USDT": "10"})
    reader = make_user("wst-reader", {"USDT": "1000"}, can_trade=False)

    def both(user, params: dict, path="/v3/order", method="order.place", http="POST"):
        r = _call(ws, method, _signed(user, params))
        rest = api.signed(http, path, user, params)
        assert r["status"] == rest.status_code and r["error"] == rest.json, (r, rest.json)
        return r

    with connect(f"{gateway.url}/ws-api/v3") as ws:
        base = _limit("BUY", "0.01", price="1000")
        r = both(maker, {k: v for k, v in base.items() if k != "side"})
        assert r["error"] == {"code": -1102, "msg": "Mandatory parameter 'side' was not sent, was empty/null, "
                                                    "or malformed."}
        r = both(maker, {k: v for k, v in base.items() if k != "price"})
        assert r["error"]["code"] == -1102
        r = both(poor, _limit("BUY", "1", price="1000"))  # 1000 USDT, 10 held
        assert r["error"]["code"] == -2010
        r = both(maker, _limit("BUY", "0.001", price="1000"))  # notional 1 < 5
        assert r["error"]["code"] == -1013
        r = both(maker, _limit("BUY", "0.01", price="1000.001"))  # off the tick size
        assert r["error"]["code"] == -1013
        r = both(maker, {"symbol": SYM, "orderId": 999999999}, method="order.cancel", http="DELETE")
        assert r["error"] == {"code": -2011, "msg": "Unknown order sent."}
        r = both(reader, base)  # a key without trade permission
        assert r["error"]["code"] == -2015
        r = both(maker, _limit("BUY", "0.001", price="1000"), path="/v3/order/test", method="order.test")
        assert r["error"]["code"] == -1013
        # timestamp and signature: the REST key check's answers
        stale = {**base, "apiKey": maker.api_key, "timestamp": int(time.time() * 1000) - 120_000}
        r = _call(ws, "order.place", _resign(maker, stale))
        rest = api.call("POST", "/v3/order", _rest_query(maker, {**base, "timestamp": stale["timestamp"]}),
                        headers={"X-MBX-APIKEY": maker.api_key})
        assert r["error"] == rest.json and r["error"]["code"] == -1021, (r, rest.json)
        r = _call(ws, "order.place", {**_signed(maker, base), "signature": "0" * 64})
        rest = api.call("POST", "/v3/order", _rest_query(maker, base)[:-64] + "0" * 64,
                        headers={"X-MBX-APIKEY": maker.api_key})
        assert r["error"] == rest.json and r["error"]["code"] == -1022, (r, rest.json)
        assert r["status"] == rest.status_code


def test_history_window_and_combinations(gateway, traders):
    """allOrders and myTrades refuse a window over 24 h with Binance's -1127 in the
    WebSocket reply's shape (status, error, rateLimits); myTrades' and
    trades.aggregate's unsupported combinations are -1128."""
    maker, _ = traders
    now = int(time.time() * 1000)
    wide = {"symbol": SYM, "startTime": now - 86_400_001, "endTime": now}
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        for i, method in enumerate(("allOrders", "myTrades")):
            r = _call(ws, method, _signed(maker, wide), req_id=f"w{i}")
            assert list(r) == ["id", "status", "error", "rateLimits"], r
            assert (r["id"], r["status"]) == (f"w{i}", 400), r
            assert r["error"] == {"code": -1127, "msg": "More than 24 hours between startTime and endTime."}
            r = _call(ws, method, _signed(maker, {**wide, "startTime": now - 86_400_000}))
            assert r["status"] == 200 and isinstance(r["result"], list), r
        r = _call(ws, "myTrades", _signed(maker, {"symbol": SYM, "fromId": 1, "startTime": now - 1000}))
        assert (r["status"], r["error"]) == (400, {"code": -1128, "msg": "Combination of optional parameters invalid."})
        r = _call(ws, "trades.aggregate", {"symbol": SYM, "fromId": 1, "endTime": now})
        assert (r["status"], r["error"]["code"]) == (400, -1128), r


def _resign(user, params: dict) -> dict:
    """``params`` (with its own apiKey and timestamp) signed the WebSocket way."""
    import hashlib
    import hmac

    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
    return {**params, "signature": hmac.new(user.secret.encode(), text.encode(), hashlib.sha256).hexdigest()}


def _rest_query(user, params: dict) -> str:
    from tests.api.conftest import signed_query

    return signed_query(user.secret, params)


def test_cancel_replace_outcomes(gateway, matcher, api, traders, cleanup_orders):
    maker, taker = traders
    cleanup_orders.extend([maker.account_id, taker.account_id])
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        old = _call(ws, "order.place", _signed(maker, _limit("BUY", "0.01", price="1500",
                                                             newOrderRespType="RESULT")))["result"]
        # both succeed: 200, the cancel report and the new order in its newOrderRespType
        new_cid, cancel_cid = cid(), cid()
        r = _call(ws, "order.cancelReplace", _signed(maker, {
            **_limit("BUY", "0.02", price="1501", newOrderRespType="ACK"), "newClientOrderId": new_cid,
            "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": old["orderId"],
            "cancelNewClientOrderId": cancel_cid}), req_id="cr1")
        assert r["status"] == 200, r
        res = r["result"]
        assert list(res) == ["cancelResult", "newOrderResult", "cancelResponse", "newOrderResponse"]
        assert (res["cancelResult"], res["newOrderResult"]) == ("SUCCESS", "SUCCESS")
        assert list(res["cancelResponse"]) == CANCELED and res["cancelResponse"]["status"] == "CANCELED"
        assert res["cancelResponse"]["clientOrderId"] == cancel_cid
        assert res["cancelResponse"]["origClientOrderId"] == old["clientOrderId"]
        assert list(res["newOrderResponse"]) == ACK and res["newOrderResponse"]["clientOrderId"] == new_cid
        _check_rate_limits(r, orders=True)
        live = res["newOrderResponse"]["orderId"]
        assert _rest_order(api, maker, live, lambda o: o.get("status") == "NEW")["status"] == "NEW"
        assert _rest_order(api, maker, old["orderId"])["status"] == "CANCELED"
        # STOP_ON_FAILURE, unknown order: 400 -2022, nothing placed; REST answers the same
        params = {**_limit("BUY", "0.01", price="1502"), "cancelReplaceMode": "STOP_ON_FAILURE",
                  "cancelOrderId": 999999999}
        r = _call(ws, "order.cancelReplace", _signed(maker, params))
        assert r["status"] == 400, r
        assert r["error"] == {"code": -2022, "msg": "Order cancel-replace failed.", "data": {
            "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."}, "newOrderResponse": None}}
        _check_rate_limits(r, orders=True)
        rest = api.signed("POST", "/v3/order/cancelReplace", maker, {**params, "newClientOrderId": cid()})
        assert (rest.status_code, rest.json) == (400, r["error"])
        # ALLOW_FAILURE, unknown order: 409 -2021, the new order placed (RESULT)
        r = _call(ws, "order.cancelReplace", _signed(maker, {
            **params, "cancelReplaceMode": "ALLOW_FAILURE", "newOrderRespType": "RESULT"}))
        assert r["status"] == 409 and r["error"]["code"] == -2021, r
        assert r["error"]["msg"] == "Order cancel-replace partially failed."
        data = r["error"]["data"]
        assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "SUCCESS")
        assert data["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
        assert list(data["newOrderResponse"]) == RESULT and data["newOrderResponse"]["status"] == "NEW"
        placed = data["newOrderResponse"]["orderId"]
        # ALLOW_FAILURE, cancel succeeds, the new LIMIT_MAKER would take: 409, cancel SUCCESS / new FAILURE
        ask = _call(ws, "order.place", _signed(taker, _limit("SELL", "0.01", price="1503",
                                                             newOrderRespType="RESULT")))["result"]
        assert ask["status"] == "NEW", ask
        r = _call(ws, "order.cancelReplace", _signed(maker, {
            "symbol": SYM, "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "1503",
            "cancelReplaceMode": "ALLOW_FAILURE", "cancelOrderId": placed}))
        assert r["status"] == 409 and r["error"]["code"] == -2021, r
        data = r["error"]["data"]
        assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
        assert list(data["cancelResponse"]) == CANCELED
        assert data["newOrderResponse"] == {"code": -2010, "msg": "Order would immediately match and take."}
        assert _rest_order(api, maker, placed)["status"] == "CANCELED"
        assert [o["orderId"] for o in api.signed("GET", "/v3/openOrders", maker, {"symbol": SYM}).json] == [live]


def test_return_rate_limits_on_the_url(gateway):
    with connect(f"{gateway.url}/ws-api/v3?returnRateLimits=false") as ws:
        assert _call(ws, "ping", req_id=1) == {"id": 1, "status": 200, "result": {}}
        assert "rateLimits" in _call(ws, "ping", {"returnRateLimits": True}, req_id=2)
        assert _call(ws, "session.status")["result"]["returnRateLimits"] is False


def test_order_count_limit(gateway, traders):
    """Over the unfilled-order count (the gateway runs Binance's default 100 per 10 s): 429
    -1015 with ``retryAfter``, the counts in ``rateLimits``; nothing is placed."""
    from chalicelib.api.ratelimit import Limits, _order_keys
    from chalicelib.clients import get_clients

    _, taker = traders
    c = get_clients()
    now = time.time()
    for t in (now, now + 10):  # this window and the next, should the request cross into it
        key = _order_keys(c.settings.redis_key_prefix, taker.account_id, t)[0]
        c.redis.set(key, Limits().orders_per_10s, ex=30)
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        r = _call(ws, "order.place", _signed(taker, _limit("BUY", "0.01", price="1000")))
        assert r["status"] == 429, r
        assert r["error"]["code"] == -1015
        assert r["error"]["msg"] == "Too many new orders; current limit is 100 orders per 10 SECOND."
        data = r["error"]["data"]
        assert list(data) == ["serverTime", "retryAfter"] and 0 < data["retryAfter"] - data["serverTime"] <= 10_000
        assert r["rateLimits"][0] == {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                                      "limit": 100, "count": 101}
        _check_rate_limits(r, orders=True)
        r = _call(ws, "openOrders.status", _signed(taker, {"symbol": SYM}), req_id=2)
        assert r["status"] == 200 and r["result"] == []
    for t in (now, now + 10):
        c.redis.delete(_order_keys(c.settings.redis_key_prefix, taker.account_id, t)[0])


def test_order_amend_keep_priority_and_amendments(gateway, matcher, api, traders, cleanup_orders):
    """``order.amend.keepPriority`` and ``order.amendments``: the REST operations' replies
    and errors, weight 4 each, no order count."""
    maker, _ = traders
    cleanup_orders.append(maker.account_id)
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        r = _call(ws, "order.place", _signed(maker, _limit("SELL", "0.5", price="2600",
                                                             newOrderRespType="RESULT")))
        assert r["status"] == 200 and r["result"]["status"] == "NEW", r
        oid, old_cid = r["result"]["orderId"], r["result"]["clientOrderId"]
        new_cid = cid()
        before = _call(ws, "ping")["rateLimits"][0]["count"]
        r = _call(ws, "order.amend.keepPriority", _signed(maker, {"symbol": SYM, "orderId": oid, "newQty": "0.3",
                                                                  "newClientOrderId": new_cid}), req_id="am")
        assert r["status"] == 200, r
        _check_rate_limits(r, orders=False)
        assert r["rateLimits"][-1]["count"] - before == 4
        assert list(r["result"]) == ["transactTime", "executionId", "amendedOrder"]
        am = r["result"]["amendedOrder"]
        assert (am["origClientOrderId"], am["clientOrderId"], am["qty"], am["status"]) == \
            (old_cid, new_cid, "0.30000000", "NEW")
        r = _call(ws, "order.amendments", _signed(maker, {"symbol": SYM, "orderId": oid}))
        assert r["status"] == 200 and r["result"] == api.signed("GET", "/v3/order/amendments", maker,
                                                                {"symbol": SYM, "orderId": oid}).json
        assert [(x["origQty"], x["newQty"]) for x in r["result"]] == [("0.50000000", "0.30000000")]
        r = _call(ws, "order.amend.keepPriority", _signed(maker, {"symbol": SYM, "orderId": oid, "newQty": "0.4"}))
        assert r["status"] == 400 and r["error"] == {"code": -2038,
                                                     "msg": "Order amend (quantity increase) is not supported."}


def test_my_prevented_matches(gateway, matcher, api, exchange_env, cleanup_orders):
    """``myPreventedMatches``: REST's answer (read from Aurora), weight 20 by ``orderId``
    and 2 by ``preventedMatchId``, -1128 for a combination Binance refuses."""
    u = make_user("wst-stp", {"USDT": "100000", "ETH": "100"})
    cleanup_orders.append(u.account_id)
    with connect(f"{gateway.url}/ws-api/v3") as ws:
        r = _call(ws, "order.place", _signed(u, _limit("SELL", "0.4", price="2777", newOrderRespType="RESULT")))
        assert r["status"] == 200 and r["result"]["status"] == "NEW", r
        maker = r["result"]["orderId"]
        r = _call(ws, "order.place", _signed(u, _limit("BUY", "0.1", price="2777", newOrderRespType="RESULT",
                                                       selfTradePreventionMode="EXPIRE_TAKER")))
        assert r["status"] == 200 and r["result"]["status"] == "EXPIRED_IN_MATCH", r
        taker = r["result"]["orderId"]
        before = _call(ws, "ping")["rateLimits"][0]["count"]
        r = _call(ws, "myPreventedMatches", _signed(u, {"symbol": SYM, "orderId": taker}), req_id="pm")
        assert r["id"] == "pm" and r["status"] == 200, r
        _check_rate_limits(r, orders=False)
        assert r["rateLimits"][-1]["count"] - before == 20
        assert r["result"] == api.signed("GET", "/v3/myPreventedMatches", u, {"symbol": SYM, "orderId": taker}).json
        [pm] = r["result"]
        assert (pm["takerOrderId"], pm["makerOrderId"], pm["selfTradePreventionMode"], pm["price"],
                pm["makerPreventedQuantity"]) == (taker, maker, "EXPIRE_TAKER", "2777.00000000", "0.10000000")
        before = _call(ws, "ping")["rateLimits"][0]["count"]  # (the REST read above counted too)
        r = _call(ws, "myPreventedMatches", _signed(u, {"symbol": SYM, "preventedMatchId": pm["preventedMatchId"]}))
        assert r["status"] == 200 and r["result"] == [pm] and r["rateLimits"][-1]["count"] - before == 2
        r = _call(ws, "myPreventedMatches", _signed(u, {"symbol": SYM}))
        assert r["status"] == 400 and r["error"] == {"code": -1128,
                                                     "msg": "Combination of optional parameters invalid."}
