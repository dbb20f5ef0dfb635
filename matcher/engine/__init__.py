"""Deterministic, pure-Python matching engine: one book per symbol.

Commands in (:mod:`.commands`), events out (:mod:`.events`); integer ticks, lots
and notional units inside, Decimal only at the boundary (:mod:`.convert`).
:class:`FastBook` is the production book, :class:`ReferenceBook` the plain model
it is tested against; both implement :class:`OrderBook`.
"""
from .book import OrderBook
from .commands import Amend, Cancel, CancelReplace, NewOrder
from .events import EventKind, as_dict, digest, encode
from .fast import FastBook
from .filters import NO_FILTERS, EngineFilters, check_new_order
from .reference import ReferenceBook
from .types import CancelReplaceMode, OrderStatus, OrderType, Side, StpMode, TimeInForce

__all__ = [
    "Amend", "Cancel", "CancelReplace", "CancelReplaceMode", "EngineFilters", "EventKind",
    "FastBook", "NO_FILTERS", "NewOrder", "OrderBook", "OrderStatus", "OrderType",
    "ReferenceBook", "Side", "StpMode", "TimeInForce", "as_dict", "check_new_order", "digest",
    "encode",
]
