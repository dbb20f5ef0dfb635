"""Every malformed, missing, oversized, negative, NaN, too-precise or unknown
parameter gets Binance's code, and a refused order changes nothing."""
from __future__ import annotations

import pytest

LIMIT_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
             "price": "20000"}


def _state(pg_conn, account_id):
    with pg_conn.cursor() as cur:
        cur.execute("SELECT asset, free, locked FROM balances WHERE account_id = %s ORDER BY asset", (account_id,))
        balances = cur.fetchall()
        cur.execute("SELECT count(*) FROM orders WHERE account_id = %s", (account_id,))
        orders = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM ledger_entries WHERE account_id = %s", (account_id,))
        entries = cur.fetchone()[0]
    pg_conn.rollback()
    return balances, orders, entries


ORDER_CASES = [
    ({"symbol": None}, -1102),
    ({"symbol": "FOOBAR"}, -1121),
    ({"symbol": "btcusdt"}, -1100),
    ({"symbol": "BTC USDT"}, -1100),
    ({"side": "HOLD"}, -1117),
    ({"side": None}, -1102),
    ({"type": "ICEBERG"}, -1116),
    ({"timeInForce": "FOREVER"}, -1115),
    ({"timeInForce": None}, -1102),
    ({"price": None}, -1102),
    ({"price": ""}, -1105),
    ({"quantity": "-1"}, -1100),
    ({"quantity": "NaN"}, -1100),
    ({"quantity": "Infinity"}, -1100),
    ({"quantity": "1e-3"}, -1100),
    ({"quantity": "0x10"}, -1100),
    ({"quantity": "1" * 30}, -1100),
    ({"quantity": "0.000000001"}, -1111),
    ({"price": "20000.123456789"}, -1111),
    ({"quantity": "0.000001"}, -1013),
    ({"price": "20000.001"}, -1013),
    ({"quantity": "0.00001", "price": "1"}, -1013),
    ({"quantity": "100000"}, -1013),
    ({"quantity": "5", "price": "999999"}, -2010),
    ({"stopPrice": "1"}, -1106),
    ({"newClientOrderId": "x" * 37}, -1100),
    ({"newClientOrderId": "bad id!"}, -1100),
    ({"newOrderRespType": "ALL"}, -1100),
    ({"selfTradePreventionMode": "SOMETIMES"}, -1100),
    ({"recvWindow": "70000"}, -1131),
    ({"icebergQty": "0.001", "timeInForce": "IOC"}, -1014),
    ({"icebergQty": "0.01"}, -2010),
    ({"icebergQty": "0.0001"}, -1013),
    ({"icebergQty": "0.000001"}, -1013),
    ({"icebergQty": "0.000000001"}, -1111),
    ({"trailingDelta": "100"}, -1106),
    ({"unknownParam": "1"}, -1104),
    ({"strategyType": "5"}, -1100),
]


@pytest.mark.parametrize("change,code", ORDER_CASES,
                         ids=[f"{list(c)[0]}={str(list(c.values())[0])[:12]}" for c, _ in ORDER_CASES])
def test_bad_order_parameters_change_nothing(api, alice, pg_conn, change, code):
    params = {**LIMIT_BUY, **change}
    params = {k: v for k, v in params.items() if v is not None}
    before = _state(pg_conn, alice.account_id)
    r = api.signed("POST", "/v3/order", alice, params, in_body=True)
    assert r.json["code"] == code, r.json
    assert r.status_code == 400 and set(r.json) == {"code", "msg"}
    assert _state(pg_conn, alice.account_id) == before


def test_market_order_parameter_rules(api, alice):
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}
    assert api.signed("POST", "/v3/order", alice, base).json["code"] == -1102
    r = api.signed("POST", "/v3/order", alice, {**base, "quantity": "1", "quoteOrderQty": "10"})
    assert r.json["code"] == -1106
    assert api.signed("POST", "/v3/order", alice, {**base, "quantity": "1", "price": "1"}).json["code"] == -1106


def test_malformed_requests(api, alice):
    assert api.call("GET", "/v3/depth", "symbol=BTCUSDT&symbol=ETHBTC").json["code"] == -1101
    many = "&".join(f"p{i}=1" for i in range(31))
    assert api.call("GET", "/v3/depth", f"symbol=BTCUSDT&{many}").json["code"] == -1101
    assert api.call("GET", "/v3/depth", "symbol=BTCUSDT&limit=abc").json["code"] == -1100
    assert api.call("GET", "/v3/depth", "symbol=BTCUSDT&limit=0").json["code"] == -1100
    assert api.call("GET", "/v3/depth", "symbol=BTCUSDT&limit=-5").json["code"] == -1100
    assert api.call("GET", "/v3/depth", "symbol=BTCUSDT&limit=").json["code"] == -1105
    assert api.call("GET", "/v3/depth", "symbol=" + "A" * 5000).json["code"] == -1100
    assert api.call("GET", "/v3/depth", "").json["code"] == -1102
    assert api.call("GET", "/v3/klines", "symbol=BTCUSDT&interval=7m").json["code"] == -1120
    assert api.call("GET", "/v3/ticker/price", 'symbols=["BTCUSDT"]&symbol=BTCUSDT').json["code"] == -1106
    assert api.call("GET", "/v3/ticker/price", "symbols=notjson").json["code"] == -1100
    assert api.call("GET", "/v3/ticker/price", 'symbols=["NOPE"]').json["code"] == -1121
    r = api.call("POST", "/v3/order", body=b"symbol=\xff\xfe", headers={"X-MBX-APIKEY": alice.api_key})
    assert r.json["code"] == -1100
    r = api.call("POST", "/v3/order", body="x" * 20000, headers={"X-MBX-APIKEY": alice.api_key})
    assert r.json["code"] == -1101
    r = api.web("POST", "/v1/auth/signIn", "", None)
    assert r.json["code"] == -1102
    r = api.call("POST", "/v1/auth/signIn", body="{not json", content_type="application/json")
    assert r.json["code"] == -1102
    r = api.call("POST", "/v1/auth/signIn", body='{"email": ["a"], "password": "x"}', content_type="application/json")
    assert r.json["code"] == -1102


def test_every_error_is_a_binance_body(api):
    for path, q in (("/v3/depth", "symbol=%00"), ("/v3/aggTrades", "symbol=BTCUSDT&startTime=99999999999999999999"),
                    ("/v3/avgPrice", "symbol=BTCUSDT&x=%ZZ"), ("/v3/ticker", "windowSize=8d")):
        r = api.call("GET", path, q)
        assert 400 <= r.status_code < 500 and isinstance(r.json["code"], int) and r.json["msg"], (path, r.json)
