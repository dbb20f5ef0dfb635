"""What settlement makes of an amend (pure): its outcome for the API, the reservation
of the removed quantity released exactly, the new quantity and client order id, and
the amendment rows; and that an amend is held behind a pending order like a cancel."""
from __future__ import annotations

from decimal import Decimal as D

from chalicelib import ledger
from chalicelib.errors import Reason
from chalicelib.symbols import spec_of
from chalicelib.trading.codec import SymbolCodec
from chalicelib.trading.events import EventKind as K
from chalicelib.trading.types import OrderStatus as S
from matcher.service import ordering
from matcher.service.journal import Entry
from matcher.service.settlement import Applied, _amend, cancel_outcomes, derive
from matcher.service.streams import Intent


def _a(seq, intent, kind, payload, events):
    return Applied(Entry(seq, intent, kind, payload, "sh", seq, 1000 + seq), events)


def _amend_entry(seq, oid, new_qty, cid, events):
    return _a(seq, f"7:amend:{oid}:{seq}", "AMEND",
              {"order_id": oid, "account_id": 7, "new_qty": new_qty, "new_client_order_id": cid}, events)


def test_amend_outcomes_carry_the_engine_reason():
    applied = [
        _amend_entry(1, 10, 3, "x", [(1, K.AMENDED, 10, 3, 0), (2, K.LEVEL, 1, 100, 3)]),
        _amend_entry(2, 11, 3, "y", [(3, K.REJECTED, 11, Reason.ORDER_AMEND_QTY_INCREASE)]),
        _amend_entry(3, 12, 3, "z", [(4, K.REJECTED, 12, Reason.NO_SUCH_ORDER)]),
    ]
    assert cancel_outcomes(applied) == {"7:amend:10:1": "AMENDED",
                                        "7:amend:11:2": "REJECTED:ORDER_AMEND_QTY_INCREASE",
                                        "7:amend:12:3": "REJECTED:NO_SUCH_ORDER"}


def _row(oid, side, otype, price, qty, cid, left, stop=None, asset="BTC"):
    return {"order_id": oid, "account_id": 7, "side": side, "type": otype, "price": price, "stop_price": stop,
            "orig_qty": D(qty), "client_order_id": cid, "reserved_asset": asset, "reserved_left": D(left),
            "status": "NEW"}


def test_amend_releases_exactly_the_reservation_of_the_removed_quantity():
    """ETHBTC (price x qty has 9 decimals, BTC 8): a BUY keeps what a fresh order of its
    new leaves would reserve; a SELL releases the removed base; a partly filled BUY
    releases its old leaves' reservation less its new leaves'; the ids chain."""
    spec = spec_of("ETHBTC")
    codec = SymbolCodec(spec)
    rows = {
        1: _row(1, "BUY", "LIMIT", D("0.01235"), "1.0001", "a1", "0.01235124"),
        2: _row(2, "SELL", "LIMIT", D("0.02"), "2", "b1", "2", asset="ETH"),
        3: _row(3, "BUY", "LIMIT", D("0.01235"), "1", "c1", "0.00617500"),  # 0.5 executed at 0.01235
        # a BUY STOP_LOSS is reserved at its market-protected stop price
        4: _row(4, "BUY", "STOP_LOSS", None, "1", "d1", "0.01297000", stop=D("0.01235")),
    }
    applied = [
        _amend_entry(1, 1, 5001, "a2", [(10, K.AMENDED, 1, 5001, 0)]),
        _amend_entry(2, 2, 5000, "b2", [(11, K.AMENDED, 2, 5000, 0)]),
        _amend_entry(3, 3, 7000, "c2", [(12, K.AMENDED, 3, 2000, 5000)]),
        _amend_entry(4, 4, 4000, "d2", [(13, K.AMENDED, 4, 4000, 0)]),
        _amend_entry(5, 1, 2500, "a1", [(14, K.AMENDED, 1, 2500, 0)]),
    ]
    d = derive(spec, codec, applied)
    txns: list[ledger.LedgerTxn] = []
    out = _amend(spec, codec, "ETHBTC", d.amendments, rows, txns)
    protected = D("0.01297")  # 0.01235 x 1.05 = 0.0129675, up to a tick
    assert out.released == {
        1: D("0.01235124") - D("0.00617624") + D("0.00617624") - D("0.00308750"),
        2: D("1.5"),
        3: D("0.00617500") - D("0.00247000"),
        4: (protected * D("1")).quantize(D("1e-8")) - (protected * D("0.4")).quantize(D("1e-8")),
    }
    assert [(t.txn_key, t.postings[1].amount) for t in txns][:2] == [("amend:1:10", D("0.00617500")),
                                                                      ("amend:2:11", D("1.5"))]
    assert out.orders == {1: (D("0.25"), "a1"), 2: (D("0.5"), "b2"), 3: (D("0.7"), "c2"), 4: (D("0.4"), "d2")}
    assert [(r[0], r[4], r[5], r[6], r[7]) for r in out.rows] == [
        (10, "a1", "a2", D("1.0001"), D("0.5001")), (11, "b1", "b2", D("2"), D("0.5")),
        (12, "c1", "c2", D("1"), D("0.7")), (13, "d1", "d2", D("1"), D("0.4")),
        (14, "a2", "a1", D("0.5001"), D("0.25"))]


def test_an_amend_to_what_executed_releases_nothing_itself():
    """The order is FILLED: the terminal release frees all that is left."""
    spec = spec_of("ETHBTC")
    codec = SymbolCodec(spec)
    rows = {3: _row(3, "BUY", "LIMIT", D("0.01235"), "1", "c1", "0.00617500")}
    applied = [_amend_entry(1, 3, 1000, "c2", [(12, K.AMENDED, 3, 0, 5000), (13, K.ORDER, 3, S.FILLED, 0, 5000)])]
    d = derive(spec, codec, applied)
    txns: list[ledger.LedgerTxn] = []
    out = _amend(spec, codec, "ETHBTC", d.amendments, rows, txns)
    assert txns == [] and out.released == {} and out.orders == {3: (D("0.5"), "c2")}
    assert d.orders[3].done_seq == 13


def test_an_amend_is_held_behind_its_pending_order_like_a_cancel():
    it = Intent(intent_id="7:amend:5:x", symbol="ETHBTC", kind="AMEND", account_id=7, order_id=5,
                payload={"kind": "AMEND", "order_id": 5, "account_id": 7, "new_qty": 1, "new_client_order_id": "n"},
                shard_id="s", position=1, created_ms=0)
    assert ordering.target(it) == 5 and ordering.placed(it) is None
    assert "AMEND" in ordering.INTENT_KINDS
