"""Events: the engine's only output.

Every command returns an ordered list of events.  An event is a plain tuple whose
first two items are the per-symbol sequence number and the :class:`EventKind`;
the rest depends on the kind (all ints except a reject's :class:`Reason`)::

    ORDER      (seq, ORDER, order_id, status, leaves_qty, executed_qty)
    TRADE      (seq, TRADE, trade_id, price, qty, quote_qty, maker_side,
                maker_order_id, taker_order_id, maker_account, taker_account)
    LEVEL      (seq, LEVEL, side, price, total_qty)        # total 0 = level gone
    REJECTED   (seq, REJECTED, order_id, reason)
    TRIGGERED  (seq, TRIGGERED, order_id, last_price)
    PREVENTED  (seq, PREVENTED, maker_order_id, taker_order_id, price, qty)
    AMENDED    (seq, AMENDED, order_id, leaves_qty, executed_qty)
    LIST       (seq, LIST, list_id, list_status_type, list_order_status)
    ACTIVATED  (seq, ACTIVATED, order_id, last_price)   # a trailing stop starts trailing

An order list (OCO, OTO, OTOCO) reports its own status with LIST events
(:class:`~.types.ListStatusType`, :class:`~.types.ListOrderStatus`): EXEC_STARTED /
EXECUTING when accepted, ALL_DONE / ALL_DONE when it no longer binds its orders,
RESPONSE / REJECT when the list (or its cancel) is refused; its orders report
themselves with ORDER / REJECTED events as any order does.

A trailing stop reports ACTIVATED when it starts tracking the price (at once when
it has no stop price; ``last_price`` None when nothing traded yet), which is when
Binance sets its ``trailingTime``.  An accepted order is reported as ``ORDER ... NEW``.  A maker's status is reported
after every fill; a taker's once, when its matching is over (FILLED, resting as
NEW/PARTIALLY_FILLED, EXPIRED, or EXPIRED_IN_MATCH when self-trade prevention
stopped it).  A LEVEL event is sent once per level a command touched, with the
level's total after the change: that is the market-data delta stream.

Tuples are cheap on the hot path and have one canonical text form
(:func:`encode`), which is what "byte for byte" determinism is checked against.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from enum import Enum, IntEnum
from typing import Any

from .types import ListOrderStatus, ListStatusType, OrderStatus, Side

Event = tuple[Any, ...]  # (seq, kind, ...fields): ints, and a reject's Reason


class EventKind(IntEnum):
    ORDER = 0
    TRADE = 1
    LEVEL = 2
    REJECTED = 3
    TRIGGERED = 4
    PREVENTED = 5
    AMENDED = 6
    LIST = 7
    ACTIVATED = 8


FIELDS: dict[int, tuple[str, ...]] = {
    EventKind.ORDER: ("order_id", "status", "leaves_qty", "executed_qty"),
    EventKind.TRADE: ("trade_id", "price", "qty", "quote_qty", "maker_side", "maker_order_id",
                      "taker_order_id", "maker_account", "taker_account"),
    EventKind.LEVEL: ("side", "price", "total_qty"),
    EventKind.REJECTED: ("order_id", "reason"),
    EventKind.TRIGGERED: ("order_id", "last_price"),
    EventKind.PREVENTED: ("maker_order_id", "taker_order_id", "price", "qty"),
    EventKind.AMENDED: ("order_id", "leaves_qty", "executed_qty"),
    EventKind.LIST: ("list_id", "list_status_type", "list_order_status"),
    EventKind.ACTIVATED: ("order_id", "last_price"),
}


def _text(x: object) -> str:
    if isinstance(x, Enum) and not isinstance(x, IntEnum):
        return x.name
    return str(int(x)) if isinstance(x, int) else str(x)


def encode(events: Iterable[Event]) -> bytes:
    """Canonical bytes of an event stream: one line per event, comma-separated,
    ints in decimal and reasons by name.  Equal streams encode equally whatever
    int subclasses (IntEnum members) they happen to hold."""
    return b"".join((",".join(map(_text, e)) + "\n").encode() for e in events)


def digest(events: Iterable[Event]) -> str:
    return hashlib.sha256(encode(events)).hexdigest()


def as_dict(event: Event) -> dict[str, Any]:
    """A readable form for logs and tests: ``{"seq":..,"kind":"TRADE",...}`` with
    status and side names."""
    kind = EventKind(event[1])
    d = {"seq": event[0], "kind": kind.name}
    for name, value in zip(FIELDS[kind], event[2:], strict=False):
        if name == "status":
            value = OrderStatus(value).name
        elif name in ("side", "maker_side"):
            value = Side(value).name
        elif name == "reason":
            value = value.name
        elif name == "list_status_type":
            value = ListStatusType(value).name
        elif name == "list_order_status":
            value = ListOrderStatus(value).name
        d[name] = value
    return d
