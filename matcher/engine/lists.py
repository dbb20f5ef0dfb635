"""Order lists (OCO, OTO, OTOCO): one set of rules shared by every book.

A list binds orders that the book holds as ordinary orders (a LIMIT_MAKER leg rests
on its level, a stop leg waits with the other stops); what a list adds is a reaction
to its orders' events, stated here once so that the reference and the fast book
cannot disagree on it:

* OCO (one cancels the other): when one leg trades (even partially) or its stop
  triggers, the other leg EXPIRES (Binance's expiry reason OCO_TRIGGER) and the list
  is ALL_DONE; the leg that worked goes on as a plain order.  A leg canceled by its
  owner cancels the other; a leg that expires (or is expired by self-trade
  prevention) expires the other.
* OTO (one triggers the other): the working order rests; the pending order is kept
  here, outside the book, and placed when the working order is FILLED.  A working
  order canceled or expired before that cancels or expires the pending one.
* OTOCO: as OTO, with an OCO pair as the pending orders; once placed they are an OCO.
  A pending order the book refuses when it is placed (a LIMIT_MAKER that would take
  by then) is reported EXPIRED, as Binance does (expiry reason REJECTED), not REJECTED:
  it was accepted with its list.

When the book reacts: a book calls :meth:`OrderLists._on_list_events` before it
releases each triggered stop (so a leg that traded earlier in the command has
expired its partner before any other order can execute), and :meth:`OrderBook.process`
calls :meth:`OrderLists._drive_lists` at the end of every command while lists exist.
Reactions only emit events (ORDER of the other legs, LIST) and place pending orders;
they never run in the middle of a taker's sweep.  A book provides three primitives:
``_place_held`` (place an order without releasing triggered stops),
``_end_leg`` (end a live order, resting, pending stop or triggered but not yet
released, with a given status) and ``_release_one_triggered``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.errors import Reason
from chalicelib.trading.commands import CancelOrderList, NewOrder, NewOrderList
from chalicelib.trading.events import Event, EventKind
from chalicelib.trading.types import (
    OCO_PROFIT_TYPES,
    STOP_LOSS_TYPES,
    WORKING_TYPES,
    ContingencyType,
    ListOrderStatus,
    ListStatusType,
    OrderStatus,
    OrderType,
)

_ORDER, _TRIGGERED, _REJECTED, _LIST = (int(EventKind.ORDER), int(EventKind.TRIGGERED),
                                        int(EventKind.REJECTED), int(EventKind.LIST))
_FILLED, _PARTIALLY_FILLED, _CANCELED = (int(OrderStatus.FILLED), int(OrderStatus.PARTIALLY_FILLED),
                                         int(OrderStatus.CANCELED))
_EXPIRED = int(OrderStatus.EXPIRED)
_LIST_SIZE = {int(ContingencyType.OCO): 2, int(ContingencyType.OTO): 2, int(ContingencyType.OTOCO): 3}
_ENDED = frozenset({int(OrderStatus.CANCELED), int(OrderStatus.EXPIRED), int(OrderStatus.EXPIRED_IN_MATCH)})


@dataclass
class OrderList:
    """A live list: ``legs`` are the ids of its orders in the book (the OCO pair, or
    the working order of an OTO / OTOCO still in its first phase), ``pending`` the
    orders not placed yet."""

    list_id: int
    account: int
    contingency: int
    legs: tuple[int, ...]
    pending: tuple[NewOrder, ...] = ()

    @property
    def one_cancels_other(self) -> bool:
        """True while the legs are an OCO pair (an OCO, or an OTOCO whose working order filled)."""
        return not self.pending and self.contingency != ContingencyType.OTO

    def row(self) -> list[Any]:
        return [self.list_id, self.account, self.contingency, list(self.legs),
                [[int(x) for x in p] for p in self.pending]]


def check_list_shape(cmd: NewOrderList) -> Reason | None:
    """What the engine refuses in a list's shape, whatever the book holds: the number
    and account of its orders, an iceberg or trailing order among them, an OCO's pair
    (same side and quantity, one stop-loss leg and one LIMIT_MAKER / take-profit leg),
    an OTO's working type."""
    orders = cmd.orders
    want = _LIST_SIZE.get(int(cmd.contingency))
    if want is None or len(orders) != want:
        return Reason.INVALID_PARAMETER
    if any(o.account_id != cmd.account_id for o in orders):
        return Reason.INVALID_PARAMETER
    if any(o.iceberg_qty or o.trailing_delta for o in orders):  # not built for lists (the API refuses them)
        return Reason.INVALID_PARAMETER
    if len({o.order_id for o in orders}) != len(orders):
        return Reason.DUPLICATE_ORDER
    if cmd.contingency != ContingencyType.OCO and orders[0].order_type not in WORKING_TYPES:
        return Reason.INVALID_ORDER_TYPE
    if cmd.contingency == ContingencyType.OTO and orders[1].quote_qty:
        return Reason.INVALID_PARAMETER
    if cmd.contingency != ContingencyType.OTO:
        return check_oco_pair(orders[-2], orders[-1])
    return None


def check_oco_pair(below: NewOrder, above: NewOrder) -> Reason | None:
    """An OCO pair's rule (see :func:`check_list_shape`); prices against the last
    price are each leg's own checks (a LIMIT_MAKER that would take, a stop that would
    trigger), which put a SELL's take-profit above and its stop-loss below."""
    if below.side != above.side or below.qty != above.qty or below.quote_qty or above.quote_qty:
        return Reason.INVALID_PARAMETER
    types = {below.order_type, above.order_type}
    if types <= OCO_PROFIT_TYPES and OrderType.LIMIT_MAKER in types:
        return Reason.BOTH_OCO_ORDERS_CANNOT_BE_LIMIT
    if len(types & STOP_LOSS_TYPES) != 1 or len(types & OCO_PROFIT_TYPES) != 1:
        return Reason.OCO_ORDER_TYPE_REJECTED
    return None


class OrderLists:
    """The order-list state and rules, mixed into :class:`matcher.engine.book.OrderBook`."""

    _lists: dict[int, OrderList]     # live lists by list id
    _list_of: dict[int, OrderList]   # live list of each order id it binds (legs and pending)
    _list_seen: int                  # the last event seq the reactions have looked at
    _list_busy: bool

    def _init_lists(self) -> None:
        self._lists = {}
        self._list_of = {}
        self._list_seen = 0
        self._list_busy = False

    # -- the book's primitives -----------------------------------------------------------
    def _place_held(self, order: NewOrder) -> list[Event]:
        """Place ``order`` as new_order would, leaving triggered stops queued."""
        raise NotImplementedError

    def _end_leg(self, order_id: int, status: int) -> list[Event]:
        """End the live order ``order_id`` (resting, pending stop, or triggered and not
        released yet) with ``status``: [] if it is not live."""
        raise NotImplementedError

    def _release_one_triggered(self, events: list[Event]) -> bool:
        """Release the next triggered stop into ``events``; False if none is queued."""
        raise NotImplementedError

    def _emit_list_event(self, events: list[Event], kind: int, *fields: object) -> None:
        raise NotImplementedError

    def precheck(self, order: NewOrder) -> Reason | None:
        raise NotImplementedError

    def _would_take(self, order: NewOrder) -> bool:
        """Whether a LIMIT_MAKER ``order`` would cross the opposite side now."""
        raise NotImplementedError

    def _knows_order(self, order_id: int) -> bool:
        raise NotImplementedError

    # -- commands -----------------------------------------------------------------------
    def new_order_list(self, cmd: NewOrderList) -> list[Event]:
        """Accept a list (all its working orders placed, its pending ones kept) or
        refuse it whole: every order REJECTED with the first failure's reason, then
        LIST RESPONSE / REJECT."""
        events: list[Event] = []
        reason = check_list_shape(cmd)
        if reason is None and (cmd.list_id in self._lists
                               or any(self._knows_order(o.order_id) or o.order_id in self._list_of
                                      for o in cmd.orders)):
            reason = Reason.DUPLICATE_ORDER
        for o in cmd.working:
            if reason is not None:
                break
            reason = self.precheck(o)
            if reason is None and o.order_type == OrderType.LIMIT_MAKER and self._would_take(o):
                reason = Reason.WOULD_TAKE
        if reason is not None:
            for o in cmd.orders:
                self._emit_list_event(events, _REJECTED, o.order_id, reason)
            self._emit_list_event(events, _LIST, cmd.list_id, int(ListStatusType.RESPONSE),
                                  int(ListOrderStatus.REJECT))
            return events
        lst = OrderList(cmd.list_id, cmd.account_id, int(cmd.contingency),
                        tuple(o.order_id for o in cmd.working), tuple(cmd.pending))
        self._lists[lst.list_id] = lst
        for o in cmd.orders:
            self._list_of[o.order_id] = lst
        self._emit_list_event(events, _LIST, lst.list_id, int(ListStatusType.EXEC_STARTED),
                              int(ListOrderStatus.EXECUTING))
        for o in cmd.working:
            events.extend(self._place_held(o))
        return events

    def cancel_order_list(self, cmd: CancelOrderList) -> list[Event]:
        """Cancel every open order of a live list of the account: its legs CANCELED
        in list order, its pending orders CANCELED, the list ALL_DONE; a list that is
        not live (or not the account's) is answered LIST RESPONSE / REJECT."""
        events: list[Event] = []
        lst = self._lists.get(cmd.list_id)
        if lst is None or lst.account != cmd.account_id:
            self._emit_list_event(events, _LIST, cmd.list_id, int(ListStatusType.RESPONSE),
                                  int(ListOrderStatus.REJECT))
            return events
        self._finish(events, lst, _CANCELED)
        return events

    def _cancel_pending(self, order_id: int, account_id: int) -> list[Event] | None:
        """A cancel of an order a list still holds back (an OTO's pending order): the
        whole list is canceled, as Binance cancels a list when any of its orders is.
        None when ``order_id`` is no such order."""
        lst = self._list_of.get(order_id)
        if lst is None or order_id in lst.legs or lst.account != account_id:
            return None
        return self.cancel_order_list(CancelOrderList(lst.list_id, account_id))

    # -- reactions ----------------------------------------------------------------------
    def _drive_lists(self, events: list[Event]) -> None:
        """At the end of a command: react to its events, and release what the
        reactions' own orders triggered, until nothing is left to do."""
        while True:
            self._on_list_events(events)
            if not self._release_one_triggered(events):
                return

    def _on_list_events(self, events: list[Event]) -> None:
        """React to the events of ``events`` not looked at yet, in order (including
        those the reactions append)."""
        if self._list_busy:
            return
        seen = self._list_seen
        i = len(events)
        while i and events[i - 1][0] > seen:
            i -= 1
        self._list_busy = True
        try:
            while i < len(events):
                e = events[i]
                i += 1
                self._list_seen = e[0]
                if e[1] in (_ORDER, _TRIGGERED, _REJECTED):
                    lst = self._list_of.get(e[2])
                    if lst is not None and e[2] in lst.legs:
                        self._react(events, lst, e)
        finally:
            self._list_busy = False

    def _react(self, events: list[Event], lst: OrderList, e: Event) -> None:
        kind, oid = e[1], e[2]
        status = e[3] if kind == _ORDER else None
        if not lst.one_cancels_other:  # the working order of an OTO / OTOCO
            if status == _FILLED:
                self._place_pending(events, lst)
            elif kind == _REJECTED or status in _ENDED:
                self._finish(events, lst, _CANCELED if status == _CANCELED else _EXPIRED)
            return
        if kind == _TRIGGERED or status in (_FILLED, _PARTIALLY_FILLED):
            self._finish(events, lst, _EXPIRED, keep=oid)
        elif kind == _REJECTED or status in _ENDED:
            self._finish(events, lst, _CANCELED if status == _CANCELED else _EXPIRED, keep=oid)

    def _place_pending(self, events: list[Event], lst: OrderList) -> None:
        """The working order filled: place the pending orders.  An OTO's list is done
        then; an OTOCO's pending pair becomes its OCO."""
        pending = lst.pending
        self._list_of.pop(lst.legs[0], None)
        lst.legs, lst.pending = tuple(p.order_id for p in pending), ()
        if lst.contingency == ContingencyType.OTO:
            self._forget(lst)
            self._emit_list_event(events, _LIST, lst.list_id, int(ListStatusType.ALL_DONE),
                                  int(ListOrderStatus.ALL_DONE))
        for p in pending:
            placed = self._place_held(p)
            if placed and placed[0][1] == _REJECTED:  # Binance: EXPIRED, expiry reason REJECTED
                placed = [(placed[0][0], _ORDER, p.order_id, _EXPIRED, 0, 0)]
            events.extend(placed)

    def _finish(self, events: list[Event], lst: OrderList, status: int, keep: int | None = None) -> None:
        """End the list: its other live legs and its pending orders end with
        ``status`` (all but ``keep``, the leg that decided), then LIST ALL_DONE."""
        self._forget(lst)
        for oid in lst.legs:
            if oid != keep:
                events.extend(self._end_leg(oid, status))
        for p in lst.pending:
            self._emit_list_event(events, _ORDER, p.order_id, status, 0, 0)
        self._emit_list_event(events, _LIST, lst.list_id, int(ListStatusType.ALL_DONE),
                              int(ListOrderStatus.ALL_DONE))

    def _forget(self, lst: OrderList) -> None:
        self._lists.pop(lst.list_id, None)
        for oid in lst.legs:
            self._list_of.pop(oid, None)
        for p in lst.pending:
            self._list_of.pop(p.order_id, None)

    # -- state --------------------------------------------------------------------------
    def _export_lists(self) -> list[list[Any]]:
        return [self._lists[k].row() for k in sorted(self._lists)]

    def _import_lists(self, rows: list[list[Any]]) -> None:
        self._init_lists()
        for list_id, account, contingency, legs, pending in rows:
            lst = OrderList(list_id, account, contingency, tuple(legs), tuple(NewOrder(*p) for p in pending))
            self._lists[list_id] = lst
            for oid in lst.legs:
                self._list_of[oid] = lst
            for p in lst.pending:
                self._list_of[p.order_id] = lst

    def _validate_lists(self, live: set[int]) -> None:
        """Every live list's legs are live orders of its account; the index agrees."""
        indexed = 0
        for lst in self._lists.values():
            for oid in lst.legs:
                assert oid in live, f"list {lst.list_id}: leg {oid} is not live"
                assert self._list_of.get(oid) is lst
            for p in lst.pending:
                assert self._list_of.get(p.order_id) is lst and p.order_id not in live
            indexed += len(lst.legs) + len(lst.pending)
        assert indexed == len(self._list_of), "list index out of step"
