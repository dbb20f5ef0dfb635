"""Order lists in the engine: Binance's OCO, OTO and OTOCO worked through on both books.

The scenarios follow Binance's descriptions (rest-api.md "New Order list - OCO / OTO /
OTOCO"): a SELL OCO of a LIMIT_MAKER above the last price and a STOP_LOSS_LIMIT
below it; when one leg trades or triggers the other expires; a leg canceled cancels
the list; an OTO's pending order is placed when its working order is filled."""
from __future__ import annotations

import pytest

from chalicelib.errors import Reason
from matcher.engine import (
    Cancel,
    CancelOrderList,
    ContingencyType as C,
    EventKind as K,
    FastBook,
    ListOrderStatus as LO,
    ListStatusType as LS,
    NewOrder,
    NewOrderList,
    OrderStatus as S,
    OrderType as T,
    ReferenceBook,
    Side,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL
ALICE, BOB = 1, 2


@pytest.fixture(params=[ReferenceBook, FastBook], ids=["reference", "fast"])
def book(request):
    return request.param()


def limit(oid, side, price, qty, account=BOB, order_type=T.LIMIT):
    return NewOrder(oid, account, side, order_type, TimeInForce.GTC, price, qty)


def stop(oid, side, order_type, stop_price, qty, price=0, account=ALICE):
    return NewOrder(oid, account, side, order_type, TimeInForce.GTC, price, qty, stop_price=stop_price)


def trade_at(book, price, first_id):
    """Make the last price ``price``: two other accounts trade 1 lot at it."""
    book.process(limit(first_id, SELL, price, 1, account=7))
    book.process(limit(first_id + 1, BUY, price, 1, account=8))
    assert book.last_price == price


def sell_oco(list_id=1, qty=5, limit_price=110, stop_price=90, stop_limit=89):
    """Binance's SELL OCO: below = STOP_LOSS_LIMIT, above = LIMIT_MAKER (ids 10, 11)."""
    below = stop(10, SELL, T.STOP_LOSS_LIMIT, stop_price, qty, price=stop_limit)
    above = limit(11, SELL, limit_price, qty, account=ALICE, order_type=T.LIMIT_MAKER)
    return NewOrderList(list_id, ALICE, C.OCO, (below, above))


def run(book, cmd):
    events = book.process(cmd)
    book.validate_internal_state()
    return [e[1:] for e in events]


def orders(events):
    return [(e[1], e[2]) for e in events if e[0] == K.ORDER]


def lists(events):
    return [e[1:] for e in events if e[0] == K.LIST]


def test_an_oco_places_both_legs(book):
    trade_at(book, 100, 900)
    ev = run(book, sell_oco())
    assert lists(ev) == [(1, LS.EXEC_STARTED, LO.EXECUTING)]
    assert orders(ev) == [(10, S.NEW), (11, S.NEW)]
    assert book.open_order(10) == (SELL, 89, 5, 5, True)  # the stop waits
    assert book.best_ask() == (110, 5)  # the LIMIT_MAKER rests


def test_a_limit_leg_that_trades_expires_the_stop_leg(book):
    trade_at(book, 100, 900)
    run(book, sell_oco())
    ev = run(book, limit(20, BUY, 110, 2))  # BOB buys 2 of the 5 at 110
    assert [e[2] for e in ev if e[0] == K.TRADE] == [110]
    assert (11, S.PARTIALLY_FILLED) in orders(ev)
    assert orders(ev)[-1] == (10, S.EXPIRED)  # OCO_TRIGGER
    assert lists(ev) == [(1, LS.ALL_DONE, LO.ALL_DONE)]
    assert book.open_order(10) is None
    assert book.open_order(11) == (SELL, 110, 3, 5, False)  # goes on as a plain order
    trade_at(book, 80, 950)  # the stop leg is gone: nothing triggers
    assert book.open_order(11) is not None


def test_a_stop_leg_that_triggers_expires_the_limit_leg(book):
    trade_at(book, 100, 900)
    run(book, sell_oco())
    book.process(limit(30, BUY, 89, 10))  # bids for the stop-limit to sell into
    book.process(limit(31, SELL, 90, 1, account=9))  # rests above the bid at 89
    ev = run(book, limit(32, BUY, 90, 1, account=8))  # a trade at 90: the stop fires
    kinds = [(e[0], e[1]) for e in ev]
    assert (K.TRIGGERED, 10) in kinds
    assert kinds.index((K.ORDER, 11)) > kinds.index((K.TRIGGERED, 10))  # expired once triggered...
    assert (11, S.EXPIRED) in orders(ev)
    assert lists(ev) == [(1, LS.ALL_DONE, LO.ALL_DONE)]
    assert (10, S.FILLED) in orders(ev)  # ...and the stop-limit sold 5 into the bid at 89
    assert book.best_ask() is None


def test_canceling_one_leg_cancels_the_list(book):
    trade_at(book, 100, 900)
    run(book, sell_oco())
    ev = run(book, Cancel(11, ALICE))
    assert orders(ev) == [(11, S.CANCELED), (10, S.CANCELED)]
    assert lists(ev) == [(1, LS.ALL_DONE, LO.ALL_DONE)]
    assert book.open_order(10) is None and book.best_ask() is None


def test_cancel_order_list(book):
    trade_at(book, 100, 900)
    run(book, sell_oco())
    assert lists(run(book, CancelOrderList(1, BOB))) == [(1, LS.RESPONSE, LO.REJECT)]  # not BOB's
    ev = run(book, CancelOrderList(1, ALICE))
    assert orders(ev) == [(10, S.CANCELED), (11, S.CANCELED)]
    assert lists(ev) == [(1, LS.ALL_DONE, LO.ALL_DONE)]
    assert lists(run(book, CancelOrderList(1, ALICE))) == [(1, LS.RESPONSE, LO.REJECT)]


@pytest.mark.parametrize("change, reason", [
    ({"limit_price": 95}, Reason.WOULD_TAKE),        # a LIMIT_MAKER below the bid at 99
    ({"stop_price": 100, "stop_limit": 99}, Reason.WOULD_TRIGGER),  # the stop at/above last
])
def test_an_oco_with_a_bad_leg_is_refused_whole(book, change, reason):
    trade_at(book, 100, 900)
    book.process(limit(40, BUY, 99, 1, account=8))
    ev = run(book, sell_oco(**change))
    assert [e for e in ev if e[0] == K.REJECTED] == [(K.REJECTED, 10, reason), (K.REJECTED, 11, reason)]
    assert lists(ev) == [(1, LS.RESPONSE, LO.REJECT)]
    assert book.open_order(10) is None and book.open_order(11) is None


def test_an_oco_needs_one_stop_loss_and_one_limit_maker_or_take_profit(book):
    a = limit(11, SELL, 110, 5, account=ALICE, order_type=T.LIMIT_MAKER)
    b = limit(10, SELL, 120, 5, account=ALICE, order_type=T.LIMIT_MAKER)
    ev = run(book, NewOrderList(1, ALICE, C.OCO, (b, a)))
    assert ev[0] == (K.REJECTED, 10, Reason.BOTH_OCO_ORDERS_CANNOT_BE_LIMIT)
    other_qty = stop(10, SELL, T.STOP_LOSS, 90, 4)
    assert run(book, NewOrderList(1, ALICE, C.OCO, (other_qty, a)))[0][2] == Reason.INVALID_PARAMETER


def test_a_buy_oco_with_a_take_profit_and_a_stop_loss(book):
    """BUY OCO of the aboveType/belowType form: TAKE_PROFIT below, STOP_LOSS above."""
    trade_at(book, 100, 900)
    below = stop(10, BUY, T.TAKE_PROFIT, 90, 2)
    above = stop(11, BUY, T.STOP_LOSS, 110, 2)
    run(book, NewOrderList(1, ALICE, C.OCO, (below, above)))
    book.process(limit(50, SELL, 112, 5, account=7))
    ev = run(book, limit(51, BUY, 112, 1, account=8))  # last 112 >= 110: the stop-loss fires
    assert (10, S.EXPIRED) in orders(ev)
    assert [e for e in ev if e[0] == K.TRIGGERED] == [(K.TRIGGERED, 11, 112)]
    assert (11, S.FILLED) in orders(ev)


def test_oto_places_the_pending_order_when_the_working_order_fills(book):
    working = limit(10, BUY, 100, 3, account=ALICE)
    pending = limit(11, SELL, 120, 3, account=ALICE)
    ev = run(book, NewOrderList(1, ALICE, C.OTO, (working, pending)))
    assert orders(ev) == [(10, S.NEW)] and book.open_order(11) is None
    ev = run(book, limit(20, SELL, 100, 1))
    assert (10, S.PARTIALLY_FILLED) in orders(ev) and book.open_order(11) is None
    ev = run(book, limit(21, SELL, 100, 2))
    assert (10, S.FILLED) in orders(ev) and orders(ev)[-1] == (11, S.NEW)
    assert lists(ev) == [(1, LS.ALL_DONE, LO.ALL_DONE)]
    assert book.best_ask() == (120, 3)


def test_oto_working_order_that_fills_at_once_places_the_pending_one_in_the_same_command(book):
    book.process(limit(5, SELL, 100, 3))
    ev = run(book, NewOrderList(1, ALICE, C.OTO, (limit(10, BUY, 100, 3, account=ALICE),
                                                  limit(11, SELL, 130, 3, account=ALICE))))
    assert (10, S.FILLED) in orders(ev) and orders(ev)[-1] == (11, S.NEW)


def test_canceling_an_oto_pending_order_cancels_the_list(book):
    run(book, NewOrderList(1, ALICE, C.OTO, (limit(10, BUY, 100, 3, account=ALICE),
                                             limit(11, SELL, 130, 3, account=ALICE))))
    ev = run(book, Cancel(11, ALICE))
    assert orders(ev) == [(10, S.CANCELED), (11, S.CANCELED)]
    assert book.best_bid() is None


def test_otoco_working_then_an_oco_pair(book):
    trade_at(book, 100, 900)
    working = limit(10, BUY, 100, 4, account=ALICE)
    below = stop(11, SELL, T.STOP_LOSS, 80, 4)
    above = limit(12, SELL, 130, 4, account=ALICE, order_type=T.LIMIT_MAKER)
    ev = run(book, NewOrderList(1, ALICE, C.OTOCO, (working, below, above)))
    assert orders(ev) == [(10, S.NEW)]
    ev = run(book, limit(20, SELL, 100, 4))
    assert orders(ev)[-2:] == [(11, S.NEW), (12, S.NEW)] and not lists(ev)
    ev = run(book, limit(21, BUY, 130, 4))  # the take-profit leg fills: the stop-loss expires
    assert (12, S.FILLED) in orders(ev) and (11, S.EXPIRED) in orders(ev)
    assert lists(ev) == [(1, LS.ALL_DONE, LO.ALL_DONE)]


def test_list_state_is_in_the_snapshot_and_the_hash():
    ref, fast = ReferenceBook(), FastBook()
    for b in (ref, fast):
        trade_at(b, 100, 900)
        b.process(sell_oco())
    assert ref.state_hash() == fast.state_hash()
    assert ref.export_state()["lists"] == [[1, ALICE, C.OCO, [10, 11], []]]
    restored = FastBook.restore(ref.snapshot())
    ev = run(restored, Cancel(10, ALICE))
    assert orders(ev) == [(10, S.CANCELED), (11, S.CANCELED)]
    plain = ReferenceBook()
    trade_at(plain, 100, 900)
    assert plain.state_hash() != ref.state_hash()


def test_a_pending_order_the_book_refuses_when_placed_expires_with_its_list(book):
    """The market moved while the OTOCO waited: its pending take-profit would trigger at
    once when placed, so it EXPIRES (Binance's expiry reason REJECTED), not REJECTED,
    and so does its partner."""
    working = limit(10, BUY, 100, 4, account=ALICE)
    below = stop(11, SELL, T.STOP_LOSS, 80, 4)
    above = stop(12, SELL, T.TAKE_PROFIT, 99, 4)  # fires on last >= 99: the fill at 100 does
    run(book, NewOrderList(1, ALICE, C.OTOCO, (working, below, above)))
    ev = run(book, limit(21, SELL, 100, 4))
    assert (10, S.FILLED) in orders(ev)
    assert orders(ev)[-2:] == [(12, S.EXPIRED), (11, S.EXPIRED)]
    assert not [e for e in ev if e[0] == K.REJECTED]
    assert lists(ev) == [(1, LS.ALL_DONE, LO.ALL_DONE)]
    assert book.open_order(11) is None and book.open_order(12) is None


def test_a_trailing_stops_activation_marker_in_the_trigger_queue_is_left_to_release(book):
    """Order lists and trailing stops share the trigger queue: ending a list's triggered
    leg looks past a trailing stop's activation marker (it has no order id), and the
    lists' one-by-one release reports the marker as ACTIVATED, as the book's own run does."""
    from matcher.engine import fast, reference

    trade_at(book, 100, 1)
    trailing = NewOrder(5, BOB, SELL, T.STOP_LOSS, TimeInForce.GTC, 0, 3, stop_price=95, trailing_delta=100)
    assert orders(run(book, trailing)) == [(5, S.NEW)]
    if isinstance(book, FastBook):
        book._triggered.append(fast._Activation(book._orders[5], 95))
    else:
        book._triggered.append(reference._Activation(book.stops[0], 95))
    assert book._end_triggered(10, S.EXPIRED) == []  # no such triggered stop: the marker stays
    events: list = []
    assert book._release_one_triggered(events)
    assert [e[1:] for e in events] == [(K.ACTIVATED, 5, 95)]
    assert not book._release_one_triggered(events)
    book.validate_internal_state()
