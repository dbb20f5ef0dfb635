"""A full round trip through the real local pipeline: two users, crossing orders,
the trade in DynamoDB, Redis and Aurora, balances and fees exact."""
from __future__ import annotations

import json
import uuid
from decimal import Decimal

from conftest import assert_invariants, make_accounts, wait_until


def test_two_users_cross(pipeline_env, matcher_thread, migrated_db):
    from chalicelib import ledger, marketdata, orders
    from chalicelib.clients import get_clients
    from chalicelib.db import transaction
    from chalicelib.errors import ExchangeError

    alice, bob = make_accounts(2, {"USDT": "10000", "BTC": "1"})
    cid = uuid.uuid4().hex[:10]
    sell = orders.place_order(alice, orders.OrderRequest("BTCUSDT", "SELL", "LIMIT", "GTC", Decimal("0.5"), None,
                                                         Decimal("20000.00"), None, f"s{cid}"))
    assert sell["status"] == "PENDING_NEW"
    # a retry of the same request does nothing twice
    again = orders.place_order(alice, orders.OrderRequest("BTCUSDT", "SELL", "LIMIT", "GTC", Decimal("0.5"), None,
                                                          Decimal("20000.00"), None, f"s{cid}"))
    assert again["orderId"] == sell["orderId"]
    buy = orders.place_order(bob, orders.OrderRequest("BTCUSDT", "BUY", "LIMIT", "GTC", Decimal("0.2"), None,
                                                      Decimal("20100.00"), None, f"b{cid}"))
    done = orders.wait_for_result(buy["orderId"], 30)
    assert done and done["status"] == "FILLED", done
    assert done["executedQty"] == Decimal("0.20000")
    assert done["cummulativeQuoteQty"] == Decimal("4000.00000000")  # at the maker's price
    assert done["fills"][0]["commission"] == Decimal("0.0002") and done["fills"][0]["commissionAsset"] == "BTC"
    s = wait_until(lambda: (o := orders.get_order(alice, "BTCUSDT", order_id=sell["orderId"]))
                   and o["status"] == "PARTIALLY_FILLED" and o, 10, "maker partially filled")
    assert s["executedQty"] == Decimal("0.20000")

    # Aurora: balances and fees, to the unit
    with transaction() as tx:
        bal = {(r["asset"]): r for r in ledger.balances(tx, bob)}
        assert bal["BTC"]["free"] == Decimal("1.1998") and bal["BTC"]["locked"] == 0
        assert bal["USDT"]["free"] == Decimal("6000") and bal["USDT"]["locked"] == 0  # unused reservation released
        bal = {(r["asset"]): r for r in ledger.balances(tx, alice)}
        assert bal["BTC"]["free"] == Decimal("0.5") and bal["BTC"]["locked"] == Decimal("0.3")
        assert bal["USDT"]["free"] == Decimal("13996")  # 4000 - 0.1% maker fee
        fees = {(r["asset"]): r for r in ledger.balances(tx, ledger.FEES_ACCOUNT)}
        assert fees["BTC"]["free"] >= Decimal("0.0002") and fees["USDT"]["free"] >= Decimal("4")
    mine = orders.my_trades(bob, "BTCUSDT")
    assert len(mine) == 1 and mine[0]["isBuyer"] and not mine[0]["isMaker"] and mine[0]["commissionAsset"] == "BTC"
    theirs = orders.my_trades(alice, "BTCUSDT")
    assert theirs[0]["isMaker"] and theirs[0]["commission"] == Decimal("4")
    trade_id = mine[0]["id"]

    # DynamoDB: the trade and the depth snapshot
    from chalicelib.tables import BookModel, TradeModel

    t = TradeModel.get("BTCUSDT", trade_id, consistent_read=True)
    assert (t.price, t.qty, t.buyer_order_id, t.seller_order_id) == ("20000.00", "0.20000", buy["orderId"],
                                                                     sell["orderId"])
    depth = json.loads(BookModel.get("BTCUSDT", "depth", consistent_read=True).body)
    assert ["20000.00", "0.30000"] in depth["asks"]
    # Redis: depth, last trades, ticker, kline
    r = get_clients().redis
    snap = wait_until(lambda: marketdata.read_depth(r, "BTCUSDT"), 5, "depth in redis")
    assert snap["asks"][0] == ["20000.00000000", "0.30000000"]
    trades = marketdata.read_trades(r, "BTCUSDT", 10)
    assert any(x["id"] == trade_id for x in trades)
    assert marketdata.read_last(r, "BTCUSDT")["price"] == "20000.00000000"
    assert marketdata.read_klines(r, "BTCUSDT", "1m", None, None, 5)

    # cancel the rest: the reservation comes back
    c = orders.cancel_order(alice, "BTCUSDT", sell["orderId"], None)
    assert c["status"] == "CANCELED", c
    with transaction() as tx:
        bal = {(r["asset"]): r for r in ledger.balances(tx, alice)}
        assert bal["BTC"]["free"] == Decimal("0.8") and bal["BTC"]["locked"] == 0
    # insufficient balance is refused up front, with nothing written
    try:
        orders.place_order(bob, orders.OrderRequest("BTCUSDT", "BUY", "LIMIT", "GTC", Decimal("1"), None,
                                                    Decimal("90000.00"), None, f"x{cid}"))
        raise AssertionError("expected -2010")
    except ExchangeError as exc:
        assert exc.failure.code == -2010 and "insufficient balance" in exc.failure.msg
    assert_invariants(migrated_db)
