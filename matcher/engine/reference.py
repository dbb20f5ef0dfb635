"""The reference book: every rule stated as plainly as possible, speed ignored.

Resting orders live in one list per side; priority is found by sorting on
(price, arrival), stops are checked after every single trade.  The fast book is
tested against this one on random command streams, so clarity here is the
point -- when the two disagree, this file is what the rules are read from.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import Reason
from chalicelib.trading.commands import NewOrder
from chalicelib.trading.events import Event, EventKind as K
from chalicelib.trading.filters import NO_FILTERS, EngineFilters, check_triggered
from chalicelib.trading.trailing import better, fires
from chalicelib.trading.types import OrderStatus as S, OrderType as T, Side, StpMode, TimeInForce, triggers_upward

from .book import Level, OpenOrder, OrderBook, State


@dataclass
class _Resting:
    order_id: int
    account: int
    side: int
    price: int
    leaves: int
    orig: int
    arrival: int  # time priority: smaller is older
    iceberg: int = 0  # an iceberg's slice size (0: not an iceberg)
    visible: int = 0  # what the level shows of it: all of leaves unless an iceberg

    def __post_init__(self) -> None:
        if not self.visible:
            self.visible = min(self.iceberg, self.leaves) if self.iceberg else self.leaves

    @property
    def executed(self) -> int:
        return self.orig - self.leaves


@dataclass
class _Stop:
    order_id: int
    account: int
    side: int
    order_type: int
    tif: int
    price: int
    qty: int
    stop_price: int
    stp_mode: int
    accept_seq: int
    iceberg_qty: int = 0
    trailing_delta: int = 0
    activated: bool = False  # a trailing stop that is tracking the price
    best: int | None = None  # its best price since activation

    def row(self) -> list[Any]:
        base = [self.order_id, self.account, self.side, self.order_type, self.tif, self.price, self.qty,
                self.stop_price, self.stp_mode, self.accept_seq]
        if self.iceberg_qty or self.trailing_delta:
            base += [self.iceberg_qty, self.trailing_delta, int(self.activated), self.best or 0]
        return base

    @classmethod
    def from_row(cls, row: list[Any]) -> _Stop:
        stop = cls(*row[:10])
        if len(row) > 10:
            stop.iceberg_qty, stop.trailing_delta, stop.activated = row[10], row[11], bool(row[12])
            stop.best = row[13] or None
        return stop


@dataclass
class _Activation:
    """A trailing stop the trade at ``price`` activated: reported with the triggered
    stops, in the same queue, so both books order it alike."""

    stop: _Stop
    price: int | None


@dataclass
class _Taker:
    order_id: int
    account: int
    side: int
    limit: int | None  # None: a market order
    remaining: int     # lots still wanted (qty orders)
    quote_left: int | None  # notional units still to spend (quote orders)
    stp_mode: int
    executed: int = 0
    expired_in_match: bool = False
    iceberg: int = 0  # rests as an iceberg of this slice size


class ReferenceBook(OrderBook):
    def __init__(self, filters: EngineFilters = NO_FILTERS):
        super().__init__(filters)
        self.resting: list[_Resting] = []
        self.stops: list[_Stop] = []
        self.seq = 1          # next event sequence number
        self.trade_id = 1     # next trade id
        self._last_price: int | None = None
        self._arrivals = 0
        self._triggered: list[_Stop | _Activation] = []
        self._hold_triggers = False  # placing a list's order: triggered stops wait for the list's turn

    # -- helpers -------------------------------------------------------------------
    def _emit(self, events: list[Event], kind: int, *fields: object) -> None:
        events.append((self.seq, int(kind), *fields))
        self.seq += 1

    def _reject_event(self, order_id: int, reason: Reason) -> Event:
        e = (self.seq, int(K.REJECTED), order_id, reason)
        self.seq += 1
        return e

    def _find(self, order_id: int) -> _Resting | _Stop | None:
        for o in self.resting:
            if o.order_id == order_id:
                return o
        for s in self.stops:
            if s.order_id == order_id:
                return s
        return None

    def _emit_level(self, events: list[Event], side: int, price: int) -> None:
        self._emit(events, K.LEVEL, side, price, self._level_total(side, price))

    def _level_total(self, side: int, price: int) -> int:
        """What the level shows: an iceberg counts with its visible slice only."""
        return sum(o.visible for o in self.resting if o.side == side and o.price == price)

    def _makers_for(self, taker_side: int) -> list[_Resting]:
        """Opposite-side orders in priority order: best price first, then oldest."""
        if taker_side == Side.BUY:
            makers = [o for o in self.resting if o.side == Side.SELL]
            return sorted(makers, key=lambda o: (o.price, o.arrival))
        makers = [o for o in self.resting if o.side == Side.BUY]
        return sorted(makers, key=lambda o: (-o.price, o.arrival))

    @staticmethod
    def _crosses(taker_side: int, limit: int | None, maker_price: int) -> bool:
        if limit is None:
            return True
        return maker_price <= limit if taker_side == Side.BUY else maker_price >= limit

    # -- commands ------------------------------------------------------------------
    def new_order(self, o: NewOrder) -> list[Event]:
        events: list[Event] = []
        reason = self.precheck(o)
        if reason is None and self._find(o.order_id) is not None:
            reason = Reason.DUPLICATE_ORDER
        if reason is None and o.order_type == T.LIMIT_MAKER:
            makers = self._makers_for(o.side)
            if makers and self._crosses(o.side, o.price, makers[0].price):
                reason = Reason.WOULD_TAKE
        if reason is not None:
            self._emit(events, K.REJECTED, o.order_id, reason)
            return events

        if o.order_type in (T.STOP_LOSS, T.STOP_LOSS_LIMIT, T.TAKE_PROFIT, T.TAKE_PROFIT_LIMIT):
            stop = _Stop(o.order_id, o.account_id, o.side, o.order_type, o.tif, o.price, o.qty,
                         o.stop_price, o.stp_mode, self.seq, o.iceberg_qty, o.trailing_delta)
            self.stops.append(stop)
            self._emit(events, K.ORDER, o.order_id, S.NEW, o.qty, 0)
            if stop.trailing_delta and not stop.stop_price:  # trails from acceptance
                stop.activated, stop.best = True, self._last_price
                self._emit(events, K.ACTIVATED, o.order_id, self._last_price)
            return events

        self._emit(events, K.ORDER, o.order_id, S.NEW, o.qty, 0)
        if o.order_type == T.MARKET:
            taker = _Taker(o.order_id, o.account_id, o.side, None, o.qty,
                           o.quote_qty if o.quote_qty else None, o.stp_mode)
            self._execute(events, taker, TimeInForce.IOC)
        else:
            tif = TimeInForce.GTC if o.order_type == T.LIMIT_MAKER else o.tif
            taker = _Taker(o.order_id, o.account_id, o.side, o.price, o.qty, None, o.stp_mode,
                           iceberg=o.iceberg_qty)
            self._execute(events, taker, tif)
        self._run_triggered(events)
        return events

    def cancel(self, order_id: int, account_id: int) -> list[Event]:
        events: list[Event] = []
        found = self._find(order_id)
        if found is None or found.account != account_id:
            self._emit(events, K.REJECTED, order_id, Reason.CANCEL_REJECTED)
            return events
        if isinstance(found, _Stop):
            self.stops.remove(found)
            self._emit(events, K.ORDER, order_id, S.CANCELED, 0, 0)
            return events
        self.resting.remove(found)
        self._emit(events, K.ORDER, order_id, S.CANCELED, 0, found.executed)
        self._emit_level(events, found.side, found.price)
        return events

    def amend(self, order_id: int, account_id: int, new_qty: int) -> list[Event]:
        """Lower an order's quantity in place; priority is kept.  If the new
        quantity is not above what already executed, the order is done (FILLED)."""
        events: list[Event] = []
        found = self._find(order_id)
        if found is None or found.account != account_id:
            self._emit(events, K.REJECTED, order_id, Reason.NO_SUCH_ORDER)
            return events
        orig = found.qty if isinstance(found, _Stop) else found.orig
        if new_qty >= orig:
            reason = Reason.ORDER_AMEND_QTY_INCREASE
        elif new_qty <= 0:
            reason = Reason.INVALID_QUANTITY
        elif new_qty < self.filters.min_qty:
            reason = Reason.FILTER_LOT_SIZE
        else:
            reason = None
        if reason is not None:
            self._emit(events, K.REJECTED, order_id, reason)
            return events
        if isinstance(found, _Stop):
            found.qty = new_qty
            self._emit(events, K.AMENDED, order_id, new_qty, 0)
            return events
        executed = found.executed
        found.orig = new_qty
        found.leaves = max(0, new_qty - executed)
        found.visible = min(found.visible, found.leaves)  # an iceberg keeps what it shows, at most
        self._emit(events, K.AMENDED, order_id, found.leaves, executed)
        if found.leaves == 0:
            self.resting.remove(found)
            self._emit(events, K.ORDER, order_id, S.FILLED, 0, executed)
        self._emit_level(events, found.side, found.price)
        return events

    # -- matching --------------------------------------------------------------------
    def _fok_fillable(self, taker: _Taker) -> bool:
        if any(m.iceberg for m in self.resting):
            return self._fok_dry_run(taker)
        available = 0
        for m in self._makers_for(taker.side):
            if not self._crosses(taker.side, taker.limit, m.price):
                break
            if taker.stp_mode != StpMode.NONE and m.account == taker.account:
                if taker.stp_mode == StpMode.EXPIRE_MAKER:
                    continue  # would be expired, not traded
                break  # matching would stop here
            available += m.leaves
        return available >= taker.remaining

    def _fok_dry_run(self, taker: _Taker) -> bool:
        """Whether matching ``taker`` fills it, found by matching a copy of the book:
        with icebergs refreshing behind other orders (and self-trade prevention
        stopping or skipping), that is the plainest statement of the rule."""
        probe, trial = copy.deepcopy(self), copy.copy(taker)
        probe._match([], trial)
        return trial.remaining == 0 and not trial.expired_in_match

    def _execute(self, events: list[Event], taker: _Taker, tif: int) -> None:
        """Match ``taker``, then report its status and rest its remainder if GTC."""
        if tif == TimeInForce.FOK and not self._fok_fillable(taker):
            self._emit(events, K.ORDER, taker.order_id, S.EXPIRED, 0, 0)
            return
        self._match(events, taker)
        if taker.expired_in_match:
            self._emit(events, K.ORDER, taker.order_id, S.EXPIRED_IN_MATCH, 0, taker.executed)
            return
        if taker.quote_left is not None:  # market by quote amount
            makers = self._makers_for(taker.side)
            spent = (taker.quote_left == 0 or taker.executed >= self.filters.market_max_qty
                     or (bool(makers) and taker.quote_left < makers[0].price))
            status = S.FILLED if taker.executed and spent else S.EXPIRED
            self._emit(events, K.ORDER, taker.order_id, status, 0, taker.executed)
            return
        if taker.remaining == 0:
            self._emit(events, K.ORDER, taker.order_id, S.FILLED, 0, taker.executed)
            return
        if tif != TimeInForce.GTC or taker.limit is None:
            self._emit(events, K.ORDER, taker.order_id, S.EXPIRED, 0, taker.executed)
            return
        self._arrivals += 1
        self.resting.append(_Resting(taker.order_id, taker.account, taker.side, taker.limit,
                                     taker.remaining, taker.remaining + taker.executed,
                                     self._arrivals, taker.iceberg))
        if taker.executed:
            self._emit(events, K.ORDER, taker.order_id, S.PARTIALLY_FILLED, taker.remaining,
                       taker.executed)
        self._emit(events, K.LEVEL, taker.side, taker.limit,
                   self._level_total(taker.side, taker.limit))

    def _match(self, events: list[Event], taker: _Taker) -> None:
        """Trade against the opposite side in priority order.  A LEVEL event is sent
        for each level that changed, when the taker moves on from it."""
        maker_side = 1 - taker.side
        changed_level: int | None = None

        def leave_level() -> None:
            if changed_level is not None:
                self._emit(events, K.LEVEL, maker_side, changed_level,
                           self._level_total(maker_side, changed_level))

        while True:
            makers = self._makers_for(taker.side)
            if not makers or not self._crosses(taker.side, taker.limit, makers[0].price):
                break
            m = makers[0]
            if taker.quote_left is not None:  # whole lots the rest pays for, within MARKET_LOT_SIZE
                want = min(taker.quote_left // m.price, self.filters.market_max_qty - taker.executed)
            else:
                want = taker.remaining
            if want == 0:
                break
            if changed_level is not None and changed_level != m.price:
                leave_level()
                changed_level = None
            if taker.stp_mode != StpMode.NONE and m.account == taker.account:
                self._emit(events, K.PREVENTED, m.order_id, taker.order_id, m.price,
                           min(m.visible, want))
                if taker.stp_mode in (StpMode.EXPIRE_MAKER, StpMode.EXPIRE_BOTH):
                    self.resting.remove(m)
                    self._emit(events, K.ORDER, m.order_id, S.EXPIRED_IN_MATCH, 0, m.executed)
                    changed_level = m.price
                if taker.stp_mode in (StpMode.EXPIRE_TAKER, StpMode.EXPIRE_BOTH):
                    taker.expired_in_match = True
                    break
                continue
            qty = min(m.visible, want)  # an iceberg trades its visible slice
            m.visible -= qty
            m.leaves -= qty
            taker.executed += qty
            if taker.quote_left is not None:
                taker.quote_left -= qty * m.price
            else:
                taker.remaining -= qty
            self._emit(events, K.TRADE, self.trade_id, m.price, qty, qty * m.price, maker_side,
                       m.order_id, taker.order_id, m.account, taker.account)
            self.trade_id += 1
            if m.leaves == 0:
                self.resting.remove(m)
                self._emit(events, K.ORDER, m.order_id, S.FILLED, 0, m.executed)
            else:
                if m.visible == 0:  # an iceberg's slice is gone: the next one queues at the back
                    m.visible = min(m.iceberg, m.leaves)
                    self._arrivals += 1
                    m.arrival = self._arrivals
                self._emit(events, K.ORDER, m.order_id, S.PARTIALLY_FILLED, m.leaves, m.executed)
            changed_level = m.price
            self._last_price = m.price
            self._check_stops(m.price)
        leave_level()

    # -- stops -----------------------------------------------------------------------
    def _check_stops(self, price: int) -> None:
        """Queue every pending stop whose condition holds at this trade price, in
        acceptance order; a trailing stop is activated by its stop condition and
        fires on its retrace (:mod:`chalicelib.trading.trailing`)."""
        for s in list(self.stops):  # self.stops is kept in acceptance order
            up = triggers_upward(s.order_type, s.side)
            met = (price >= s.stop_price) if up else (price <= s.stop_price)
            if s.trailing_delta:
                if not s.activated:
                    if met:
                        s.activated, s.best = True, price
                        self._triggered.append(_Activation(s, price))
                    continue
                if s.best is None or not fires(s.side, s.trailing_delta, s.best, price):
                    s.best = better(s.side, s.best, price)
                    continue
            elif not met:
                continue
            self.stops.remove(s)
            self._triggered.append(s)

    def _run_triggered(self, events: list[Event]) -> None:
        """Release triggered stops one by one; their trades may trigger more.  The
        trailing stops those trades activated are reported in the same order.  Order
        lists react to what happened before each release."""
        if self._hold_triggers:
            return
        while self._triggered:
            if self._lists:
                self._on_list_events(events)
                if not self._triggered:
                    break
            self._release(events, self._triggered.pop(0))

    def _release(self, events: list[Event], s: _Stop | _Activation) -> None:
        """Release the next item of the trigger queue: report a trailing stop's
        activation, or fire a triggered stop, re-checked against the book first (a
        failure expires it unfilled)."""
        if isinstance(s, _Activation):
            self._emit(events, K.ACTIVATED, s.stop.order_id, s.price)
            return
        self._emit(events, K.TRIGGERED, s.order_id, self._last_price)
        makers = self._makers_for(s.side)
        if check_triggered(self.filters, s.order_type, s.qty, s.price,
                           makers[0].price if makers else None) is not None:
            self._emit(events, K.ORDER, s.order_id, S.EXPIRED, 0, 0)
            return
        if s.order_type in (T.STOP_LOSS, T.TAKE_PROFIT):
            taker = _Taker(s.order_id, s.account, s.side, None, s.qty, None, s.stp_mode)
            self._execute(events, taker, TimeInForce.IOC)
        else:
            taker = _Taker(s.order_id, s.account, s.side, s.price, s.qty, None, s.stp_mode,
                           iceberg=s.iceberg_qty)
            self._execute(events, taker, s.tif)

    # -- order lists' primitives (the rules are in .lists) -----------------------------
    def _place_held(self, order: NewOrder) -> list[Event]:
        self._hold_triggers = True
        try:
            return self.new_order(order)
        finally:
            self._hold_triggers = False

    def _release_one_triggered(self, events: list[Event]) -> bool:
        if not self._triggered:
            return False
        self._release(events, self._triggered.pop(0))
        return True

    def _end_triggered(self, order_id: int, status: int) -> list[Event]:
        for s in self._triggered:
            if isinstance(s, _Stop) and s.order_id == order_id:  # not an activation marker
                self._triggered.remove(s)
                events: list[Event] = []
                self._emit(events, K.ORDER, order_id, status, 0, 0)
                return events
        return []

    def _account_of(self, order_id: int) -> int:
        found = self._find(order_id)
        assert found is not None, order_id
        return found.account

    def _emit_list_event(self, events: list[Event], kind: int, *fields: object) -> None:
        self._emit(events, kind, *fields)

    # -- queries ---------------------------------------------------------------------
    @property
    def last_price(self) -> int | None:
        return self._last_price

    def _levels(self, side: int) -> list[tuple[int, int]]:
        prices = sorted({o.price for o in self.resting if o.side == side},
                        reverse=(side == Side.BUY))
        return [(p, self._level_total(side, p)) for p in prices]

    def best_bid(self) -> Level | None:
        levels = self._levels(Side.BUY)
        return levels[0] if levels else None

    def best_ask(self) -> Level | None:
        levels = self._levels(Side.SELL)
        return levels[0] if levels else None

    def depth(self, n: int) -> tuple[list[Level], list[Level]]:
        return self._levels(Side.BUY)[:n], self._levels(Side.SELL)[:n]

    def resting_count(self) -> int:
        return len(self.resting)

    def open_order(self, order_id: int) -> OpenOrder | None:
        found = self._find(order_id)
        if found is None:
            return None
        if isinstance(found, _Stop):
            return (found.side, found.price, found.qty, found.qty, True)
        return (found.side, found.price, found.leaves, found.orig, False)

    # -- state -------------------------------------------------------------------------
    def export_state(self) -> State:
        def side_state(side: int) -> list[Any]:
            out: list[Any] = []
            for price, _ in self._levels(side):
                queue = sorted((o for o in self.resting if o.side == side and o.price == price),
                               key=lambda o: o.arrival)
                out.append([price, [[o.order_id, o.account, o.leaves, o.orig]
                                    + ([o.visible, o.iceberg] if o.iceberg else []) for o in queue]])
            return out

        state: State = {
            "version": 1, "seq": self.seq, "trade_id": self.trade_id,
            "last_price": self._last_price,
            "bids": side_state(Side.BUY), "asks": side_state(Side.SELL),
            "stops": [s.row() for s in self.stops],
        }
        if self._lists:
            state["lists"] = self._export_lists()
        return state

    def import_state(self, state: State) -> None:
        self.seq, self.trade_id = state["seq"], state["trade_id"]
        self._last_price = state["last_price"]
        self.resting, self._arrivals = [], 0
        for side, key in ((Side.BUY, "bids"), (Side.SELL, "asks")):
            for price, queue in state[key]:
                for order_id, account, leaves, orig, *ice in queue:
                    self._arrivals += 1
                    visible, iceberg = ice if ice else (leaves, 0)
                    self.resting.append(_Resting(order_id, account, int(side), price, leaves, orig,
                                                 self._arrivals, iceberg, visible))
        self.stops = [_Stop.from_row(row) for row in sorted(state["stops"], key=lambda r: r[9])]
        self._import_lists(state.get("lists", []))

    def validate_internal_state(self) -> None:
        bid, ask = self.best_bid(), self.best_ask()
        assert bid is None or ask is None or bid[0] < ask[0], "book crossed at rest"
        ids = [o.order_id for o in self.resting] + [s.order_id for s in self.stops]
        assert len(ids) == len(set(ids)), "duplicate order id"
        for o in self.resting:
            assert 0 < o.leaves <= o.orig, o
            assert 0 < o.visible <= o.leaves and (o.iceberg or o.visible == o.leaves), o
            assert not o.iceberg or o.visible <= o.iceberg, o
        self._validate_lists(set(ids))
