"""The engine's outcome of each cancel, as settlement records it for the API (pure)."""
from __future__ import annotations

from chalicelib.errors import Reason
from chalicelib.trading.events import EventKind as K
from chalicelib.trading.types import OrderStatus as S
from matcher.service.journal import Entry
from matcher.service.settlement import Applied, cancel_outcomes


def _a(seq, intent, kind, payload, events):
    return Applied(Entry(seq, intent, kind, payload, "sh", seq, 0), events)


def test_cancel_outcomes():
    applied = [
        _a(1, "7:cancel:10", "CANCEL", {"order_id": 10, "account_id": 7},
           [(1, K.ORDER, 10, S.CANCELED, 0, 0), (2, K.LEVEL, 0, 100, 0)]),
        _a(2, "7:cancel:11", "CANCEL", {"order_id": 11, "account_id": 7},
           [(3, K.REJECTED, 11, Reason.CANCEL_REJECTED)]),
        # a trade id equal to the target's order id is not the target's event
        _a(3, "7:x", "NEW", {"order_id": 12}, [(4, K.TRADE, 13, 1, 1, 1, 0, 5, 12, 1, 7)]),
        _a(4, "7:cr1", "CANCEL_REPLACE", {"order_id": 14, "cancel_order_id": 13, "account_id": 7},
           [(5, K.ORDER, 13, S.CANCELED, 0, 1), (6, K.REJECTED, 14, Reason.WOULD_TAKE)]),
        _a(5, "7:cr2", "CANCEL_REPLACE", {"order_id": 15, "cancel_order_id": 0, "account_id": 7},
           [(7, K.REJECTED, 0, Reason.CANCEL_REJECTED), (8, K.ORDER, 15, S.NEW, 1, 0)]),
        _a(6, "7:cr3", "CANCEL_REPLACE", {"order_id": 16, "cancel_order_id": 15, "account_id": 7},
           [(9, K.REJECTED, 16, Reason.FILTER_NOTIONAL)]),
    ]
    assert cancel_outcomes(applied) == {"7:cancel:10": "CANCELED", "7:cancel:11": "REJECTED", "7:cr1": "CANCELED",
                                        "7:cr2": "REJECTED", "7:cr3": "NOT_ATTEMPTED"}
