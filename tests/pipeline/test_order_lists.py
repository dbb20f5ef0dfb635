"""An OCO through the real local pipeline (Aurora, DynamoDB and its stream, the matcher
in a thread, Redis): a BUY OCO reserves once, for its dearer leg (the stop-limit);
its cheaper LIMIT_MAKER leg fills, the stop leg expires, and the reservation the stop
leg carried pays the fill, the rest coming back to the unit; the user data stream
carries the list's status and the legs' orderListId."""
from __future__ import annotations

import json
import uuid
from decimal import ROUND_FLOOR, Decimal

from pipeline_support import assert_invariants, make_accounts, wait_until

SYMBOL = "ETHBTC"
TICK = Decimal("0.00001")


def _book(redis):
    from chalicelib import marketdata

    snap = marketdata.read_depth(redis, SYMBOL) or {}
    bid = Decimal(snap["bids"][0][0]) if snap.get("bids") else None
    ask = Decimal(snap["asks"][0][0]) if snap.get("asks") else None
    last = marketdata.read_last(redis, SYMBOL)
    return bid, ask, Decimal(last["price"]) if last else None


def test_an_oco_leg_fills_the_other_expires_funds_exact(pipeline_env, matcher_thread, migrated_db):
    from chalicelib import ledger, orderlists, orders, userevents
    from chalicelib.clients import get_clients
    from chalicelib.db import transaction

    bob, alice = make_accounts(2, {"BTC": "1", "ETH": "10"})
    redis = get_clients().redis
    bid, ask, last = _book(redis)
    # the limit leg becomes the best bid, the stop sits above every price seen
    limit = (bid + TICK) if bid is not None else Decimal("0.04000")
    if ask is not None and limit >= ask:
        limit = (ask - TICK)
    stop = (max(x for x in (limit, ask, last) if x is not None) * Decimal("1.5")).quantize(TICK)
    qty = Decimal("0.5")
    tag = uuid.uuid4().hex[:8]
    below = orders.OrderRequest(SYMBOL, "BUY", "LIMIT_MAKER", None, qty, None, limit, None, f"lm{tag}")
    above = orders.OrderRequest(SYMBOL, "BUY", "STOP_LOSS_LIMIT", "GTC", qty, None, stop, stop, f"sl{tag}")
    placed = orderlists.place_oco(bob, orderlists.OcoRequest(SYMBOL, f"oco{tag}", below, above))
    limit_id, stop_id = (o["orderId"] for o in placed["orders"])
    with transaction() as tx:
        btc = {r["asset"]: r for r in ledger.balances(tx, bob)}["BTC"]
    assert btc["locked"] == stop * qty and btc["free"] == 1 - stop * qty  # once: the dearer leg's need

    wait_until(lambda: orders.get_order(bob, SYMBOL, order_id=limit_id)["status"] == "NEW", 20, "the OCO placed")
    sell = orders.place_order(alice, orders.OrderRequest(SYMBOL, "SELL", "LIMIT", "IOC", qty, None, limit, None,
                                                         f"t{tag}"))
    done = orders.wait_for_result(sell["orderId"], 20)
    assert done and done["status"] == "FILLED" and done["fills"][0]["price"] == limit, done
    wait_until(lambda: orders.get_order(bob, SYMBOL, order_id=stop_id)["status"] == "EXPIRED", 10, "stop leg expired")
    assert orders.get_order(bob, SYMBOL, order_id=limit_id)["status"] == "FILLED"
    lst = orderlists.get_order_list(bob, order_list_id=placed["orderListId"])
    assert (lst["listStatusType"], lst["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")

    paid = (limit * qty).quantize(Decimal("0.00000001"), ROUND_FLOOR)
    with transaction() as tx:
        bal = {r["asset"]: r for r in ledger.balances(tx, bob)}
    assert bal["BTC"]["locked"] == 0 and bal["BTC"]["free"] == 1 - paid
    assert bal["ETH"]["free"] == 10 + qty - qty * Decimal("0.001") and bal["ETH"]["locked"] == 0  # maker fee

    # the user data stream: executionReports with g, the stop leg's OCO_TRIGGER, listStatus
    key = userevents.stream_key(bob, get_clients().settings.redis_key_prefix)

    def events():
        return [json.loads(f.get(b"e") or f.get("e")) for _, f in redis.xrange(key)]

    got = wait_until(lambda: (evs := events()) and any(e.get("e") == "listStatus" and e["l"] == "ALL_DONE"
                                                        for e in evs) and evs, 10, "listStatus ALL_DONE")
    reports = [e for e in got if e.get("e") == "executionReport"]
    assert {e["g"] for e in reports} == {placed["orderListId"]}
    expired = [e for e in reports if e["i"] == stop_id and e["X"] == "EXPIRED"]
    assert expired and expired[0]["eR"] == "OCO_TRIGGER"
    statuses = [(e["l"], e["L"]) for e in got if e.get("e") == "listStatus"]
    assert statuses == [("EXEC_STARTED", "EXECUTING"), ("ALL_DONE", "ALL_DONE")]
    assert all([o["i"] for o in e["O"]] == [limit_id, stop_id] for e in got if e.get("e") == "listStatus")
    assert_invariants(migrated_db)
