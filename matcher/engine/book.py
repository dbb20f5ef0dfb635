"""The one interface every book implements, and what all books share.

A book owns one symbol's whole engine state: resting orders by price level
(FIFO within a level), pending stop orders, the last trade price and the
sequence counters.  Implementations:

* :class:`matcher.engine.reference.ReferenceBook` -- plain and obviously right;
  the model the differential tests trust.
* :class:`matcher.engine.fast.FastBook` -- the production book, tuned for the
  hot path (one limit order that rests or crosses one level).

Both produce the same events for the same commands, serialise to the same bytes
and report the same :meth:`state_hash`, so either can restore the other's
snapshot.  Shared here: the command dispatcher, cancel-replace (composed of
cancel and new order), and the snapshot format.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from abc import ABC, abstractmethod
from typing import Any

from chalicelib.errors import Reason
from chalicelib.trading.commands import Amend, Cancel, CancelOrderList, CancelReplace, NewOrder, NewOrderList
from chalicelib.trading.events import Event, EventKind
from chalicelib.trading.filters import NO_FILTERS, EngineFilters, check_new_order
from chalicelib.trading.types import CancelReplaceMode, Side

from .lists import OrderLists

SNAPSHOT_MAGIC = b"MXEB"
SNAPSHOT_VERSION = 1

Level = tuple[int, int]  # (price, total_qty)
OpenOrder = tuple[int, int, int, int, bool]  # (side, price, leaves_qty, orig_qty, is_stop)
State = dict[str, Any]  # export_state's plain ints and lists


class OrderBook(OrderLists, ABC):
    """One symbol's matching engine.  No I/O, clock or randomness: the same
    snapshot and the same commands give the same events, byte for byte.  Order
    lists (OCO, OTO, OTOCO) are :class:`.lists.OrderLists`' rules on top of it."""

    def __init__(self, filters: EngineFilters = NO_FILTERS):
        self.filters = filters
        self._init_lists()

    # -- commands ---------------------------------------------------------------
    def process(self, command: Any) -> list[Event]:
        """Apply one command (a NewOrder, Cancel, Amend, CancelReplace, NewOrderList
        or CancelOrderList) and return its events (see :mod:`.events`)."""
        events = self._dispatch(command)
        if self._lists:
            self._drive_lists(events)
        return events

    def _dispatch(self, command: Any) -> list[Event]:
        kind = type(command)
        if kind is NewOrder:
            return self.new_order(command)
        if kind is Cancel:
            if self._list_of:
                held = self._cancel_pending(command.order_id, command.account_id)
                if held is not None:
                    return held
            return self.cancel(command.order_id, command.account_id)
        if kind is Amend:
            return self.amend(command.order_id, command.account_id, command.new_qty)
        if kind is CancelReplace:
            return self.cancel_replace(command)
        if kind is NewOrderList:
            return self.new_order_list(command)
        if kind is CancelOrderList:
            return self.cancel_order_list(command)
        raise TypeError(f"not a command: {command!r}")

    @abstractmethod
    def new_order(self, order: NewOrder) -> list[Event]: ...

    @abstractmethod
    def cancel(self, order_id: int, account_id: int) -> list[Event]: ...

    @abstractmethod
    def amend(self, order_id: int, account_id: int, new_qty: int) -> list[Event]: ...

    def cancel_replace(self, command: CancelReplace) -> list[Event]:
        """Cancel then place, as one command.

        The new order's filters are checked first, against the book as it is, so a
        new order that can never be accepted leaves the old one untouched.  A failed
        cancel under STOP_ON_FAILURE reports the new order as not placed."""
        new = command.new_order
        reason = self.precheck(new)
        if reason is not None:
            return [self._reject_event(new.order_id, reason)]
        events = self.cancel(command.cancel_order_id, command.account_id)
        cancel_failed = events[-1][1] == EventKind.REJECTED
        if cancel_failed and command.mode == CancelReplaceMode.STOP_ON_FAILURE:
            events.append(self._reject_event(new.order_id, Reason.NEW_ORDER_REJECTED))
            return events
        events.extend(self.new_order(new))
        return events

    def precheck(self, order: NewOrder) -> Reason | None:
        """The filter failure ``order`` would be rejected with now, without touching
        the book."""
        best = self.best_ask() if order.side == Side.BUY else self.best_bid()
        return check_new_order(self.filters, order, best[0] if best else None, self.last_price)

    @abstractmethod
    def _reject_event(self, order_id: int, reason: Reason) -> Event:
        """A REJECTED event with the next sequence number."""

    def _would_take(self, order: NewOrder) -> bool:
        best = self.best_ask() if order.side == Side.BUY else self.best_bid()
        if best is None:
            return False
        return best[0] <= order.price if order.side == Side.BUY else best[0] >= order.price

    def _knows_order(self, order_id: int) -> bool:
        return self.open_order(order_id) is not None

    def _end_leg(self, order_id: int, status: int) -> list[Event]:
        """End a list's live order with ``status``: a cancel, reported with that
        status (EXPIRED when the list's rule ends it); a triggered stop not yet
        released is dropped from the trigger queue."""
        found = self.open_order(order_id)
        if found is None:
            return self._end_triggered(order_id, status)
        events = self.cancel(order_id, self._account_of(order_id))
        first = events[0]
        events[0] = (first[0], first[1], first[2], status, *first[4:])
        return events

    @abstractmethod
    def _account_of(self, order_id: int) -> int:
        """The account of a live order (resting or pending stop)."""

    @abstractmethod
    def _end_triggered(self, order_id: int, status: int) -> list[Event]:
        """Drop a triggered, not yet released stop from the queue with ``status``; []
        when there is none with that id."""

    # -- queries (market data is a read of the book, not a copy) -----------------
    @property
    @abstractmethod
    def last_price(self) -> int | None: ...

    @abstractmethod
    def best_bid(self) -> Level | None: ...

    @abstractmethod
    def best_ask(self) -> Level | None: ...

    @abstractmethod
    def depth(self, n: int) -> tuple[list[Level], list[Level]]:
        """Up to ``n`` levels a side, best first: ``(bids, asks)``."""

    @abstractmethod
    def resting_count(self) -> int: ...

    @abstractmethod
    def open_order(self, order_id: int) -> OpenOrder | None:
        """``(side, price, leaves_qty, orig_qty, is_stop)`` of a resting order or a
        pending stop, else None."""

    # -- state --------------------------------------------------------------------
    @abstractmethod
    def export_state(self) -> State:
        """The canonical state: plain ints and lists, identical for equal books::

            {"version", "seq", "trade_id", "last_price",
             "bids"/"asks": [[price, [[order_id, account, leaves, orig], ...]], ...]
                            best level first, FIFO within a level,
             "stops": [[order_id, account, side, type, tif, price, qty, stop_price,
                        stp_mode, accept_seq], ...] in acceptance order}
        """

    @abstractmethod
    def import_state(self, state: State) -> None:
        """Replace this (empty) book's state by ``state`` from :meth:`export_state`."""

    @abstractmethod
    def validate_internal_state(self) -> None:
        """Raise AssertionError when an internal invariant does not hold."""

    def snapshot(self) -> bytes:
        """Compact, versioned serialisation: magic, version byte, zlib'd JSON."""
        body = zlib.compress(_canonical_json(self.export_state()), 6)
        return SNAPSHOT_MAGIC + bytes([SNAPSHOT_VERSION]) + body

    @classmethod
    def restore(cls, data: bytes, filters: EngineFilters = NO_FILTERS) -> OrderBook:
        if data[:4] != SNAPSHOT_MAGIC:
            raise ValueError("not an engine snapshot")
        if data[4] != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {data[4]}")
        state = json.loads(zlib.decompress(data[5:]))
        book = cls(filters)
        book.import_state(state)
        return book

    def state_hash(self) -> str:
        """SHA-256 of the canonical state: equal for equal books of any kind."""
        return hashlib.sha256(_canonical_json(self.export_state())).hexdigest()


def _canonical_json(state: State) -> bytes:
    return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
