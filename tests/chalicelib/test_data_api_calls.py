"""How many Data API calls a read costs, counted on the rds-data client as it talks to
the real local Data API: a read that needs no transaction is one ExecuteStatement
(before: BeginTransaction + ExecuteStatement + CommitTransaction for every read,
including every poll of ``wait_for_result``)."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from chalicelib import orders, tradehistory
from tests.api.conftest import make_user


@pytest.fixture(scope="module")
def placed(exchange_env):
    """An account with one resting (unmatched) order: (account id, order dict)."""
    user = make_user("calls", {"USDT": "1000"})
    req = orders.OrderRequest(symbol="BTCUSDT", side="BUY", type="LIMIT", time_in_force="GTC",
                              quantity=Decimal("0.001"), quote_order_qty=None, price=Decimal("10000"),
                              stop_price=None, client_order_id="c" + uuid.uuid4().hex[:20])
    return user.account_id, orders.place_order(user.account_id, req)


READS = {
    "get_order": lambda a, o: orders.get_order(a, "BTCUSDT", order_id=o["orderId"]),
    "open_orders": lambda a, o: orders.open_orders(a, "BTCUSDT"),
    "all_orders": lambda a, o: orders.all_orders(a, "BTCUSDT"),
    "my_trades": lambda a, o: orders.my_trades(a, "BTCUSDT"),
    "fills": lambda a, o: orders.fills(o["orderId"]),
    # one poll (the order is PENDING_NEW: no matcher runs here) until the deadline passes
    "wait_for_result (one poll)": lambda a, o: orders.wait_for_result(o["orderId"], 0),
    # market data from Aurora when the cache is cold
    "tradehistory.trades": lambda a, o: tradehistory.trades("BTCUSDT", limit=10),
    "tradehistory.klines": lambda a, o: tradehistory.klines("BTCUSDT", "1m", None, None, 10),
    "tradehistory.window_stats": lambda a, o: tradehistory.window_stats(["BTCUSDT", "ETHUSDT"], 0),
    "tradehistory.last_trades": lambda a, o: tradehistory.last_trades(["BTCUSDT", "ETHUSDT"]),
}


@pytest.mark.parametrize("name", list(READS))
def test_a_read_is_one_data_api_call(placed, data_api_calls, name):
    account_id, order = placed
    result = READS[name](account_id, order)
    assert result is not None or name.startswith("wait_for_result")
    assert dict(data_api_calls) == {"ExecuteStatement": 1}, (name, dict(data_api_calls))
