"""Self-trade prevention's prevented matches (``GET /api/v3/myPreventedMatches``) over
HTTP through the local host with the matcher running: a worked example per mode
(EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH), each read back from Aurora by
``preventedMatchId`` and by ``orderId`` (with ``fromPreventedMatchId`` and ``limit``),
Binance's -1128 for the combinations it does not allow, its weights, and another
account seeing none of them."""
from __future__ import annotations

import pytest

from chalicelib.api.ops import prevented_matches_weight
from tests.api.conftest import make_user
from tests.api.test_api_cancels import SYMBOL, Http, mid_price

PATH = "/v3/myPreventedMatches"
BAD_COMBO = {"code": -1128, "msg": "Combination of optional parameters invalid."}
FIELDS = ["symbol", "preventedMatchId", "takerOrderId", "makerSymbol", "makerOrderId", "tradeGroupId",
          "selfTradePreventionMode", "price", "makerPreventedQuantity", "transactTime"]


@pytest.fixture(scope="module")
def http(web_url, matcher):
    return Http(web_url)


def query(http, user, **params):
    return http.call("GET", PATH, user, {"symbol": SYMBOL, **params})


def _clean(http, user) -> None:
    http.call("DELETE", "/v3/openOrders", user, {"symbol": SYMBOL})


# mode -> (the taker's status, the maker's status) after a prevented match
OUTCOMES = {"EXPIRE_TAKER": ("EXPIRED_IN_MATCH", "NEW"), "EXPIRE_MAKER": ("NEW", "EXPIRED_IN_MATCH"),
            "EXPIRE_BOTH": ("EXPIRED_IN_MATCH", "EXPIRED_IN_MATCH")}


@pytest.mark.parametrize("mode", list(OUTCOMES))
def test_a_prevented_match_per_mode_is_recorded_and_queryable(http, mode):
    u = make_user(f"stp-{mode.lower()}", {"USDT": "100000", "ETH": "10"})
    price = mid_price(http)
    maker = http.rest(u, "SELL", price, "0.0500")
    status, taker = http.order(u, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.0300", price=str(price),
                               selfTradePreventionMode=mode)
    assert status == 200, taker
    assert taker["executedQty"] == "0.00000000" and taker["selfTradePreventionMode"] == mode
    _, m = http.call("GET", "/v3/order", u, {"symbol": SYMBOL, "orderId": maker})
    assert (taker["status"], m["status"]) == OUTCOMES[mode]

    status, by_order = query(http, u, orderId=taker["orderId"])
    assert status == 200, by_order
    assert len(by_order) == 1 and list(by_order[0]) == FIELDS
    pm = by_order[0]
    assert pm == {"symbol": SYMBOL, "preventedMatchId": pm["preventedMatchId"], "takerOrderId": taker["orderId"],
                  "makerSymbol": SYMBOL, "makerOrderId": maker, "tradeGroupId": -1,
                  "selfTradePreventionMode": mode, "price": f"{price:.8f}", "makerPreventedQuantity": "0.03000000",
                  "transactTime": pm["transactTime"]}
    assert pm["transactTime"] >= taker["transactTime"]  # the engine's time of the match, after the request's
    # the same match by its id, and by the maker's order id
    assert query(http, u, preventedMatchId=pm["preventedMatchId"]) == (200, by_order)
    assert query(http, u, orderId=maker) == (200, by_order)

    # an order that STP expired shows its prevented match and quantity (RESULT, order query, allOrders);
    # an order it left working does not
    want = {"preventedMatchId": pm["preventedMatchId"], "preventedQuantity": "0.03000000"}
    _, m = http.call("GET", "/v3/order", u, {"symbol": SYMBOL, "orderId": maker})
    _, t = http.call("GET", "/v3/order", u, {"symbol": SYMBOL, "orderId": taker["orderId"]})
    _, listed = http.call("GET", "/v3/allOrders", u, {"symbol": SYMBOL})
    assert listed == [m, t]
    for order, placed in ((t, taker), (m, None)):
        got = {k: order[k] for k in want if k in order}
        assert got == (want if order["status"] == "EXPIRED_IN_MATCH" else {}), order
        if placed is not None:
            assert {k: placed[k] for k in want if k in placed} == got
        if got:
            assert list(order)[-2:] == list(want)
    _clean(http, u)


def test_several_prevented_matches_of_one_taker_by_order_from_id_and_limit(http):
    u = make_user("stp-many", {"USDT": "100000", "ETH": "10"})
    other = make_user("stp-other", {"USDT": "100000", "ETH": "10"})
    price = mid_price(http)
    makers = [http.rest(u, "SELL", price, "0.0100"), http.rest(u, "SELL", price, "0.0200")]
    status, taker = http.order(u, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.0500", price=str(price),
                               selfTradePreventionMode="EXPIRE_MAKER")
    assert status == 200 and taker["status"] == "NEW", taker  # both makers expired, the taker rests whole

    status, both = query(http, u, orderId=taker["orderId"])
    assert status == 200, both
    assert [(p["makerOrderId"], p["makerPreventedQuantity"]) for p in both] == \
        [(makers[0], "0.01000000"), (makers[1], "0.02000000")]
    first, second = (p["preventedMatchId"] for p in both)
    assert first < second
    assert query(http, u, orderId=taker["orderId"], fromPreventedMatchId=second) == (200, both[1:])
    assert query(http, u, orderId=taker["orderId"], fromPreventedMatchId=first, limit=1) == (200, both[:1])
    assert query(http, u, orderId=taker["orderId"], limit=1) == (200, both[:1])
    assert query(http, u, orderId=makers[1]) == (200, both[1:])
    assert query(http, u, preventedMatchId=second) == (200, both[1:])
    # no such match / not this account's: an empty list, as for an order without any
    assert query(http, u, preventedMatchId=second + 10**9) == (200, [])
    assert query(http, other, preventedMatchId=second) == (200, [])
    assert query(http, other, orderId=taker["orderId"]) == (200, [])
    _clean(http, u)


@pytest.mark.parametrize("params", [
    {},                                                        # neither preventedMatchId nor orderId
    {"preventedMatchId": 1, "orderId": 1},                     # both
    {"preventedMatchId": 1, "fromPreventedMatchId": 1},        # fromPreventedMatchId goes with orderId
    {"fromPreventedMatchId": 1},
])
def test_combinations_binance_does_not_allow_are_1128(http, params):
    u = make_user("stp-combo", {})
    assert query(http, u, **params) == (400, BAD_COMBO)


def test_parameter_errors(http):
    u = make_user("stp-params", {})
    assert http.call("GET", PATH, u, {"symbol": "NOPEUSDT", "orderId": 1})[1]["code"] == -1121
    assert http.call("GET", PATH, u, {"orderId": 1})[1]["code"] == -1102
    assert query(http, u, orderId=1, limit=1001)[1]["code"] == -1100  # as every limit over its maximum
    assert query(http, u, preventedMatchId="x")[1]["code"] == -1100


def test_weights_as_binance_documents():
    assert prevented_matches_weight({"symbol": SYMBOL, "preventedMatchId": 1}) == 2
    assert prevented_matches_weight({"symbol": SYMBOL, "preventedMatchId": None}) == 20
    assert prevented_matches_weight({"symbol": "NOPEUSDT", "preventedMatchId": None}) == 2
