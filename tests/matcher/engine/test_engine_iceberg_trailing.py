"""Icebergs and trailing stops on both books: Binance's trailing-stop FAQ scenarios
A-E replayed trade by trade, and the iceberg rules (visible slice, refresh at the
back of the level, successive slices within one match, depth, cancel, amend, FOK,
snapshots)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.errors import Reason
from matcher.engine import (
    Amend,
    Cancel,
    EngineFilters,
    EventKind,
    FastBook,
    NewOrder,
    OrderStatus,
    OrderType,
    ReferenceBook,
    Side,
    TimeInForce,
    check_new_order,
)

BUY, SELL = Side.BUY, Side.SELL
K, S, T = EventKind, OrderStatus, OrderType
GTC = TimeInForce.GTC


@pytest.fixture(params=[ReferenceBook, FastBook], ids=["reference", "fast"])
def make_book(request):
    return request.param


def kinds(events, kind):
    return [e for e in events if e[1] == kind]


# -- trailing stops: the FAQ's scenarios -------------------------------------------------------
# Prices in the FAQ have one decimal at most (43,012.5): one tick here is 0.5, so a price
# of p is 2p ticks.
def ticks(price: float) -> int:
    return int(price * 2)


class Market:
    """Drives the last price with one-lot trades between two accounts (a resting SELL,
    then a BUY that takes it), and records when the stop under test activates and
    fires."""

    def __init__(self, book_cls):
        self.book = book_cls()
        self.oid = 100
        self.activated: int | None = None
        self.fired_at: int | None = None

    def trade(self, price_ticks: int) -> None:
        for side, account in ((SELL, 1), (BUY, 2)):
            self.oid += 1
            events = self.book.process(NewOrder(self.oid, account, side, T.LIMIT, GTC, price_ticks, 1))
            self.watch(events)

    def watch(self, events) -> None:
        for e in events:
            if e[1] == K.ACTIVATED and e[2] == 1:
                self.activated = e[3] if e[3] is not None else -1
            if e[1] == K.TRIGGERED and e[2] == 1 and self.fired_at is None:
                self.fired_at = e[3]

    def path(self, *points: float, step: float = 50) -> None:
        """Linear trades from the last price through each point, ``step`` apart (the
        last leg one tick apart), until the stop fires."""
        current = self.book.last_price
        for i, point in enumerate(points):
            target = ticks(point)
            delta = 1 if i == len(points) - 1 else ticks(step)
            direction = 1 if target > current else -1
            while current != target and self.fired_at is None:
                current += direction * min(delta, abs(target - current))
                self.trade(current)

    def place(self, order: NewOrder) -> list:
        events = self.book.process(order)
        self.watch(events)
        return events


def stop(order_type, side, stop_price, delta, limit_price):
    return NewOrder(1, 3, side, order_type, GTC, ticks(limit_price), 1, 0,
                    ticks(stop_price) if stop_price else 0, 0, 0, delta)


@pytest.mark.parametrize("name, order, path, activated, fired", [
    # A: BUY STOP_LOSS_LIMIT, stop 44,000, 5 %: tracks from 44,000, low 42,000, fires at 44,100
    ("A", stop(T.STOP_LOSS_LIMIT, BUY, 44_000, 500, 45_000),
     (37_000, 45_000, 46_000, 42_000, 44_500), 44_000, 44_100),
    # B: SELL STOP_LOSS_LIMIT, stop 39,000, 10 %: tracks from 39,000, high 41,000, fires at 36,900
    ("B", stop(T.STOP_LOSS_LIMIT, SELL, 39_000, 1000, 38_000),
     (41_500, 37_000, 41_000, 36_000), 39_000, 36_900),
    # C: BUY TAKE_PROFIT_LIMIT, stop 38,000, 8.5 %: low 37,000, fires at 40,145
    ("C", stop(T.TAKE_PROFIT_LIMIT, BUY, 38_000, 850, 38_500),
     (42_000, 37_000, 39_000, 38_000, 41_000), 38_000, 40_145),
    # D: SELL TAKE_PROFIT_LIMIT, stop 42,000, 7.5 %: high 46,500, fires at 43,012.5
    ("D", stop(T.TAKE_PROFIT_LIMIT, SELL, 42_000, 750, 41_000),
     (41_500, 39_000, 45_000, 44_000, 46_500, 43_000), 42_000, 43_012.5),
    # E: SELL STOP_LOSS_LIMIT without a stop price, 7 %: tracks from 40,000 at once, fires at 42,315
    ("E", stop(T.STOP_LOSS_LIMIT, SELL, 0, 700, 39_000),
     (42_000, 39_500, 45_500, 42_000), 40_000, 42_315),
])
def test_trailing_stop_faq_scenarios(make_book, name, order, path, activated, fired):
    m = Market(make_book)
    m.trade(ticks(40_000))  # "at 12:01:00 there is a trade at a price of 40,000"
    events = m.place(order)
    assert events[0][1:4] == (K.ORDER, 1, S.NEW)
    assert (m.activated is not None) == (order.stop_price == 0)  # only E tracks from placement
    m.path(*path)
    assert m.activated == ticks(activated), name
    assert m.fired_at == ticks(fired), name
    assert m.book.open_order(1) is None or not m.book.open_order(1)[4]  # no longer a pending stop


def test_trailing_stop_market_fires_and_sells(make_book):
    """A trailing STOP_LOSS (market) SELL fires on the retrace and takes the bids."""
    book = make_book()
    book.process(NewOrder(10, 1, SELL, T.LIMIT, GTC, 100, 1))
    book.process(NewOrder(11, 2, BUY, T.LIMIT, GTC, 100, 1))          # last 100
    assert kinds(book.process(NewOrder(1, 3, SELL, T.STOP_LOSS, qty=5, trailing_delta=1000)),
                 K.ACTIVATED)[0][3] == 100
    book.process(NewOrder(20, 2, BUY, T.LIMIT, GTC, 89, 10))           # the bid it will sell to
    book.process(NewOrder(12, 1, SELL, T.LIMIT, GTC, 120, 1))
    book.process(NewOrder(13, 2, BUY, T.LIMIT, GTC, 120, 1))          # high 120: fires at <= 108
    book.process(NewOrder(14, 1, SELL, T.LIMIT, GTC, 109, 1))
    assert not kinds(book.process(NewOrder(15, 2, BUY, T.LIMIT, GTC, 109, 1)), K.TRIGGERED)
    book.process(NewOrder(16, 1, SELL, T.LIMIT, GTC, 108, 1))
    events = book.process(NewOrder(17, 2, BUY, T.LIMIT, GTC, 108, 1))
    assert kinds(events, K.TRIGGERED)[0][2:] == (1, 108)
    sold = [e for e in kinds(events, K.TRADE) if e[8] == 1]
    assert [(e[3], e[4]) for e in sold] == [(89, 5)]
    book.validate_internal_state()


def test_trailing_stop_without_last_price_starts_at_the_first_trade(make_book):
    book = make_book()
    events = book.process(NewOrder(1, 3, BUY, T.STOP_LOSS_LIMIT, GTC, 200, 1, trailing_delta=1000))
    assert kinds(events, K.ACTIVATED)[0][2:] == (1, None)
    for oid, price in ((10, 100), (12, 109)):  # 100 sets the low; 109 < 110 does not fire
        book.process(NewOrder(oid, 1, SELL, T.LIMIT, GTC, price, 1))
        assert not kinds(book.process(NewOrder(oid + 1, 2, BUY, T.LIMIT, GTC, price, 1)), K.TRIGGERED)
    book.process(NewOrder(14, 1, SELL, T.LIMIT, GTC, 110, 1))
    assert kinds(book.process(NewOrder(15, 2, BUY, T.LIMIT, GTC, 110, 1)), K.TRIGGERED)


def test_trailing_stop_cancel_and_snapshot(make_book):
    book = make_book()
    book.process(NewOrder(1, 3, SELL, T.STOP_LOSS, qty=2, stop_price=90, trailing_delta=300))
    book.process(NewOrder(2, 3, BUY, T.TAKE_PROFIT, qty=2, trailing_delta=300))
    restored = make_book.restore(book.snapshot())
    assert restored.state_hash() == book.state_hash()
    assert book.cancel(1, 3)[0][1:4] == (K.ORDER, 1, S.CANCELED)
    assert book.open_order(1) is None and book.open_order(2)[4]
    book.validate_internal_state()


def test_trailing_delta_filter_and_combinations():
    f = EngineFilters(min_trailing_above=10, max_trailing_above=2000, min_trailing_below=20,
                      max_trailing_below=1000)
    ok = NewOrder(1, 1, BUY, T.STOP_LOSS, qty=1, trailing_delta=10)  # above: 10..2000
    assert check_new_order(f, ok, None, None) is None
    assert check_new_order(f, ok._replace(trailing_delta=9), None, None) == Reason.FILTER_TRAILING_DELTA
    below = ok._replace(side=SELL, trailing_delta=1500)  # below: 20..1000
    assert check_new_order(f, below, None, None) == Reason.FILTER_TRAILING_DELTA
    assert check_new_order(f, NewOrder(1, 1, BUY, T.LIMIT, GTC, 5, 1, trailing_delta=100), None, None) \
        == Reason.UNSUPPORTED_OPERATION
    # a plain stop still needs its stop price; a trailing one may do without
    assert check_new_order(f, ok._replace(trailing_delta=0), None, None) == Reason.FILTER_PRICE
    # a stop price already met is refused, as for a plain stop
    assert check_new_order(f, ok._replace(stop_price=50), None, 60) == Reason.WOULD_TRIGGER


# -- icebergs ---------------------------------------------------------------------------------
def iceberg(oid, side, price, qty, slice_qty, account=None, order_type=T.LIMIT):
    return NewOrder(oid, oid if account is None else account, side, order_type, GTC, price, qty,
                    iceberg_qty=slice_qty)


def test_iceberg_shows_its_slice_and_refreshes_at_the_back(make_book):
    book = make_book()
    events = book.process(iceberg(1, SELL, 100, 10, 3))
    assert events[-1][1:] == (K.LEVEL, SELL, 100, 3)       # only the slice is visible
    book.process(NewOrder(2, 2, SELL, T.LIMIT, GTC, 100, 2))
    assert book.depth(5)[1] == [(100, 5)]
    assert book.open_order(1) == (SELL, 100, 10, 10, False)
    # a buy of 4: the whole slice (3), the refresh goes behind order 2, which fills next
    events = book.process(NewOrder(3, 3, BUY, T.LIMIT, GTC, 100, 4))
    trades = [(e[7], e[4]) for e in kinds(events, K.TRADE)]
    assert trades == [(1, 3), (2, 1)]
    assert (1, S.PARTIALLY_FILLED, 7, 3) in [e[2:6] for e in kinds(events, K.ORDER)]
    assert book.depth(5)[1] == [(100, 4)]                  # order 2's 1 + the new slice of 3
    # the next buy takes order 2 first, then the iceberg's slice
    events = book.process(NewOrder(4, 4, BUY, T.LIMIT, GTC, 100, 2))
    assert [(e[7], e[4]) for e in kinds(events, K.TRADE)] == [(2, 1), (1, 1)]
    book.validate_internal_state()


def test_one_taker_consumes_successive_slices(make_book):
    book = make_book()
    book.process(iceberg(1, SELL, 100, 10, 3))
    events = book.process(NewOrder(2, 2, BUY, T.LIMIT, GTC, 101, 8))
    assert [e[4] for e in kinds(events, K.TRADE)] == [3, 3, 2]   # one trade per slice
    assert events[-1][1:] != (K.ORDER, 2, S.NEW)
    assert kinds(events, K.LEVEL)[-1][2:] == (SELL, 100, 1)     # 10 - 8 left, slice of 1 shown
    events = book.process(NewOrder(3, 2, BUY, T.LIMIT, GTC, 100, 5))
    assert (1, S.FILLED, 0, 10) in [e[2:6] for e in kinds(events, K.ORDER)]
    assert book.depth(5) == ([(100, 3)], [])                  # the rest of order 3 bids
    book.validate_internal_state()


def test_iceberg_taker_uses_its_whole_quantity_then_rests_a_slice(make_book):
    book = make_book()
    book.process(NewOrder(1, 1, SELL, T.LIMIT, GTC, 100, 4))
    events = book.process(iceberg(2, BUY, 100, 12, 5))
    assert kinds(events, K.TRADE)[0][4] == 4
    assert events[-1][1:] == (K.LEVEL, BUY, 100, 5)
    assert book.open_order(2) == (BUY, 100, 8, 12, False)


def test_iceberg_cancel_amend_fok_and_snapshot(make_book):
    book = make_book()
    book.process(iceberg(1, SELL, 100, 10, 3))
    book.process(NewOrder(2, 2, BUY, T.LIMIT, GTC, 100, 4))     # 6 left: 2 shown, 4 hidden
    assert book.open_order(1) == (SELL, 100, 6, 10, False)
    # FOK counts the hidden part: 6 can fill, 7 cannot
    assert book.process(NewOrder(3, 3, BUY, T.LIMIT, TimeInForce.FOK, 100, 7))[-1][3] == S.EXPIRED
    restored = make_book.restore(book.snapshot())
    assert restored.state_hash() == book.state_hash()
    # amend to 8 (4 executed): 4 left, the 2 shown stay shown
    events = book.process(Amend(1, 1, 8))
    assert events[0][1:] == (K.AMENDED, 1, 4, 4)
    assert book.depth(5)[1] == [(100, 2)]
    assert book.process(Cancel(1, 1))[0][1:] == (K.ORDER, 1, S.CANCELED, 0, 4)
    assert book.depth(5)[1] == []
    events = restored.process(NewOrder(3, 3, BUY, T.LIMIT, TimeInForce.FOK, 100, 6))
    assert sum(e[4] for e in kinds(events, K.TRADE)) == 6
    book.validate_internal_state()
    restored.validate_internal_state()


def test_iceberg_stop_limit_rests_as_an_iceberg_when_triggered(make_book):
    book = make_book()
    book.process(NewOrder(1, 1, SELL, T.STOP_LOSS_LIMIT, GTC, 95, 9, 0, 98, iceberg_qty=2))
    book.process(NewOrder(2, 2, SELL, T.LIMIT, GTC, 98, 1))
    events = book.process(NewOrder(3, 3, BUY, T.LIMIT, GTC, 98, 1))
    assert kinds(events, K.TRIGGERED)[0][2] == 1
    assert book.depth(5)[1] == [(95, 2)] and book.open_order(1) == (SELL, 95, 9, 9, False)


def test_iceberg_filters():
    f = EngineFilters(min_qty=1, max_qty=100, iceberg_parts=10)
    ok = iceberg(1, BUY, 10, 20, 2)
    assert check_new_order(f, ok, None, None) is None
    assert check_new_order(f, ok._replace(iceberg_qty=1), None, None) == Reason.FILTER_ICEBERG_PARTS
    assert check_new_order(f, ok._replace(iceberg_qty=20), None, None) == Reason.ICEBERG_QTY_EXCEEDS_QTY
    assert check_new_order(f, ok._replace(tif=TimeInForce.IOC), None, None) == Reason.UNSUPPORTED_OPERATION
    assert check_new_order(f, ok._replace(order_type=T.MARKET, price=0), None, None) \
        == Reason.UNSUPPORTED_OPERATION
    assert check_new_order(f, ok._replace(order_type=T.LIMIT_MAKER, tif=TimeInForce.IOC), None, None) is None


# -- stops re-checked when they fire -----------------------------------------------------------
def test_a_stop_is_rechecked_against_the_filters_when_it_fires(make_book):
    """A stop-limit amended below NOTIONAL since entry, and a stop-market whose notional
    at the book when it fires is below it, expire unfilled when they fire."""
    f = EngineFilters(min_qty=1, max_qty=100, min_notional=500)
    book = make_book(f)
    assert book.process(NewOrder(1, 1, SELL, T.STOP_LOSS_LIMIT, GTC, 95, 10, 0, 98))[0][3] == S.NEW
    assert book.process(Amend(1, 1, 4))[0][1] == K.AMENDED           # 4 x 95 < 500 now
    book.process(NewOrder(2, 2, SELL, T.STOP_LOSS, qty=6, stop_price=97))  # 6 x 97 passes at entry
    book.process(NewOrder(9, 3, BUY, T.LIMIT, GTC, 80, 10))           # the bid it would sell at: 6 x 80 < 500
    book.process(NewOrder(3, 3, SELL, T.LIMIT, GTC, 96, 10))
    events = book.process(NewOrder(4, 4, BUY, T.LIMIT, GTC, 96, 10))  # trades at 96: both fire
    assert [e[2] for e in kinds(events, K.TRIGGERED)] == [1, 2]
    expired = [e[2:6] for e in kinds(events, K.ORDER) if e[3] == S.EXPIRED]
    assert expired == [(1, S.EXPIRED, 0, 0), (2, S.EXPIRED, 0, 0)]
    assert not [e for e in kinds(events, K.TRADE) if 1 in (e[7], e[8]) or 2 in (e[7], e[8])]
    assert book.depth(5) == ([(80, 10)], [])
    book.validate_internal_state()


# -- the trailing rule against a brute-force statement of the FAQ, on random price paths ------
@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(st.lists(st.integers(80, 120), min_size=2, max_size=40), st.sampled_from([BUY, SELL]),
       st.sampled_from([T.STOP_LOSS_LIMIT, T.TAKE_PROFIT_LIMIT]), st.integers(50, 1500),
       st.one_of(st.just(0), st.integers(85, 115)))
def test_trailing_stops_fire_where_the_faq_says(path, side, order_type, delta, stop_price):
    """Where a trailing stop fires on a random path of trades, computed here from the
    FAQ's words alone (activation by the stop price, or at placement; lowest/highest
    price since; a move of ``delta`` BIPS), in exact fractions."""
    from fractions import Fraction

    up = (order_type == T.STOP_LOSS_LIMIT) == (side == BUY)  # the stop price condition's direction
    first, rest = path[0], path[1:]
    if stop_price and ((first >= stop_price) if up else (first <= stop_price)):
        return  # a stop price already met is refused at entry
    expected, active, best = None, not stop_price, (first if not stop_price else None)
    for i, p in enumerate(rest):
        if not active:
            if (p >= stop_price) if up else (p <= stop_price):
                active, best = True, p
            continue
        move = Fraction(p - best, best) * 10_000
        if (move >= delta) if side == BUY else (-move >= delta):
            expected = i
            break
        best = min(best, p) if side == BUY else max(best, p)
    for book_cls in (ReferenceBook, FastBook):
        m = Market(book_cls)
        m.trade(first)
        m.place(NewOrder(1, 3, side, order_type, GTC, 1 if side == SELL else 10**6, 1, 0, stop_price, 0, 0,
                         delta))
        fired_at = None
        for i, p in enumerate(rest):
            m.trade(p)
            if m.fired_at is not None:
                fired_at = i
                break
        assert fired_at == expected, (book_cls.__name__, fired_at, expected)
