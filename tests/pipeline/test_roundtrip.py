"""A full round trip through the real local pipeline: two users, crossing orders,
the trade in DynamoDB, Redis and Aurora, balances and fees exact."""
from __future__ import annotations

import json
import uuid
from decimal import Decimal

from pipeline_support import assert_invariants, make_accounts, wait_until


def test_two_users_cross(pipeline_env, matcher_thread, migrated_db):
    from chalicelib import ledger, marketdata, orders
    from chalicelib.clients import get_clients
    from chalicelib.db import transaction
    from chalicelib.errors import ExchangeError

    alice, bob = make_accounts(2, {"BTC": "1", "ETH": "10"})
    cid = uuid.uuid4().hex[:10]
    sell = orders.place_order(alice, orders.OrderRequest("ETHBTC", "SELL", "LIMIT", "GTC", Decimal("0.5"), None,
                                                         Decimal("0.05000"), None, f"s{cid}"))
    assert sell["status"] == "PENDING_NEW"
    # a retry of the same request does nothing twice
    again = orders.place_order(alice, orders.OrderRequest("ETHBTC", "SELL", "LIMIT", "GTC", Decimal("0.5"), None,
                                                          Decimal("0.05000"), None, f"s{cid}"))
    assert again["orderId"] == sell["orderId"]
    buy = orders.place_order(bob, orders.OrderRequest("ETHBTC", "BUY", "LIMIT", "GTC", Decimal("0.2"), None,
                                                      Decimal("0.05100"), None, f"b{cid}"))
    done = orders.wait_for_result(buy["orderId"], 30)
    assert done and done["status"] == "FILLED", done
    assert done["executedQty"] == Decimal("0.2000")
    assert done["cummulativeQuoteQty"] == Decimal("0.01000000")  # at the maker's price
    assert done["fills"][0]["commission"] == Decimal("0.0002") and done["fills"][0]["commissionAsset"] == "ETH"
    s = wait_until(lambda: (o := orders.get_order(alice, "ETHBTC", order_id=sell["orderId"]))
                   and o["status"] == "PARTIALLY_FILLED" and o, 10, "maker partially filled")
    assert s["executedQty"] == Decimal("0.2000")

    # Aurora: balances and fees, to the unit
    with transaction() as tx:
        bal = {(r["asset"]): r for r in ledger.balances(tx, bob)}
        assert bal["ETH"]["free"] == Decimal("10.1998") and bal["ETH"]["locked"] == 0
        assert bal["BTC"]["free"] == Decimal("0.99") and bal["BTC"]["locked"] == 0  # unused reservation released
        bal = {(r["asset"]): r for r in ledger.balances(tx, alice)}
        assert bal["ETH"]["free"] == Decimal("9.5") and bal["ETH"]["locked"] == Decimal("0.3")
        assert bal["BTC"]["free"] == Decimal("1.00999")  # 0.01 - 0.1% maker fee
        fees = {(r["asset"]): r for r in ledger.balances(tx, ledger.FEES_ACCOUNT)}
        assert fees["ETH"]["free"] >= Decimal("0.0002") and fees["BTC"]["free"] >= Decimal("0.00001")
    mine = orders.my_trades(bob, "ETHBTC")
    assert len(mine) == 1 and mine[0]["isBuyer"] and not mine[0]["isMaker"] and mine[0]["commissionAsset"] == "ETH"
    theirs = orders.my_trades(alice, "ETHBTC")
    assert theirs[0]["isMaker"] and theirs[0]["commission"] == Decimal("0.00001")
    trade_id = mine[0]["id"]

    # DynamoDB: the trade (in its batch's trade page) and the depth snapshot
    from chalicelib.tables import BookModel
    from chalicelib.tradepages import read_trades

    t = next(read_trades("ETHBTC", trade_id))
    assert (t.trade_id, t.price, t.qty, t.buyer_order_id, t.seller_order_id) == (
        trade_id, Decimal("0.05000"), Decimal("0.2000"), buy["orderId"], sell["orderId"])
    assert str(t.price) == "0.05000"  # the engine's Decimal as it was, trailing zeros and all
    depth = json.loads(BookModel.get("ETHBTC", "depth", consistent_read=True).body)
    assert ["0.05000", "0.3000"] in depth["asks"]
    # Redis: depth, last trades, ticker, kline
    r = get_clients().redis
    snap = wait_until(lambda: marketdata.read_depth(r, "ETHBTC"), 5, "depth in redis")
    assert snap["asks"][0] == ["0.05000000", "0.30000000"]
    trades = marketdata.read_trades(r, "ETHBTC", 10)
    assert any(x["id"] == trade_id for x in trades)
    assert marketdata.read_last(r, "ETHBTC")["price"] == "0.05000000"
    assert marketdata.read_klines(r, "ETHBTC", "1m", None, None, 5)

    # cancel the rest: the reservation comes back
    c = orders.cancel_order(alice, "ETHBTC", sell["orderId"], None)
    assert c["status"] == "CANCELED", c
    with transaction() as tx:
        bal = {(r["asset"]): r for r in ledger.balances(tx, alice)}
        assert bal["ETH"]["free"] == Decimal("9.8") and bal["ETH"]["locked"] == 0
    # insufficient balance is refused up front, with nothing written
    try:
        orders.place_order(bob, orders.OrderRequest("ETHBTC", "BUY", "LIMIT", "GTC", Decimal("100"), None,
                                                    Decimal("0.05000"), None, f"x{cid}"))
        raise AssertionError("expected -2010")
    except ExchangeError as exc:
        assert exc.failure.code == -2010 and "insufficient balance" in exc.failure.msg
    assert_invariants(migrated_db)
