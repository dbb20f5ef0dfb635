"""Deterministic, pure-Python matching engine: one book per symbol.

Commands in and events out are defined in ``chalicelib.trading`` (shared with the API); integer ticks, lots
and notional units inside, Decimal only at the boundary (``chalicelib.trading.codec``).
:class:`FastBook` is the production book, :class:`ReferenceBook` the plain model
it is tested against; both implement :class:`OrderBook`.
"""
from chalicelib.trading.commands import Amend, Cancel, CancelOrderList, CancelReplace, NewOrder, NewOrderList
from chalicelib.trading.events import EventKind, as_dict, digest, encode
from chalicelib.trading.filters import NO_FILTERS, EngineFilters, check_new_order
from chalicelib.trading.types import (
    CancelReplaceMode,
    ContingencyType,
    ListOrderStatus,
    ListStatusType,
    OrderStatus,
    OrderType,
    Side,
    StpMode,
    TimeInForce,
)

from .book import OrderBook
from .fast import FastBook
from .reference import ReferenceBook

__all__ = [
    "Amend", "Cancel", "CancelOrderList", "CancelReplace", "CancelReplaceMode", "ContingencyType",
    "EngineFilters", "EventKind", "FastBook", "ListOrderStatus", "ListStatusType", "NO_FILTERS",
    "NewOrder", "NewOrderList", "OrderBook", "OrderStatus", "OrderType",
    "ReferenceBook", "Side", "StpMode", "TimeInForce", "as_dict", "check_new_order", "digest",
    "encode",
]
