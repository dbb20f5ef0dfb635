"""Data API calls per signed read, end to end through the app and the real local Data
API (the API key already cached, as on a warm container): a read needing no
transaction costs one ExecuteStatement per statement, never Begin/Commit."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("path, params, statements", [
    ("/v3/openOrders", {"symbol": "BTCUSDT"}, 1),
    ("/v3/allOrders", {"symbol": "BTCUSDT"}, 1),
    ("/v3/myTrades", {"symbol": "BTCUSDT"}, 1),
    ("/v1/capital/deposit/hisrec", {}, 1),
    ("/v3/account", {}, 1),  # the account, its balances and their last change in one statement
])
def test_signed_reads(api, alice, data_api_calls, path, params, statements):
    assert api.signed("GET", path, alice, params).status_code == 200  # warms the key cache
    data_api_calls.clear()
    r = api.signed("GET", path, alice, params)
    assert r.status_code == 200, r.json
    assert dict(data_api_calls) == {"ExecuteStatement": statements}
    if path == "/v3/account":  # what the one statement brings back
        held = {b["asset"]: b for b in r.json["balances"]}
        assert r.json["updateTime"] > 0 and r.json["uid"] == alice.account_id
        assert {"BTC", "ETH", "USDT"} <= set(held) and all(len(b["free"].split(".")[1]) == 8 for b in held.values())
