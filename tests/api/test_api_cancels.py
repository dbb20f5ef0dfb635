"""Cancels are answered from what the engine did for *this* request (Binance's
semantics), over HTTP through the local host with the matcher running: of ten
simultaneous cancels of one order exactly one is CANCELED and nine get -2011; a cancel
that loses the race to a fill gets -2011; cancel-all lists exactly the orders it
cancelled, with their final fields, however many run at once; cancelReplace answers
every mode and failure side with Binance's status, code and halves."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest

from tests.api.conftest import make_user, signed_query

SYMBOL = "ETHUSDT"
UNKNOWN = {"code": -2011, "msg": "Unknown order sent."}


def cid() -> str:
    return "c" + uuid.uuid4().hex[:20]


_ts_lock = threading.Lock()
_last_ts = [0]


def unique_ts() -> int:
    """A distinct timestamp per request, so that equal concurrent requests are not
    replays of each other (the exchange refuses a repeated signature with -1022)."""
    with _ts_lock:
        _last_ts[0] = max(_last_ts[0] + 1, int(time.time() * 1000))
        return _last_ts[0]


class Http:
    """Signed Binance requests to the local host (real sockets, real threads)."""

    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, user=None, params: dict | None = None):
        q = (signed_query(user.secret, params or {}, unique_ts()) if user
             else "&".join(f"{k}={v}" for k, v in (params or {}).items()))
        req = urllib.request.Request(f"{self.base}/api{path}?{q}", method=method,
                                     headers={"X-MBX-APIKEY": user.api_key} if user else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def order(self, user, **params):
        return self.call("POST", "/v3/order", user, {"symbol": SYMBOL, "newOrderRespType": "RESULT", **params})

    def rest(self, user, side: str, price, qty) -> int:
        """A LIMIT GTC order that the matcher has booked (NEW)."""
        status, body = self.order(user, side=side, type="LIMIT", timeInForce="GTC", quantity=str(qty), price=str(price))
        assert status == 200 and body["status"] == "NEW", body
        return body["orderId"]

    def cancel(self, user, order_id: int):
        return self.call("DELETE", "/v3/order", user, {"symbol": SYMBOL, "orderId": order_id})


@pytest.fixture(scope="module")
def http(web_url, matcher):
    return Http(web_url)


@pytest.fixture(scope="module")
def users(exchange_env):
    return (make_user("cx-a", {"USDT": "100000", "ETH": "100"}), make_user("cx-b", {"USDT": "100000", "ETH": "100"}))


def mid_price(http) -> D:
    """A price strictly inside the current spread, so an order there is the best on its
    side whatever other tests left in the book."""
    _, depth = http.call("GET", "/v3/depth", None, {"symbol": SYMBOL, "limit": 5})
    bid = D(depth["bids"][0][0]) if depth["bids"] else D("1500")
    ask = D(depth["asks"][0][0]) if depth["asks"] else bid + D("1000")
    p = ((bid + ask) / 2).quantize(D("0.01"))
    assert bid < p < ask, (bid, ask)
    return p


def locked_usdt(http, user) -> D:
    _, acct = http.call("GET", "/v3/account", user)
    return D(next(b["locked"] for b in acct["balances"] if b["asset"] == "USDT"))


def test_ten_simultaneous_cancels_one_canceled_nine_unknown(http, users):
    """20 orders, each cancelled by 10 simultaneous requests (4 orders at a time)."""
    a, _ = users
    with ThreadPoolExecutor(40) as pool:
        oids = list(pool.map(lambda i: http.rest(a, "BUY", D("1.00") + D(i) / 100, 5), range(20)))
        for batch in range(0, 20, 4):
            group = oids[batch:batch + 4]
            results = list(pool.map(lambda oid: (oid, http.cancel(a, oid)), [o for o in group for _ in range(10)]))
            for oid in group:
                mine = [r for o, r in results if o == oid]
                ok = [b for s, b in mine if s == 200]
                assert len(ok) == 1, (oid, mine)
                assert ok[0]["status"] == "CANCELED" and ok[0]["orderId"] == oid
                assert sorted(json.dumps([s, b]) for s, b in mine if s != 200) == [json.dumps([400, UNKNOWN])] * 9
    for oid in oids:
        assert http.call("GET", "/v3/order", a, {"symbol": SYMBOL, "orderId": oid})[1]["status"] == "CANCELED"
    assert locked_usdt(http, a) == 0


def _matcher_process():
    import psutil

    for p in psutil.Process().children(recursive=True):
        if p.cmdline()[-2:] == ["-m", "matcher"]:
            return p
    raise AssertionError("no matcher process")


def test_cancel_losing_the_race_to_a_fill_is_unknown_order(http, users):
    maker, taker = users
    price = mid_price(http)
    oid = http.rest(maker, "SELL", price, "0.01")
    proc = _matcher_process()
    os.kill(proc.pid, signal.SIGSTOP)  # both intents queue; the fill is sequenced first
    try:
        status, ack = http.call("POST", "/v3/order", taker, {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT",
                                                            "timeInForce": "IOC", "quantity": "0.01",
                                                            "price": str(price), "newOrderRespType": "ACK"})
        assert status == 200, ack
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(http.cancel, maker, oid)
            time.sleep(0.5)  # the cancel is past the API's checks and in the stream
            os.kill(proc.pid, signal.SIGCONT)
            status, body = pending.result()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert (status, body) == (400, UNKNOWN)
    _, order = http.call("GET", "/v3/order", maker, {"symbol": SYMBOL, "orderId": oid})
    assert order["status"] == "FILLED" and order["executedQty"] == "0.01000000"


def test_cancel_all_lists_exactly_what_it_cancelled_with_final_fields(http, users):
    a, b = users
    price = mid_price(http)
    partial = http.rest(a, "BUY", price, "0.02")
    status, fill = http.order(b, side="SELL", type="LIMIT", timeInForce="IOC", quantity="0.01", price=str(price))
    assert status == 200 and fill["status"] == "FILLED", fill
    others = [http.rest(a, "BUY", D("2.00") + D(i) / 100, 5) for i in range(2)]
    status, body = http.call("DELETE", "/v3/openOrders", a, {"symbol": SYMBOL})
    assert status == 200
    assert [o["orderId"] for o in body] == sorted([partial] + others)
    assert all(o["status"] == "CANCELED" for o in body)
    by_id = {o["orderId"]: o for o in body}
    assert by_id[partial]["executedQty"] == "0.01000000" and by_id[partial]["origQty"] == "0.02000000"
    assert by_id[others[0]]["executedQty"] == "0.00000000"
    assert http.call("DELETE", "/v3/openOrders", a, {"symbol": SYMBOL}) == (400, UNKNOWN)


def test_concurrent_cancel_alls_cancel_each_order_once(http, users):
    a, _ = users
    for _round in range(3):
        mine = [http.rest(a, "BUY", D("3.00") + D(i) / 100, 5) for i in range(5)]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: http.call("DELETE", "/v3/openOrders", a, {"symbol": SYMBOL}), range(4)))
        listed = [o for s, b in results if s == 200 for o in b]
        assert sorted(o["orderId"] for o in listed) == sorted(mine), results
        assert {o["status"] for o in listed} == {"CANCELED"}
        assert all(b == UNKNOWN for s, b in results if s != 200)
    assert locked_usdt(http, a) == 0


# -- cancelReplace: both modes, both failure sides -------------------------------------------------------
def _replace(http, user, mode: str, old: int, **new):
    params = {"symbol": SYMBOL, "cancelReplaceMode": mode, "cancelOrderId": old, "side": "BUY",
              "newClientOrderId": cid(), **new}
    if "type" not in new:
        params.update(type="LIMIT", timeInForce="GTC", quantity="5", price="4.00")
    return http.call("POST", "/v3/order/cancelReplace", user, params), params["newClientOrderId"]


@pytest.fixture
def crossing(http, users):
    """A resting ask, and the LIMIT_MAKER BUY at its price the engine refuses (would take)."""
    _, b = users
    price = mid_price(http)
    ask = http.rest(b, "SELL", price, "0.01")
    yield {"type": "LIMIT_MAKER", "quantity": "0.01", "price": str(price)}
    http.cancel(b, ask)


def _canceled(http, user) -> int:
    oid = http.rest(user, "BUY", D("1.50"), 5)
    assert http.cancel(user, oid)[0] == 200
    return oid


@pytest.mark.parametrize("mode", ["STOP_ON_FAILURE", "ALLOW_FAILURE"])
def test_cancel_replace_both_succeed(http, users, mode):
    a, _ = users
    old = http.rest(a, "BUY", D("1.60"), 5)
    (status, body), new_cid = _replace(http, a, mode, old)
    assert status == 200, body
    assert (body["cancelResult"], body["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert body["cancelResponse"]["orderId"] == old and body["cancelResponse"]["status"] == "CANCELED"
    assert body["newOrderResponse"]["clientOrderId"] == new_cid and body["newOrderResponse"]["status"] == "NEW"
    http.cancel(a, body["newOrderResponse"]["orderId"])


def test_cancel_replace_stop_on_failure_cancel_fails(http, users):
    a, _ = users
    old = _canceled(http, a)
    before = locked_usdt(http, a)
    (status, body), new_cid = _replace(http, a, "STOP_ON_FAILURE", old)
    assert status == 400 and body == {"code": -2022, "msg": "Order cancel-replace failed.", "data": {
        "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED", "cancelResponse": UNKNOWN,
        "newOrderResponse": None}}
    assert http.call("GET", "/v3/order", a, {"symbol": SYMBOL, "origClientOrderId": new_cid})[1]["code"] == -2013
    assert locked_usdt(http, a) == before


def test_cancel_replace_stop_on_failure_cancel_races_a_fill(http, users):
    """The cancel fails in the engine (the old order filled first): nothing placed."""
    maker, taker = users
    price = mid_price(http)
    old = http.rest(maker, "SELL", price, "0.01")
    proc = _matcher_process()
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        http.call("POST", "/v3/order", taker, {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
                                               "quantity": "0.01", "price": str(price), "newOrderRespType": "ACK"})
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(_replace, http, maker, "STOP_ON_FAILURE", old, side="SELL", type="LIMIT",
                                  timeInForce="GTC", quantity="0.01", price=str(price + 1000))
            time.sleep(0.5)
            os.kill(proc.pid, signal.SIGCONT)
            (status, body), new_cid = pending.result()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert status == 400 and body["code"] == -2022, body
    assert body["data"] == {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED", "cancelResponse": UNKNOWN,
                            "newOrderResponse": None}
    _, new = http.call("GET", "/v3/order", maker, {"symbol": SYMBOL, "origClientOrderId": new_cid})
    assert new["status"] == "REJECTED"  # sequenced, refused, its reservation released


@pytest.mark.parametrize("mode", ["STOP_ON_FAILURE", "ALLOW_FAILURE"])
def test_cancel_replace_cancel_succeeds_new_order_fails(http, users, crossing, mode):
    a, _ = users
    old = http.rest(a, "BUY", D("1.70"), 5)
    (status, body), _ = _replace(http, a, mode, old, **crossing)
    assert status == 409 and body["code"] == -2021 and body["msg"] == "Order cancel-replace partially failed."
    d = body["data"]
    assert (d["cancelResult"], d["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert d["cancelResponse"]["orderId"] == old and d["cancelResponse"]["status"] == "CANCELED"
    assert d["newOrderResponse"] == {"code": -2010, "msg": "Order would immediately match and take."}


def test_cancel_replace_allow_failure_cancel_fails_new_order_placed(http, users):
    a, _ = users
    old = _canceled(http, a)
    (status, body), new_cid = _replace(http, a, "ALLOW_FAILURE", old)
    assert status == 409 and body["code"] == -2021, body
    d = body["data"]
    assert (d["cancelResult"], d["newOrderResult"]) == ("FAILURE", "SUCCESS")
    assert d["cancelResponse"] == UNKNOWN
    assert d["newOrderResponse"]["clientOrderId"] == new_cid and d["newOrderResponse"]["status"] == "NEW"
    http.cancel(a, d["newOrderResponse"]["orderId"])


def test_cancel_replace_allow_failure_both_fail(http, users, crossing):
    a, _ = users
    old = _canceled(http, a)
    before = locked_usdt(http, a)
    (status, body), _ = _replace(http, a, "ALLOW_FAILURE", old, **crossing)
    assert status == 400 and body == {"code": -2022, "msg": "Order cancel-replace failed.", "data": {
        "cancelResult": "FAILURE", "newOrderResult": "FAILURE", "cancelResponse": UNKNOWN,
        "newOrderResponse": {"code": -2010, "msg": "Order would immediately match and take."}}}
    assert locked_usdt(http, a) == before


def test_everything_released(http, users):
    for u in users:
        http.call("DELETE", "/v3/openOrders", u, {"symbol": SYMBOL})
        assert locked_usdt(http, u) == 0


@pytest.mark.parametrize("resp_type", ["ACK", "RESULT", "FULL"])
def test_limit_maker_that_would_take_is_refused_with_2010(http, users, crossing, resp_type):
    """Binance refuses a post-only order that would trade at once (400 -2010), whatever
    the newOrderRespType; its reservation is released, and a LIMIT_MAKER that rests is an order."""
    a, _ = users
    status, body = http.order(a, side="BUY", newOrderRespType=resp_type, **crossing)
    assert (status, body) == (400, {"code": -2010, "msg": "Order would immediately match and take."})
    assert locked_usdt(http, a) == 0
    status, body = http.order(a, side="BUY", newOrderRespType=resp_type, type="LIMIT_MAKER", quantity="5",
                              price="1.40")
    assert status == 200 and body["clientOrderId"] and body.get("type", "LIMIT_MAKER") == "LIMIT_MAKER", body
    assert http.cancel(a, body["orderId"])[0] == 200
