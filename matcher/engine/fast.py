"""The production book: same rules as the reference book, built for speed.

Layout, chosen by profiling the hot path (a limit order that rests or crosses
one level):

* per side, a dict ``price -> _Level`` and a sorted list of *keys* with the best
  level at the end (key = price for bids, -price for asks), so the best level is
  ``keys[-1]`` on both sides, the crossing test is one comparison
  (``keys[-1] >= limit_key``) and adding or dropping a level near the touch is a
  short memmove;
* a level is a deque of ``_Order`` objects (FIFO) with its total; it is empty
  exactly when its total is 0, since every live order has ``leaves > 0``;
* ``_orders`` maps order id -> order for O(1) cancel.  A cancelled order is only
  marked (``leaves = 0``) and skipped when it reaches the head of its queue; a
  level whose total drops to 0 is dropped with its dead entries, and a queue
  holding more dead than live entries is compacted;
* pending stops sit in two heaps (those that fire on a rise, those that fire on
  a fall), ordered by stop price then acceptance, with lazy deletion; trailing
  stops, whose trigger moves, in a list in acceptance order, checked per trade
  price (:meth:`FastBook._trail`);
* an iceberg is an ``_Order`` whose ``leaves`` is its visible slice, with the
  rest it hides in ``_icebergs`` (order id -> :class:`_Iceberg`); a level holding
  one counts it (``_Level.icebergs``) and is matched by the slower
  :meth:`FastBook._take_iceberg_level`, so the hot path pays one attribute test
  per level.

Events are plain tuples.  The hot paths keep the next sequence number and trade
id in locals and write them back (``self._seq``, ``self._trade_id``) before any
other method emits; the rest use :meth:`FastBook._next_seq`.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from heapq import heappop, heappush
from itertools import filterfalse, islice
from operator import attrgetter
from typing import Any, final

from chalicelib.errors import Reason
from chalicelib.trading.commands import NewOrder
from chalicelib.trading.events import Event, EventKind
from chalicelib.trading.filters import NO_FILTERS, EngineFilters, check_triggered
from chalicelib.trading.trailing import better, fires
from chalicelib.trading.types import OrderStatus, OrderType, Side, StpMode, TimeInForce, triggers_upward

from .book import Level, OpenOrder, OrderBook, State

# Plain ints for the hot path (an IntEnum compare goes through the same int code,
# but loading a global int is cheaper than an enum attribute).
_ORDER, _TRADE, _LEVEL, _REJECTED, _TRIGGERED, _PREVENTED, _AMENDED = (int(k) for k in list(EventKind)[:7])
_ACTIVATED = int(EventKind.ACTIVATED)
_NEW, _PARTIALLY_FILLED, _FILLED, _CANCELED, _EXPIRED, _EXPIRED_IN_MATCH = (
    int(OrderStatus.NEW), int(OrderStatus.PARTIALLY_FILLED), int(OrderStatus.FILLED),
    int(OrderStatus.CANCELED), int(OrderStatus.EXPIRED), int(OrderStatus.EXPIRED_IN_MATCH))
_GTC, _IOC, _FOK = int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK)
_STP_NONE, _EXPIRE_TAKER, _EXPIRE_MAKER, _EXPIRE_BOTH = (int(m) for m in StpMode)
_ANY_PRICE = -(1 << 63)  # a limit key every level crosses: a market order's
_SIDES = frozenset(Side)
_TIFS = frozenset(TimeInForce)
_STPS = frozenset(StpMode)
_STOP_MARKET_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})
_STOP_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT,
                         OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})
_is_live = attrgetter("leaves")  # C-level filter for compacting a queue


def _accept_seq(item: _Stop | _Activation) -> int:
    return item.accept_seq if isinstance(item, _Stop) else item.stop.accept_seq


@final
class _Order:
    """A resting order.  ``leaves == 0`` marks one that is no longer live; once off
    its queue the object may be reused for another order (``FastBook._spare``)."""

    __slots__ = ("order_id", "account", "leaves", "orig", "level")

    def __init__(self, order_id: int, account: int, leaves: int, orig: int, level: _Level):
        self.order_id = order_id
        self.account = account
        self.leaves = leaves
        self.orig = orig
        self.level = level


class _Level:
    __slots__ = ("price", "total", "dead", "orders", "book_side", "icebergs")

    def __init__(self, price: int, book_side: _BookSide):
        self.price = price
        self.total = 0
        self.dead = 0       # cancelled entries still in the queue
        self.orders: deque[_Order] = deque()
        self.book_side = book_side
        self.icebergs = 0   # live icebergs in the queue (then the slower matching loop)


@final
class _Iceberg:
    """What an iceberg hides: its slice size and the quantity not yet shown."""

    __slots__ = ("slice", "hidden")

    def __init__(self, slice_qty: int, hidden: int):
        self.slice = slice_qty
        self.hidden = hidden


class _BookSide:
    __slots__ = ("side", "sign", "levels", "keys")

    def __init__(self, side: int):
        self.side = side
        self.sign = 1 if side == Side.BUY else -1
        self.levels: dict[int, _Level] = {}
        self.keys: list[int] = []   # sign * price, ascending: the best level is last

    def remove_level(self, level: _Level) -> None:
        del self.levels[level.price]
        keys = self.keys
        key = self.sign * level.price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]


@final
class _Stop:
    """A pending stop order; ``live`` is cleared when it is cancelled or fires."""

    __slots__ = ("order_id", "account", "side", "order_type", "tif", "price", "qty",
                 "stop_price", "stp_mode", "accept_seq", "live", "iceberg_qty", "trailing_delta",
                 "activated", "best")

    def __init__(self, order_id: int, account: int, side: int, order_type: int, tif: int, price: int, qty: int,
                 stop_price: int, stp_mode: int, accept_seq: int, iceberg_qty: int = 0,
                 trailing_delta: int = 0, activated: int = 0, best: int = 0):
        self.order_id = order_id
        self.account = account
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.stop_price = stop_price
        self.stp_mode = stp_mode
        self.accept_seq = accept_seq
        self.live = True
        self.iceberg_qty = iceberg_qty
        self.trailing_delta = trailing_delta
        self.activated = bool(activated)     # a trailing stop tracking the price
        self.best: int | None = best or None  # its best price since activation

    def row(self) -> list[int]:
        base = [self.order_id, self.account, self.side, self.order_type, self.tif, self.price,
                self.qty, self.stop_price, self.stp_mode, self.accept_seq]
        if self.iceberg_qty or self.trailing_delta:
            base += [self.iceberg_qty, self.trailing_delta, int(self.activated), self.best or 0]
        return base


@final
class _Activation:
    """A trailing stop a trade activated, queued with the triggered stops so that it
    is reported in the same order as the reference book reports it."""

    __slots__ = ("stop", "price")

    def __init__(self, stop: _Stop, price: int | None):
        self.stop = stop
        self.price = price


class FastBook(OrderBook):
    def __init__(self, filters: EngineFilters = NO_FILTERS):
        super().__init__(filters)
        self._bids = _BookSide(Side.BUY)
        self._asks = _BookSide(Side.SELL)
        self._sides = (self._bids, self._asks)
        # side -> (opposite side, own side): one subscript and unpack on the hot path
        self._routes = ((self._asks, self._bids), (self._bids, self._asks))
        self._orders: dict[int, _Order | _Stop] = {}
        # Orders that left their queue for good (filled, or dead entries dropped) are
        # reused for new resting orders: setting five slots is cheaper than building
        # an object, and the garbage collector sees far fewer new objects.
        self._spare: list[_Order] = []
        self._stops_up: list[tuple[int, int, _Stop]] = []    # (stop_price, accept_seq, _Stop): fire when last >= stop
        self._stops_down: list[tuple[int, int, _Stop]] = []  # (-stop_price, accept_seq, _Stop): when last <= stop
        self._trailing: list[_Stop] = []  # live trailing stops, in acceptance order
        self._icebergs: dict[int, _Iceberg] = {}  # resting icebergs' hidden parts
        self._triggered: deque[_Stop | _Activation] = deque()
        self._running_triggers = False
        self._live_stops = 0          # pending stops in _orders, so resting_count is O(1)
        self._last_price: int | None = None
        self._seq = 1                 # the next event sequence number
        self._trade_id = 1            # the next trade id

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = seq + 1
        return seq

    def _reject_event(self, order_id: int, reason: Reason) -> Event:
        return (self._next_seq(), _REJECTED, order_id, reason)

    # -- commands ------------------------------------------------------------------
    def new_order(self, o: NewOrder) -> list[Event]:
        t = o.order_type
        if o.side in _SIDES and o.tif in _TIFS and o.stp_mode in _STPS and not o.iceberg_qty:
            if t == OrderType.LIMIT:
                return self.new_limit(o.order_id, o.account_id, o.side, o.price, o.qty, o.tif,
                                      o.stp_mode)
            if t == OrderType.MARKET and not o.quote_qty:
                return self.new_market(o.order_id, o.account_id, o.side, o.qty, o.stp_mode)
        reason = self.precheck(o)
        if reason is None and o.order_id in self._orders:
            reason = Reason.DUPLICATE_ORDER
        if reason is None and t == OrderType.LIMIT_MAKER:
            opp = self._sides[o.side ^ 1]
            if opp.keys and opp.keys[-1] >= opp.sign * o.price:
                reason = Reason.WOULD_TAKE
        if reason is not None:
            return [self._reject_event(o.order_id, reason)]
        if t in _STOP_TYPES:
            return self._accept_stop(o)
        events = [(self._next_seq(), _ORDER, o.order_id, _NEW, o.qty, 0)]
        if o.iceberg_qty:
            return self._new_iceberg(events, o.order_id, o.account_id, o.side, o.price, o.qty,
                                     o.iceberg_qty, o.stp_mode)
        if t == OrderType.LIMIT_MAKER:
            return self.new_limit(o.order_id, o.account_id, o.side, o.price, o.qty, _GTC,
                                  o.stp_mode, events)
        if o.quote_qty:
            return self._market_quote(events, o.order_id, o.account_id, o.side, o.quote_qty,
                                      o.stp_mode)
        return self._market(events, o.order_id, o.account_id, o.side, o.qty, o.stp_mode)

    def new_limit(self, order_id: int, account: int, side: int, price: int, qty: int,
                  tif: int = _GTC, stp_mode: int = _STP_NONE, events: list[Event] | None = None
                  ) -> list[Event]:
        """LIMIT order: the hot path, kept in one function on purpose.

        Called without ``events`` it is a new order: the filter checks are
        :func:`check_new_order`'s for LIMIT, inlined (side, tif and stp_mode are
        trusted to be valid), then the NEW event.  Called with ``events`` it
        executes an order already accepted (a LIMIT_MAKER, a triggered stop-limit)
        and appends to that list.  Either way the order then matches, and rests,
        expires or is reported filled.

        The most common case, a new order that rests without trading, builds its
        two events (NEW, LEVEL) in one list display at the end instead of
        appending to a list made up front, and skips the triggered-stops check
        (no trade, nothing can have fired)."""
        # ``seq`` is the next sequence number, kept in a local on the hot path and
        # written back to self._seq before anything else emits events.
        seq = self._seq
        if events is None:
            f = self.filters
            if not f.min_price <= price <= f.max_price:
                return [self._reject_event(order_id, Reason.FILTER_PRICE)]
            if not f.min_qty <= qty <= f.max_qty:
                return [self._reject_event(order_id, Reason.FILTER_LOT_SIZE)]
            if not f.min_notional <= price * qty <= f.max_notional:
                return [self._reject_event(order_id, f.notional_reason)]
            if order_id in self._orders:
                return [self._reject_event(order_id, Reason.DUPLICATE_ORDER)]
        opp, own = self._routes[side]
        keys = opp.keys
        limit_key = opp.sign * price
        left = qty
        if keys and keys[-1] >= limit_key:
            if events is None:
                events = [(seq, _ORDER, order_id, _NEW, qty, 0)]
                seq += 1
            if tif == _FOK and not self._fillable(opp, limit_key, qty, account, stp_mode):
                events.append((seq, _ORDER, order_id, _EXPIRED, 0, 0))
                self._seq = seq + 1
                return events
            self._seq = seq
            left = self._take(events, order_id, account, opp, limit_key, qty, stp_mode)
            seq = self._seq
            if left <= 0 or tif != _GTC:
                if left == 0:
                    events.append((seq, _ORDER, order_id, _FILLED, 0, qty))
                elif left < 0:  # self-trade prevention expired the taker
                    events.append((seq, _ORDER, order_id, _EXPIRED_IN_MATCH, 0, qty + left))
                else:
                    events.append((seq, _ORDER, order_id, _EXPIRED, 0, qty - left))
                self._seq = seq + 1
                if self._triggered and not self._running_triggers:
                    self._run_triggered(events)
                return events
            if left != qty:  # (self-trade prevention may have expired makers only)
                events.append((seq, _ORDER, order_id, _PARTIALLY_FILLED, left, qty - left))
                seq += 1
        elif tif != _GTC:
            if events is None:
                self._seq = seq + 2
                return [(seq, _ORDER, order_id, _NEW, qty, 0),
                        (seq + 1, _ORDER, order_id, _EXPIRED, 0, 0)]
            events.append((seq, _ORDER, order_id, _EXPIRED, 0, 0))
            self._seq = seq + 1
            return events
        # rest the remainder
        level = own.levels.get(price)
        if level is None:
            level = own.levels[price] = _Level(price, own)
            insort(own.keys, -limit_key)
        spare = self._spare
        if spare:
            order = spare.pop()
            order.order_id, order.account, order.leaves, order.orig, order.level = (
                order_id, account, left, qty, level)
        else:
            order = _Order(order_id, account, left, qty, level)
        level.orders.append(order)
        self._orders[order_id] = order
        total = level.total = level.total + left
        if events is None:  # a new order that rests without trading
            self._seq = seq + 2
            return [(seq, _ORDER, order_id, _NEW, qty, 0), (seq + 1, _LEVEL, side, price, total)]
        events.append((seq, _LEVEL, side, price, total))
        self._seq = seq + 1
        if self._triggered and not self._running_triggers:
            self._run_triggered(events)
        return events

    def new_market(self, order_id: int, account: int, side: int, qty: int,
                   stp_mode: int = _STP_NONE) -> list[Event]:
        """MARKET order by base quantity; :func:`check_new_order`'s MARKET checks inlined
        (notional at the best opposite price, when there is one)."""
        f = self.filters
        if not f.market_min_qty <= qty <= f.market_max_qty:
            return [self._reject_event(order_id, Reason.FILTER_MARKET_LOT_SIZE)]
        opp = self._sides[side ^ 1]
        if opp.keys:
            notional = opp.sign * opp.keys[-1] * qty
            if (f.apply_min_to_market and notional < f.min_notional
                    or f.apply_max_to_market and notional > f.max_notional):
                return [self._reject_event(order_id, f.notional_reason)]
        if order_id in self._orders:
            return [self._reject_event(order_id, Reason.DUPLICATE_ORDER)]
        events = [(self._next_seq(), _ORDER, order_id, _NEW, qty, 0)]
        return self._market(events, order_id, account, side, qty, stp_mode)

    def _market(self, events: list[Event], order_id: int, account: int, side: int, qty: int,
                stp_mode: int) -> list[Event]:
        opp = self._sides[side ^ 1]
        left = qty
        if opp.keys:
            left = self._take(events, order_id, account, opp, _ANY_PRICE, qty, stp_mode)
        if left == 0:
            events.append((self._next_seq(), _ORDER, order_id, _FILLED, 0, qty))
        elif left < 0:
            events.append((self._next_seq(), _ORDER, order_id, _EXPIRED_IN_MATCH, 0, qty + left))
        else:
            events.append((self._next_seq(), _ORDER, order_id, _EXPIRED, 0, qty - left))
        if self._triggered and not self._running_triggers:
            self._run_triggered(events)
        return events

    def _market_quote(self, events: list[Event], order_id: int, account: int, side: int, quote: int,
                      stp_mode: int) -> list[Event]:
        """MARKET by quoteOrderQty: at each best price spend what buys whole lots,
        at most MARKET_LOT_SIZE's maxQty in all, until the remainder does not buy
        one lot at the best price or maxQty is bought (FILLED) or the book runs out
        (EXPIRED)."""
        opp = self._sides[side ^ 1]
        keys = opp.keys
        executed = 0
        cap = self.filters.market_max_qty
        expired_in_match = False
        while keys:
            price = opp.sign * keys[-1]
            afford = min(quote // price, cap - executed)
            if not afford:
                break
            left = self._take(events, order_id, account, opp, keys[-1], afford, stp_mode)
            filled = afford - abs(left)
            executed += filled
            quote -= filled * price
            if left < 0:
                expired_in_match = True
                break
        if expired_in_match:
            status = _EXPIRED_IN_MATCH
        elif executed and (quote == 0 or executed >= cap or (keys and quote < opp.sign * keys[-1])):
            status = _FILLED
        else:
            status = _EXPIRED
        events.append((self._next_seq(), _ORDER, order_id, status, 0, executed))
        if self._triggered and not self._running_triggers:
            self._run_triggered(events)
        return events

    def _fillable(self, opp: _BookSide, limit_key: int, qty: int, account: int,
                  stp_mode: int) -> bool:
        """Whether a FOK order can fill completely, given self-trade prevention."""
        levels, sign = opp.levels, opp.sign
        for key in reversed(opp.keys):
            if key < limit_key:
                break
            level = levels[sign * key]
            if level.icebergs:  # refreshed slices queue behind others: match a copy
                return self._fillable_by_dry_run(opp.side, limit_key, qty, account, stp_mode)
            if stp_mode == _STP_NONE:
                qty -= level.total
                if qty <= 0:
                    return True
                continue
            for o in level.orders:
                if not o.leaves:
                    continue
                if o.account == account:
                    if stp_mode == _EXPIRE_MAKER:
                        continue
                    return False
                qty -= o.leaves
                if qty <= 0:
                    return True
        return False

    def _fillable_by_dry_run(self, maker_side: int, limit_key: int, qty: int, account: int,
                             stp_mode: int) -> bool:
        """:meth:`_fillable` when icebergs are in reach: match on a copy of the book."""
        probe = FastBook(self.filters)
        probe.import_state(self.export_state())
        left = probe._take([], 0, account, probe._sides[maker_side], limit_key, qty, stp_mode)
        return left == 0

    def _take(self, events: list[Event], order_id: int, account: int, opp: _BookSide, limit_key: int,
              qty: int, stp_mode: int) -> int:
        """Trade ``qty`` lots against ``opp`` while its best key is >= ``limit_key``.

        Returns the lots left; a negative value ``-left`` means self-trade prevention
        expired the taker with ``left`` lots unfilled."""
        keys, levels, sign, maker_side = opp.keys, opp.levels, opp.sign, opp.side
        orders = self._orders
        spare = self._spare
        seq, trade_id = self._seq, self._trade_id
        append = events.append
        last = 0
        taker_expired = False
        while keys and keys[-1] >= limit_key:
            price = sign * keys[-1]
            level = levels[price]
            if level.icebergs:
                qty, traded, seq, trade_id = self._take_iceberg_level(
                    events, order_id, account, opp, level, qty, stp_mode, seq, trade_id)
                if traded:
                    last = price
                if qty <= 0:
                    break
                continue
            queue = level.orders
            total = start_total = level.total
            while True:
                maker = queue[0]
                m_left = maker.leaves
                if not m_left:  # cancelled earlier: drop the dead entry
                    queue.popleft()
                    level.dead -= 1
                    spare.append(maker)
                    continue
                if maker.account == account and stp_mode:
                    append((seq, _PREVENTED, maker.order_id, order_id, price,
                            m_left if m_left < qty else qty))
                    seq += 1
                    if stp_mode != _EXPIRE_TAKER:
                        queue.popleft()
                        del orders[maker.order_id]
                        maker.leaves = 0
                        total -= m_left
                        append((seq, _ORDER, maker.order_id, _EXPIRED_IN_MATCH, 0,
                                maker.orig - m_left))
                        seq += 1
                        spare.append(maker)
                    if stp_mode != _EXPIRE_MAKER:
                        taker_expired = True
                        break
                    if not total:
                        break
                    continue
                last = price
                if m_left <= qty:
                    queue.popleft()
                    del orders[maker.order_id]
                    maker.leaves = 0
                    qty -= m_left
                    total -= m_left
                    append((seq, _TRADE, trade_id, price, m_left, price * m_left,
                            maker_side, maker.order_id, order_id, maker.account, account))
                    append((seq + 1, _ORDER, maker.order_id, _FILLED, 0, maker.orig))
                    spare.append(maker)
                    seq += 2
                    trade_id += 1
                    if not total or not qty:
                        break
                else:
                    m_left -= qty
                    maker.leaves = m_left
                    total -= qty
                    append((seq, _TRADE, trade_id, price, qty, price * qty,
                            maker_side, maker.order_id, order_id, maker.account, account))
                    append((seq + 1, _ORDER, maker.order_id, _PARTIALLY_FILLED, m_left,
                            maker.orig - m_left))
                    seq += 2
                    trade_id += 1
                    qty = 0
                    break
            if total != start_total:
                level.total = total
                append((seq, _LEVEL, maker_side, price, total))
                seq += 1
                if not total:
                    if level.dead:
                        spare.extend(queue)  # only dead entries are left
                    del levels[price]
                    keys.pop()
            if taker_expired:
                qty = -qty
                break
            if not qty:
                break
        appended = seq - self._seq  # this call's events, one sequence number each
        self._seq, self._trade_id = seq, trade_id
        if last:
            self._last_price = last
            if self._stops_up or self._stops_down or self._trailing:
                self._collect_triggered(events, len(events) - appended)
        return qty

    # -- icebergs ---------------------------------------------------------------------
    def _new_iceberg(self, events: list[Event], order_id: int, account: int, side: int, price: int,
                     qty: int, slice_qty: int, stp_mode: int) -> list[Event]:
        """An accepted iceberg (GTC): it takes with its whole quantity, then rests a
        slice of ``slice_qty`` and hides the rest."""
        opp, own = self._routes[side]
        limit_key = opp.sign * price
        left = qty
        if opp.keys and opp.keys[-1] >= limit_key:
            left = self._take(events, order_id, account, opp, limit_key, qty, stp_mode)
        if left <= 0:
            status = _FILLED if left == 0 else _EXPIRED_IN_MATCH
            events.append((self._next_seq(), _ORDER, order_id, status, 0, qty + left))
        else:
            if left != qty:
                events.append((self._next_seq(), _ORDER, order_id, _PARTIALLY_FILLED, left, qty - left))
            level = own.levels.get(price)
            if level is None:
                level = own.levels[price] = _Level(price, own)
                insort(own.keys, -limit_key)
            shown = min(slice_qty, left)
            order = _Order(order_id, account, shown, qty, level)
            level.orders.append(order)
            level.total += shown
            level.icebergs += 1
            self._orders[order_id] = order
            self._icebergs[order_id] = _Iceberg(slice_qty, left - shown)
            events.append((self._next_seq(), _LEVEL, side, price, level.total))
        if self._triggered and not self._running_triggers:
            self._run_triggered(events)
        return events

    def _take_iceberg_level(self, events: list[Event], order_id: int, account: int, opp: _BookSide,
                            level: _Level, qty: int, stp_mode: int, seq: int, trade_id: int
                            ) -> tuple[int, bool, int, int]:
        """:meth:`_take`'s loop for one level that holds an iceberg: an iceberg trades
        its visible slice; when that is gone the next slice queues at the back of the
        level, so the orders behind it match first, and the taker goes on matching
        the refreshed slice if nothing else is left.  Takes and returns ``_take``'s
        next sequence number and trade id: ``(lots left with _take's sign
        convention, traded, seq, trade_id)``."""
        icebergs, orders, spare = self._icebergs, self._orders, self._spare
        queue, price, maker_side = level.orders, level.price, opp.side
        append = events.append
        traded = changed = taker_expired = False
        total = level.total
        while total and qty:
            maker = queue[0]
            shown = maker.leaves
            if not shown:  # cancelled earlier: drop the dead entry
                queue.popleft()
                level.dead -= 1
                spare.append(maker)
                continue
            ice = icebergs.get(maker.order_id)
            hidden = ice.hidden if ice is not None else 0
            if maker.account == account and stp_mode:
                append((seq, _PREVENTED, maker.order_id, order_id, price, min(shown, qty)))
                seq += 1
                if stp_mode != _EXPIRE_TAKER:
                    queue.popleft()
                    del orders[maker.order_id]
                    maker.leaves = 0
                    total -= shown
                    changed = True
                    append((seq, _ORDER, maker.order_id, _EXPIRED_IN_MATCH, 0, maker.orig - shown - hidden))
                    seq += 1
                    spare.append(maker)
                    if ice is not None:
                        del icebergs[maker.order_id]
                        level.icebergs -= 1
                if stp_mode != _EXPIRE_MAKER:
                    taker_expired = True
                    break
                continue
            fill = min(shown, qty)
            shown -= fill
            qty -= fill
            total -= fill
            traded = changed = True
            append((seq, _TRADE, trade_id, price, fill, price * fill, maker_side, maker.order_id,
                    order_id, maker.account, account))
            seq += 1
            trade_id += 1
            if not shown and not hidden:
                queue.popleft()
                del orders[maker.order_id]
                maker.leaves = 0
                spare.append(maker)
                if ice is not None:
                    del icebergs[maker.order_id]
                    level.icebergs -= 1
                append((seq, _ORDER, maker.order_id, _FILLED, 0, maker.orig))
            else:
                if not shown:  # the next slice, at the back of the queue
                    assert ice is not None
                    shown = min(ice.slice, hidden)
                    ice.hidden = hidden = hidden - shown
                    total += shown
                    queue.popleft()
                    queue.append(maker)
                maker.leaves = shown
                append((seq, _ORDER, maker.order_id, _PARTIALLY_FILLED, shown + hidden,
                        maker.orig - shown - hidden))
            seq += 1
        if changed:
            level.total = total
            append((seq, _LEVEL, maker_side, price, total))
            seq += 1
            if not total:
                if level.dead:
                    spare.extend(queue)  # only dead entries are left
                opp.remove_level(level)
        return (-qty if taker_expired else qty), traded, seq, trade_id

    def _hidden(self, order: _Order) -> int:
        """What an iceberg hides (0 for any other resting order)."""
        ice = self._icebergs.get(order.order_id) if order.level.icebergs else None
        return ice.hidden if ice is not None else 0

    # -- stops -----------------------------------------------------------------------
    def _accept_stop(self, o: NewOrder) -> list[Event]:
        seq = self._next_seq()
        stop = _Stop(o.order_id, o.account_id, o.side, o.order_type, o.tif, o.price, o.qty,
                     o.stop_price, o.stp_mode, seq, o.iceberg_qty, o.trailing_delta)
        self._orders[o.order_id] = stop
        self._live_stops += 1
        if o.trailing_delta:
            self._trailing.append(stop)
            if not o.stop_price:  # trails from acceptance
                stop.activated, stop.best = True, self._last_price
                return [(seq, _ORDER, o.order_id, _NEW, o.qty, 0),
                        (self._next_seq(), _ACTIVATED, o.order_id, self._last_price)]
        elif triggers_upward(o.order_type, o.side):
            heappush(self._stops_up, (o.stop_price, seq, stop))
        else:
            heappush(self._stops_down, (-o.stop_price, seq, stop))
        return [(seq, _ORDER, o.order_id, _NEW, o.qty, 0)]

    def _trail(self, price: int, batch: list[_Stop | _Activation]) -> None:
        """The trailing stops' step for a trade at ``price`` (the rule of
        :mod:`chalicelib.trading.trailing`): activate, move the best price, or fire
        (then the stop leaves the list and joins ``batch``)."""
        fired = False
        for stop in self._trailing:
            if not stop.activated:
                up = triggers_upward(stop.order_type, stop.side)
                if (price >= stop.stop_price) if up else (price <= stop.stop_price):
                    stop.activated, stop.best = True, price
                    batch.append(_Activation(stop, price))
            elif stop.best is not None and fires(stop.side, stop.trailing_delta, stop.best, price):
                batch.append(stop)
                stop.live = False
                fired = True
            else:
                stop.best = better(stop.side, stop.best, price)
        if fired:
            self._trailing = [s for s in self._trailing if s.live]

    def _collect_triggered(self, events: list[Event], start: int) -> None:
        """Queue the stops the trades in ``events[start:]`` triggered: trade by trade
        along the price path, and in acceptance order among those one trade fires."""
        up, down, orders = self._stops_up, self._stops_down, self._orders
        previous = None
        for e in islice(events, start, None):
            if e[1] != _TRADE or e[3] == previous:
                continue
            price = previous = e[3]
            batch: list[_Stop | _Activation] = []
            if self._trailing:
                self._trail(price, batch)
            while up and up[0][0] <= price:
                stop = heappop(up)[2]
                if stop.live:
                    batch.append(stop)
            while down and -down[0][0] >= price:
                stop = heappop(down)[2]
                if stop.live:
                    batch.append(stop)
            batch.sort(key=_accept_seq)
            for item in batch:
                if isinstance(item, _Stop):
                    item.live = False
                    self._live_stops -= 1
                    del orders[item.order_id]
                self._triggered.append(item)

    def _run_triggered(self, events: list[Event]) -> None:
        """Release triggered stops in trigger order; their own trades may trigger
        more, which queue behind."""
        self._running_triggers = True
        try:
            while self._triggered:
                if self._lists:  # order lists react before each release (see .lists)
                    self._on_list_events(events)
                    if not self._triggered:
                        break
                self._release(events, self._triggered.popleft())
        finally:
            self._running_triggers = False

    def _release(self, events: list[Event], s: _Stop | _Activation) -> None:
        """Release the next item of the trigger queue: report a trailing stop's
        activation, or fire a triggered stop, re-checked against the book first (a
        failure expires it unfilled)."""
        if isinstance(s, _Activation):
            events.append((self._next_seq(), _ACTIVATED, s.stop.order_id, s.price))
            return
        events.append((self._next_seq(), _TRIGGERED, s.order_id, self._last_price))
        opp = self._sides[s.side ^ 1]
        if check_triggered(self.filters, s.order_type, s.qty, s.price,
                           opp.sign * opp.keys[-1] if opp.keys else None) is not None:
            events.append((self._next_seq(), _ORDER, s.order_id, _EXPIRED, 0, 0))
            return
        if s.order_type in _STOP_MARKET_TYPES:
            self._market(events, s.order_id, s.account, s.side, s.qty, s.stp_mode)
        elif s.iceberg_qty:
            self._new_iceberg(events, s.order_id, s.account, s.side, s.price, s.qty,
                              s.iceberg_qty, s.stp_mode)
        else:
            self.new_limit(s.order_id, s.account, s.side, s.price, s.qty, s.tif, s.stp_mode, events)

    # -- order lists' primitives (the rules are in .lists) -----------------------------
    def _place_held(self, order: NewOrder) -> list[Event]:
        held = self._running_triggers
        self._running_triggers = True
        try:
            return self.new_order(order)
        finally:
            self._running_triggers = held

    def _release_one_triggered(self, events: list[Event]) -> bool:
        if not self._triggered:
            return False
        held = self._running_triggers
        self._running_triggers = True
        try:
            self._release(events, self._triggered.popleft())
        finally:
            self._running_triggers = held
        return True

    def _end_triggered(self, order_id: int, status: int) -> list[Event]:
        for s in self._triggered:
            if isinstance(s, _Stop) and s.order_id == order_id:  # not an activation marker
                self._triggered.remove(s)
                return [(self._next_seq(), _ORDER, order_id, status, 0, 0)]
        return []

    def _account_of(self, order_id: int) -> int:
        return self._orders[order_id].account

    def _emit_list_event(self, events: list[Event], kind: int, *fields: object) -> None:
        events.append((self._next_seq(), kind, *fields))

    # -- cancel, amend -----------------------------------------------------------------
    def cancel(self, order_id: int, account_id: int) -> list[Event]:
        order = self._orders.pop(order_id, None)
        if order.__class__ is not _Order or order.account != account_id:
            return self._cancel_other(order_id, account_id, order)
        left = order.leaves
        order.leaves = 0
        level = order.level
        total = level.total = level.total - left
        book_side = level.book_side
        executed = order.orig - left
        if level.icebergs and order_id in self._icebergs:
            executed -= self._icebergs.pop(order_id).hidden
            level.icebergs -= 1
        seq = self._seq
        events = [(seq, _ORDER, order_id, _CANCELED, 0, executed),
                  (seq + 1, _LEVEL, book_side.side, level.price, total)]
        self._seq = seq + 2
        if not total:
            self._spare.extend(level.orders)  # only dead entries are left
            book_side.remove_level(level)
        else:
            dead = level.dead = level.dead + 1
            if dead > 8 and 2 * dead > len(level.orders) + 8:  # more dead than live + 8
                self._spare.extend(filterfalse(_is_live, level.orders))
                level.orders = deque(filter(_is_live, level.orders))
                level.dead = 0
        return events

    def _cancel_other(self, order_id: int, account_id: int, order: _Order | _Stop | None) -> list[Event]:
        """Cancel of anything but one's own resting order: a pending stop, someone
        else's order (put back untouched) or an unknown id."""
        if order is not None:
            if order.__class__ is _Stop and order.account == account_id:
                order.live = False
                self._live_stops -= 1
                if order.trailing_delta:
                    self._trailing.remove(order)
                return [(self._next_seq(), _ORDER, order_id, _CANCELED, 0, 0)]
            self._orders[order_id] = order
        return [self._reject_event(order_id, Reason.CANCEL_REJECTED)]

    def amend(self, order_id: int, account_id: int, new_qty: int) -> list[Event]:
        order = self._orders.get(order_id)
        if order is None or order.account != account_id:
            return [self._reject_event(order_id, Reason.NO_SUCH_ORDER)]
        orig = order.qty if isinstance(order, _Stop) else order.orig
        if new_qty >= orig:
            return [self._reject_event(order_id, Reason.ORDER_AMEND_QTY_INCREASE)]
        if new_qty <= 0:
            return [self._reject_event(order_id, Reason.INVALID_QUANTITY)]
        if new_qty < self.filters.min_qty:
            return [self._reject_event(order_id, Reason.FILTER_LOT_SIZE)]
        nxt = self._next_seq
        if isinstance(order, _Stop):
            order.qty = new_qty
            return [(nxt(), _AMENDED, order_id, new_qty, 0)]
        level = order.level
        ice = self._icebergs.get(order_id) if level.icebergs else None
        hidden = ice.hidden if ice is not None else 0
        executed = order.orig - order.leaves - hidden
        leaves = max(0, new_qty - executed)
        shown = min(order.leaves, leaves)  # an iceberg keeps what it shows, at most
        level.total -= order.leaves - shown
        order.orig = new_qty
        order.leaves = shown
        if ice is not None:
            ice.hidden = leaves - shown
        events: list[Event] = [(nxt(), _AMENDED, order_id, leaves, executed)]
        if not leaves:
            del self._orders[order_id]
            level.dead += 1
            if ice is not None:
                del self._icebergs[order_id]
                level.icebergs -= 1
            events.append((nxt(), _ORDER, order_id, _FILLED, 0, executed))
        events.append((nxt(), _LEVEL, level.book_side.side, level.price, level.total))
        if not level.total:
            self._spare.extend(level.orders)
            level.book_side.remove_level(level)
        return events

    # -- queries ---------------------------------------------------------------------
    @property
    def last_price(self) -> int | None:
        return self._last_price

    def best_bid(self) -> Level | None:
        keys = self._bids.keys
        if not keys:
            return None
        level = self._bids.levels[keys[-1]]
        return (level.price, level.total)

    def best_ask(self) -> Level | None:
        keys = self._asks.keys
        if not keys:
            return None
        level = self._asks.levels[-keys[-1]]
        return (level.price, level.total)

    def depth(self, n: int) -> tuple[list[Level], list[Level]]:
        def side_depth(s: _BookSide) -> list[tuple[int, int]]:
            levels, sign = s.levels, s.sign
            out: list[Level] = []
            for key in reversed(s.keys):
                if len(out) >= n:
                    break
                level = levels[sign * key]
                out.append((level.price, level.total))
            return out

        return side_depth(self._bids), side_depth(self._asks)

    def resting_count(self) -> int:
        return len(self._orders) - self._live_stops

    def open_order(self, order_id: int) -> OpenOrder | None:
        o = self._orders.get(order_id)
        if o is None:
            return None
        if isinstance(o, _Stop):
            return (o.side, o.price, o.qty, o.qty, True)
        return (o.level.book_side.side, o.level.price, o.leaves + self._hidden(o), o.orig, False)

    # -- state -------------------------------------------------------------------------
    def export_state(self) -> State:
        icebergs = self._icebergs

        def row(o: _Order) -> list[int]:
            ice = icebergs.get(o.order_id) if o.level.icebergs else None
            if ice is None:
                return [o.order_id, o.account, o.leaves, o.orig]
            return [o.order_id, o.account, o.leaves + ice.hidden, o.orig, o.leaves, ice.slice]

        def side_state(s: _BookSide) -> list[Any]:
            return [[s.sign * key, [row(o) for o in s.levels[s.sign * key].orders if o.leaves]]
                    for key in reversed(s.keys)]

        seq, trade_id = self._seq, self._trade_id
        stops = sorted((o for o in self._orders.values() if o.__class__ is _Stop),
                       key=lambda s: s.accept_seq)
        state: State = {
            "version": 1, "seq": seq, "trade_id": trade_id, "last_price": self._last_price,
            "bids": side_state(self._bids), "asks": side_state(self._asks),
            "stops": [s.row() for s in stops],
        }
        if self._lists:
            state["lists"] = self._export_lists()
        return state

    def import_state(self, state: State) -> None:
        self._seq, self._trade_id = state["seq"], state["trade_id"]
        self._last_price = state["last_price"]
        for s, key in ((self._bids, "bids"), (self._asks, "asks")):
            for price, queue in state[key]:
                level = s.levels[price] = _Level(price, s)
                s.keys.append(s.sign * price)
                for order_id, account, leaves, orig, *ice in queue:
                    shown = ice[0] if ice else leaves
                    o = _Order(order_id, account, shown, orig, level)
                    level.orders.append(o)
                    level.total += shown
                    self._orders[order_id] = o
                    if ice:
                        self._icebergs[order_id] = _Iceberg(ice[1], leaves - shown)
                        level.icebergs += 1
            s.keys.sort()
        for row in sorted(state["stops"], key=lambda r: r[9]):
            stop = _Stop(*row)
            self._orders[stop.order_id] = stop
            self._live_stops += 1
            if stop.trailing_delta:
                self._trailing.append(stop)
            elif triggers_upward(stop.order_type, stop.side):
                heappush(self._stops_up, (stop.stop_price, stop.accept_seq, stop))
            else:
                heappush(self._stops_down, (-stop.stop_price, stop.accept_seq, stop))
        self._import_lists(state.get("lists", []))

    def validate_internal_state(self) -> None:
        seen = 0
        for s in self._sides:
            assert s.keys == sorted(s.keys), "keys out of order"
            assert len(set(s.keys)) == len(s.keys), "duplicate level key"
            assert sorted(s.sign * p for p in s.levels) == s.keys, "keys and levels disagree"
            for price, level in s.levels.items():
                assert level.price == price and level.book_side is s
                live = [o for o in level.orders if o.leaves]
                assert live, f"empty level {price} kept"
                assert level.dead == len(level.orders) - len(live), f"level {price} dead count"
                assert level.total == sum(o.leaves for o in live), f"level {price} total"
                for o in live:
                    assert o.level is level and self._orders.get(o.order_id) is o
                    assert 0 < o.leaves <= o.orig
                    ice = self._icebergs.get(o.order_id)
                    assert ice is None or (o.leaves <= ice.slice and o.leaves + ice.hidden <= o.orig)
                assert level.icebergs == sum(o.order_id in self._icebergs for o in live), "iceberg count"
                seen += len(live)
        queued = {id(o) for s in self._sides for level in s.levels.values() for o in level.orders}
        assert len({id(o) for o in self._spare}) == len(self._spare), "spare order twice"
        assert not any(id(o) in queued for o in self._spare), "spare order still queued"
        stops = [o for o in self._orders.values() if o.__class__ is _Stop]
        assert seen + len(stops) == len(self._orders), "order index out of step with the book"
        assert all(s.live for s in stops) and len(stops) == self._live_stops
        live_in_heaps = {id(e[2]) for e in self._stops_up + self._stops_down if e[2].live}
        trailing = {id(s) for s in self._trailing}
        assert all(s.live for s in self._trailing) and not live_in_heaps & trailing
        assert live_in_heaps | trailing == {id(s) for s in stops}, "stop heaps out of step"
        assert len(self._icebergs) == sum(lv.icebergs for s in self._sides for lv in s.levels.values())
        bid, ask = self.best_bid(), self.best_ask()
        assert bid is None or ask is None or bid[0] < ask[0], "book crossed at rest"
        self._validate_lists(set(self._orders))
