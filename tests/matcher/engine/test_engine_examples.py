"""Worked examples: every order type, time in force, STP mode, cancel, amend and
cancel-replace, on both books (the reference and the fast one must agree on each)."""
from __future__ import annotations

import pytest

from chalicelib.errors import Reason
from chalicelib.trading.events import digest
from matcher.engine import (
    Amend,
    Cancel,
    CancelReplace,
    CancelReplaceMode,
    EngineFilters,
    EventKind,
    FastBook,
    NewOrder,
    OrderStatus,
    OrderType,
    ReferenceBook,
    Side,
    StpMode,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL
K = EventKind
S = OrderStatus


@pytest.fixture(params=[ReferenceBook, FastBook], ids=["reference", "fast"])
def make_book(request):
    return request.param


def limit(oid, side, price, qty, tif=TimeInForce.GTC, account=None, stp=StpMode.NONE):
    return NewOrder(oid, oid if account is None else account, side, OrderType.LIMIT, tif,
                    price, qty, stp_mode=stp)


def market(oid, side, qty=0, quote=0, account=None, stp=StpMode.NONE):
    return NewOrder(oid, oid if account is None else account, side, OrderType.MARKET,
                    qty=qty, quote_qty=quote, stp_mode=stp)


def stop(oid, side, order_type, stop_price, qty, price=0, tif=TimeInForce.GTC, account=None):
    return NewOrder(oid, oid if account is None else account, side, order_type, tif, price, qty,
                    stop_price=stop_price)


def run(book, *commands):
    """Apply commands; return the events of the last one without sequence numbers."""
    events = []
    for c in commands:
        events = book.process(c)
        book.validate_internal_state()
    return [e[1:] for e in events]


def trades(events):
    """(price, qty, maker_order_id, taker_order_id) of each TRADE."""
    return [(e[2], e[3], e[6], e[7]) for e in events if e[0] == K.TRADE]


def statuses(events):
    return [(e[1], S(e[2]).name, e[3], e[4]) for e in events if e[0] == K.ORDER]


def levels(events):
    return [(e[1], e[2], e[3]) for e in events if e[0] == K.LEVEL]


def book_with_asks(make_book, *asks, start_id=100):
    book = make_book()
    for i, (price, qty) in enumerate(asks):
        run(book, limit(start_id + i, SELL, price, qty))
    return book


# -- LIMIT GTC --------------------------------------------------------------------
def test_limit_rests_and_is_reported(make_book):
    book = make_book()
    ev = run(book, limit(1, BUY, 99, 5))
    assert ev == [(K.ORDER, 1, S.NEW, 5, 0), (K.LEVEL, BUY, 99, 5)]
    run(book, limit(2, BUY, 99, 3), limit(3, SELL, 101, 4))
    assert book.best_bid() == (99, 8) and book.best_ask() == (101, 4)
    assert book.depth(10) == ([(99, 8)], [(101, 4)])
    assert book.resting_count() == 3


def test_partial_fills_across_several_levels(make_book):
    book = book_with_asks(make_book, (100, 5), (101, 5), (102, 5))
    ev = run(book, limit(1, BUY, 102, 12))
    assert trades(ev) == [(100, 5, 100, 1), (101, 5, 101, 1), (102, 2, 102, 1)]
    assert statuses(ev) == [(1, "NEW", 12, 0), (100, "FILLED", 0, 5), (101, "FILLED", 0, 5),
                            (102, "PARTIALLY_FILLED", 3, 2), (1, "FILLED", 0, 12)]
    assert levels(ev) == [(SELL, 100, 0), (SELL, 101, 0), (SELL, 102, 3)]
    quote = [e[4] for e in ev if e[0] == K.TRADE]
    assert quote == [500, 505, 204]
    assert all(e[5] == SELL for e in ev if e[0] == K.TRADE)  # maker side
    assert book.depth(5) == ([], [(102, 3)])


def test_time_priority_within_a_level(make_book):
    book = book_with_asks(make_book, (100, 5), (100, 5), (100, 5))
    ev = run(book, limit(1, BUY, 100, 7))
    assert trades(ev) == [(100, 5, 100, 1), (100, 2, 101, 1)]


def test_crossing_limit_rests_remainder_at_its_price(make_book):
    book = book_with_asks(make_book, (100, 5))
    ev = run(book, limit(1, BUY, 101, 8))
    assert statuses(ev)[-1] == (1, "PARTIALLY_FILLED", 3, 5)
    assert levels(ev) == [(SELL, 100, 0), (BUY, 101, 3)]
    assert book.best_bid() == (101, 3) and book.best_ask() is None


def test_trade_price_is_the_makers(make_book):
    book = make_book()
    run(book, limit(1, BUY, 100, 5))
    ev = run(book, limit(2, SELL, 90, 5))
    assert trades(ev) == [(100, 5, 1, 2)]
    assert book.last_price == 100


# -- IOC / FOK --------------------------------------------------------------------
def test_ioc_fills_what_it_can_and_expires_the_rest(make_book):
    book = book_with_asks(make_book, (100, 5), (102, 5))
    ev = run(book, limit(1, BUY, 101, 8, TimeInForce.IOC))
    assert trades(ev) == [(100, 5, 100, 1)]
    assert statuses(ev)[-1] == (1, "EXPIRED", 0, 5)
    assert book.open_order(1) is None and book.best_bid() is None


def test_ioc_that_does_not_cross_expires(make_book):
    book = book_with_asks(make_book, (100, 5))
    assert run(book, limit(1, BUY, 99, 8, TimeInForce.IOC)) == [
        (K.ORDER, 1, S.NEW, 8, 0), (K.ORDER, 1, S.EXPIRED, 0, 0)]


def test_fok_that_just_fits(make_book):
    book = book_with_asks(make_book, (100, 5), (101, 5), (103, 9))
    ev = run(book, limit(1, BUY, 101, 10, TimeInForce.FOK))
    assert sum(t[1] for t in trades(ev)) == 10
    assert statuses(ev)[-1] == (1, "FILLED", 0, 10)
    assert book.depth(5)[1] == [(103, 9)]


def test_fok_that_just_fails_leaves_the_book_alone(make_book):
    book = book_with_asks(make_book, (100, 5), (101, 5), (103, 9))
    before = book.depth(5)
    ev = run(book, limit(1, BUY, 101, 11, TimeInForce.FOK))
    assert ev == [(K.ORDER, 1, S.NEW, 11, 0), (K.ORDER, 1, S.EXPIRED, 0, 0)]
    assert book.depth(5) == before


def test_fok_counts_liquidity_as_self_trade_prevention_would(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 5, account=7), limit(2, SELL, 100, 5, account=8))
    take = lambda oid, stp: limit(oid, BUY, 100, 6, TimeInForce.FOK, account=7, stp=stp)  # noqa: E731
    # EXPIRE_TAKER would stop at order 1: not fillable
    assert statuses(run(book, take(3, StpMode.EXPIRE_TAKER)))[-1][1] == "EXPIRED"
    # EXPIRE_MAKER would expire order 1 and go on, but only 5 remain: not fillable
    assert statuses(run(book, take(4, StpMode.EXPIRE_MAKER)))[-1][1] == "EXPIRED"
    assert book.depth(5)[1] == [(100, 10)]
    # with NONE the account trades with itself
    assert statuses(run(book, take(5, StpMode.NONE)))[-1] == (5, "FILLED", 0, 6)


# -- MARKET -------------------------------------------------------------------------
def test_market_by_quantity_sweeps_and_expires_the_rest(make_book):
    book = book_with_asks(make_book, (100, 5), (105, 5))
    ev = run(book, market(1, BUY, qty=12))
    assert trades(ev) == [(100, 5, 100, 1), (105, 5, 101, 1)]
    assert statuses(ev)[-1] == (1, "EXPIRED", 0, 10)
    assert book.open_order(1) is None


def test_market_on_an_empty_side_expires(make_book):
    book = make_book()
    assert run(book, market(1, SELL, qty=3)) == [
        (K.ORDER, 1, S.NEW, 3, 0), (K.ORDER, 1, S.EXPIRED, 0, 0)]


def test_market_buy_by_quote_amount_rounds_down_to_lots(make_book):
    book = book_with_asks(make_book, (100, 3), (101, 10))
    ev = run(book, market(1, BUY, quote=550))
    # 3 lots at 100 (300), then 250 buys 2 lots at 101 (202); 48 left < 101
    assert trades(ev) == [(100, 3, 100, 1), (101, 2, 101, 1)]
    assert statuses(ev)[-1] == (1, "FILLED", 0, 5)
    assert book.depth(5)[1] == [(101, 8)]


def test_market_sell_by_quote_amount(make_book):
    book = make_book()
    run(book, limit(1, BUY, 50, 1), limit(2, BUY, 40, 10))
    ev = run(book, market(3, SELL, quote=170))
    # 1 lot at 50, then 120 sells 3 lots at 40; nothing left
    assert trades(ev) == [(50, 1, 1, 3), (40, 3, 2, 3)]
    assert statuses(ev)[-1] == (3, "FILLED", 0, 4)


def test_market_by_quote_expires_when_the_book_runs_out(make_book):
    book = book_with_asks(make_book, (100, 2))
    ev = run(book, market(1, BUY, quote=1000))
    assert statuses(ev)[-1] == (1, "EXPIRED", 0, 2)


def test_market_by_quote_buys_at_most_market_lot_size_max(make_book):
    """MARKET_LOT_SIZE bounds the quantity a quote amount buys (Binance: a quoteOrderQty
    order does not break the lot rules): the order stops at maxQty, FILLED, the rest of
    its quote unspent."""
    book = make_book(EngineFilters(market_max_qty=4))
    for i, (price, qty) in enumerate(((100, 3), (101, 10))):
        run(book, limit(100 + i, SELL, price, qty))
    ev = run(book, market(1, BUY, quote=1000))
    assert trades(ev) == [(100, 3, 100, 1), (101, 1, 101, 1)]
    assert statuses(ev)[-1] == (1, "FILLED", 0, 4)
    assert book.depth(5)[1] == [(101, 9)]
    # a sell by quote likewise
    run(book, limit(3, BUY, 50, 10))
    ev = run(book, market(4, SELL, quote=1000))
    assert trades(ev) == [(50, 4, 3, 4)]
    assert statuses(ev)[-1] == (4, "FILLED", 0, 4)


# -- LIMIT_MAKER --------------------------------------------------------------------
def test_limit_maker_rests_when_it_would_not_take(make_book):
    book = book_with_asks(make_book, (100, 5))
    ev = run(book, NewOrder(1, 1, BUY, OrderType.LIMIT_MAKER, price=99, qty=2))
    assert ev == [(K.ORDER, 1, S.NEW, 2, 0), (K.LEVEL, BUY, 99, 2)]


def test_limit_maker_that_would_take_is_rejected(make_book):
    book = book_with_asks(make_book, (100, 5))
    ev = run(book, NewOrder(1, 1, BUY, OrderType.LIMIT_MAKER, price=100, qty=2))
    assert ev == [(K.REJECTED, 1, Reason.WOULD_TAKE)]
    assert Reason.WOULD_TAKE.code == -2010
    assert Reason.WOULD_TAKE.msg == "Order would immediately match and take."
    assert book.depth(5) == ([], [(100, 5)])


# -- stops --------------------------------------------------------------------------
def test_stop_loss_sell_triggers_on_a_fall(make_book):
    book = make_book()
    run(book, limit(1, BUY, 100, 1), limit(2, BUY, 95, 10), limit(3, SELL, 100, 1))
    assert book.last_price == 100
    ev = run(book, stop(4, SELL, OrderType.STOP_LOSS, 98, 4))
    assert ev == [(K.ORDER, 4, S.NEW, 4, 0)]
    assert book.open_order(4) == (SELL, 0, 4, 4, True)
    run(book, limit(5, BUY, 98, 1))
    ev = run(book, limit(6, SELL, 98, 1))  # prints 98: the stop fires
    kinds = [e[0] for e in ev]
    assert kinds.index(K.TRIGGERED) > kinds.index(K.TRADE)
    assert (K.TRIGGERED, 4, 98) in ev
    assert trades(ev)[-1] == (95, 4, 2, 4)
    assert statuses(ev)[-1] == (4, "FILLED", 0, 4)


def test_stop_loss_limit_buy_rests_after_trigger(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 1), limit(2, BUY, 100, 1))  # last = 100
    run(book, stop(3, BUY, OrderType.STOP_LOSS_LIMIT, 102, 5, price=103))
    run(book, limit(4, SELL, 102, 2), limit(5, SELL, 104, 9))
    ev = run(book, limit(6, BUY, 102, 1))  # prints 102: fires, buys 1 at 102, rests 4 at 103
    assert (K.TRIGGERED, 3, 102) in ev
    assert trades(ev) == [(102, 1, 4, 6), (102, 1, 4, 3)]
    assert statuses(ev)[-1] == (3, "PARTIALLY_FILLED", 4, 1)
    assert book.best_bid() == (103, 4)


def test_take_profit_family(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 1), limit(2, BUY, 100, 1))  # last = 100
    # buy take-profit fires on a fall, sell take-profit on a rise
    run(book, stop(3, BUY, OrderType.TAKE_PROFIT, 97, 1),
        stop(4, SELL, OrderType.TAKE_PROFIT_LIMIT, 103, 1, price=103, tif=TimeInForce.GTC))
    run(book, limit(5, SELL, 110, 5), limit(6, BUY, 90, 5))
    run(book, limit(7, SELL, 103, 1))
    ev = run(book, limit(8, BUY, 103, 1))  # prints 103
    assert (K.TRIGGERED, 4, 103) in ev and book.open_order(4)[4] is False
    assert book.best_ask() == (103, 1)
    run(book, limit(9, BUY, 97, 1))
    ev = run(book, limit(10, SELL, 97, 1))  # prints 97: the buy take-profit fires
    assert (K.TRIGGERED, 3, 97) in ev
    assert trades(ev)[-1] == (103, 1, 4, 3)


def test_stop_that_would_trigger_at_once_is_rejected(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 1), limit(2, BUY, 100, 1))
    ev = run(book, stop(3, SELL, OrderType.STOP_LOSS, 100, 1))
    assert ev == [(K.REJECTED, 3, Reason.WOULD_TRIGGER)]


def test_stops_cascade_in_trigger_order(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 1), limit(2, BUY, 100, 1))          # last = 100
    run(book, limit(10, BUY, 99, 1), limit(11, BUY, 98, 1), limit(12, BUY, 97, 1),
        limit(13, BUY, 96, 1))
    run(book, stop(21, SELL, OrderType.STOP_LOSS, 98, 1),            # fires at 98
        stop(20, SELL, OrderType.STOP_LOSS, 99, 1),                  # fires at 99
        stop(22, SELL, OrderType.STOP_LOSS, 98, 1),                  # fires at 98, after 21
        stop(23, SELL, OrderType.STOP_LOSS, 95, 1))                  # never
    ev = run(book, limit(30, SELL, 99, 1))  # prints 99 -> 20 sells at 98 -> 21, 22 ...
    fired = [e[1] for e in ev if e[0] == K.TRIGGERED]
    assert fired == [20, 21, 22]
    assert trades(ev) == [(99, 1, 10, 30), (98, 1, 11, 20), (97, 1, 12, 21), (96, 1, 13, 22)]
    assert book.open_order(23) is not None and book.last_price == 96


def test_stops_fired_by_one_trade_go_in_acceptance_order(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 1), limit(2, BUY, 100, 1))
    run(book, stop(5, BUY, OrderType.STOP_LOSS_LIMIT, 102, 1, price=90),
        stop(4, BUY, OrderType.STOP_LOSS_LIMIT, 101, 1, price=90))
    run(book, limit(6, SELL, 102, 1))
    ev = run(book, limit(7, BUY, 102, 1))
    assert [e[1] for e in ev if e[0] == K.TRIGGERED] == [5, 4]


def test_stop_triggers_on_a_price_passed_through_mid_sweep(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 1), limit(2, BUY, 100, 1))
    run(book, stop(3, SELL, OrderType.STOP_LOSS, 99, 1))
    run(book, limit(4, BUY, 99, 1), limit(5, BUY, 98, 1), limit(6, BUY, 50, 5))
    # one sell sweeps 99 then 98: the stop at 99 fires although the last price is 98
    ev = run(book, limit(7, SELL, 98, 2))
    assert [e[1] for e in ev if e[0] == K.TRIGGERED] == [3]


def test_cancel_a_pending_stop(make_book):
    book = make_book()
    run(book, stop(1, BUY, OrderType.STOP_LOSS, 105, 1))
    assert run(book, Cancel(1, 1)) == [(K.ORDER, 1, S.CANCELED, 0, 0)]
    assert book.open_order(1) is None


# -- cancel, amend, cancel-replace ----------------------------------------------------
def test_cancel(make_book):
    book = make_book()
    run(book, limit(1, BUY, 99, 5), limit(2, BUY, 99, 3))
    assert run(book, Cancel(1, 1)) == [(K.ORDER, 1, S.CANCELED, 0, 0), (K.LEVEL, BUY, 99, 3)]
    assert run(book, Cancel(1, 1)) == [(K.REJECTED, 1, Reason.CANCEL_REJECTED)]
    assert run(book, Cancel(2, 999)) == [(K.REJECTED, 2, Reason.CANCEL_REJECTED)]
    assert run(book, Cancel(2, 2)) == [(K.ORDER, 2, S.CANCELED, 0, 0), (K.LEVEL, BUY, 99, 0)]
    assert book.best_bid() is None and book.resting_count() == 0


def test_cancel_reports_what_had_executed(make_book):
    book = make_book()
    run(book, limit(1, BUY, 99, 5), limit(2, SELL, 99, 2))
    assert run(book, Cancel(1, 1))[0] == (K.ORDER, 1, S.CANCELED, 0, 2)


def test_amend_lowers_quantity_and_keeps_priority(make_book):
    book = book_with_asks(make_book, (100, 5), (100, 5))
    assert run(book, Amend(100, 100, 2)) == [(K.AMENDED, 100, 2, 0), (K.LEVEL, SELL, 100, 7)]
    ev = run(book, limit(1, BUY, 100, 3))
    assert trades(ev) == [(100, 2, 100, 1), (100, 1, 101, 1)]


def test_amend_refusals(make_book):
    book = book_with_asks(make_book, (100, 5))
    assert run(book, Amend(100, 100, 5)) == [(K.REJECTED, 100, Reason.ORDER_AMEND_QTY_INCREASE)]
    assert run(book, Amend(100, 100, 0)) == [(K.REJECTED, 100, Reason.INVALID_QUANTITY)]
    assert run(book, Amend(100, 1, 2)) == [(K.REJECTED, 100, Reason.NO_SUCH_ORDER)]
    assert run(book, Amend(7, 7, 2)) == [(K.REJECTED, 7, Reason.NO_SUCH_ORDER)]


def test_amend_to_what_executed_fills_the_order(make_book):
    book = book_with_asks(make_book, (100, 5))
    run(book, limit(1, BUY, 100, 2))
    assert run(book, Amend(100, 100, 2)) == [
        (K.AMENDED, 100, 0, 2), (K.ORDER, 100, S.FILLED, 0, 2), (K.LEVEL, SELL, 100, 0)]
    assert book.best_ask() is None


def test_cancel_replace(make_book):
    book = make_book()
    run(book, limit(1, BUY, 99, 5))
    ev = run(book, CancelReplace(1, 1, limit(2, BUY, 98, 4, account=1)))
    assert statuses(ev) == [(1, "CANCELED", 0, 0), (2, "NEW", 4, 0)]
    assert book.depth(5)[0] == [(98, 4)]


def test_cancel_replace_stop_on_failure(make_book):
    book = make_book()
    ev = run(book, CancelReplace(1, 1, limit(2, BUY, 98, 4, account=1)))
    assert ev == [(K.REJECTED, 1, Reason.CANCEL_REJECTED), (K.REJECTED, 2, Reason.NEW_ORDER_REJECTED)]
    assert book.best_bid() is None


def test_cancel_replace_allow_failure(make_book):
    book = make_book()
    ev = run(book, CancelReplace(1, 1, limit(2, BUY, 98, 4, account=1),
                                 CancelReplaceMode.ALLOW_FAILURE))
    assert ev[0] == (K.REJECTED, 1, Reason.CANCEL_REJECTED)
    assert book.best_bid() == (98, 4)


def test_cancel_replace_with_a_bad_new_order_keeps_the_old_one(make_book):
    book = make_book(EngineFilters(max_price=1000))
    run(book, limit(1, BUY, 99, 5))
    ev = run(book, CancelReplace(1, 1, limit(2, BUY, 5000, 4, account=1)))
    assert ev == [(K.REJECTED, 2, Reason.FILTER_PRICE)]
    assert book.best_bid() == (99, 5)


# -- self-trade prevention ----------------------------------------------------------
def stp_book(make_book):
    book = make_book()
    run(book, limit(1, SELL, 100, 2, account=5), limit(2, SELL, 100, 3, account=7),
        limit(3, SELL, 101, 4, account=5))
    return book


def test_stp_none_trades_with_itself(make_book):
    book = stp_book(make_book)
    ev = run(book, limit(9, BUY, 100, 4, account=7, stp=StpMode.NONE))
    assert trades(ev) == [(100, 2, 1, 9), (100, 2, 2, 9)]


def test_stp_expire_taker(make_book):
    book = stp_book(make_book)
    ev = run(book, limit(9, BUY, 101, 9, account=7, stp=StpMode.EXPIRE_TAKER))
    assert trades(ev) == [(100, 2, 1, 9)]
    assert (K.PREVENTED, 2, 9, 100, 3) in ev
    assert statuses(ev)[-1] == (9, "EXPIRED_IN_MATCH", 0, 2)
    assert book.depth(5)[1] == [(100, 3), (101, 4)] and book.best_bid() is None


def test_stp_expire_maker(make_book):
    book = stp_book(make_book)
    ev = run(book, limit(9, BUY, 101, 9, account=7, stp=StpMode.EXPIRE_MAKER))
    assert trades(ev) == [(100, 2, 1, 9), (101, 4, 3, 9)]
    assert (2, "EXPIRED_IN_MATCH", 0, 0) in statuses(ev)
    assert statuses(ev)[-1] == (9, "PARTIALLY_FILLED", 3, 6)
    assert book.depth(5) == ([(101, 3)], [])


def test_stp_expire_both(make_book):
    book = stp_book(make_book)
    ev = run(book, limit(9, BUY, 101, 9, account=7, stp=StpMode.EXPIRE_BOTH))
    assert trades(ev) == [(100, 2, 1, 9)]
    assert statuses(ev)[-2:] == [(2, "EXPIRED_IN_MATCH", 0, 0), (9, "EXPIRED_IN_MATCH", 0, 2)]
    assert book.depth(5) == ([], [(101, 4)])


# -- filters --------------------------------------------------------------------------
FILTERS = EngineFilters(min_price=10, max_price=1000, min_qty=2, max_qty=100,
                        market_min_qty=1, market_max_qty=50, min_notional=100,
                        max_notional=50_000)


@pytest.mark.parametrize("command,reason", [
    (limit(1, BUY, 9, 20), Reason.FILTER_PRICE),
    (limit(1, BUY, 1001, 20), Reason.FILTER_PRICE),
    (limit(1, BUY, 50, 1), Reason.FILTER_LOT_SIZE),
    (limit(1, BUY, 50, 101), Reason.FILTER_LOT_SIZE),
    (limit(1, BUY, 10, 9), Reason.FILTER_NOTIONAL),
    (limit(1, BUY, 1000, 100), Reason.FILTER_NOTIONAL),
    (market(1, BUY, qty=51), Reason.FILTER_MARKET_LOT_SIZE),
    (market(1, BUY, qty=1), Reason.FILTER_NOTIONAL),      # 1 lot at best ask 50
    (market(1, BUY, quote=99), Reason.FILTER_NOTIONAL),
    (stop(1, BUY, OrderType.STOP_LOSS, 2000, 5), Reason.FILTER_PRICE),
    (NewOrder(1, 1, 5, price=50, qty=5), Reason.INVALID_SIDE),
    (NewOrder(1, 1, BUY, 17, price=50, qty=5), Reason.INVALID_ORDER_TYPE),
    (NewOrder(1, 1, BUY, OrderType.LIMIT, 9, price=50, qty=5), Reason.INVALID_TIF),
    (NewOrder(1, 1, BUY, OrderType.LIMIT, price=50, qty=5, stp_mode=9), Reason.INVALID_PARAMETER),
])
def test_each_filter_failure_is_its_own_reason(make_book, command, reason):
    book = make_book(FILTERS)
    run(book, limit(50, SELL, 50, 20))
    assert run(book, command) == [(K.REJECTED, 1, reason)]
    assert book.depth(5) == ([], [(50, 20)])


def test_filter_reasons_map_to_binance_codes():
    for r in (Reason.FILTER_PRICE, Reason.FILTER_LOT_SIZE, Reason.FILTER_MARKET_LOT_SIZE,
              Reason.FILTER_MIN_NOTIONAL, Reason.FILTER_NOTIONAL):
        assert r.code == -1013 and r.msg.startswith("Filter failure: ")


def test_duplicate_order_id_is_rejected(make_book):
    book = make_book()
    run(book, limit(1, BUY, 99, 5))
    assert run(book, limit(1, BUY, 98, 5)) == [(K.REJECTED, 1, Reason.DUPLICATE_ORDER)]


# -- sequence numbers, trade ids, snapshots --------------------------------------------
def test_sequence_numbers_and_trade_ids_are_consecutive(make_book):
    book = make_book()
    seen = []
    for c in (limit(1, SELL, 100, 5), limit(2, SELL, 101, 5), Cancel(9, 9),
              limit(3, BUY, 101, 7), market(4, SELL, qty=1)):
        seen.extend(book.process(c))
    assert [e[0] for e in seen] == list(range(1, len(seen) + 1))
    assert [e[2] for e in seen if e[1] == K.TRADE] == [1, 2]


def test_snapshot_restores_into_either_book_and_replays_identically():
    first = [limit(1, SELL, 100, 5), limit(2, SELL, 101, 5, account=3),
             stop(3, BUY, OrderType.STOP_LOSS_LIMIT, 101, 2, price=102), limit(4, BUY, 99, 1),
             limit(5, BUY, 100, 1)]
    rest = [limit(6, BUY, 101, 6), Amend(4, 4, 1), Cancel(2, 3), market(7, SELL, qty=3)]
    whole = ReferenceBook()
    expected = [e for c in first + rest for e in whole.process(c)]
    for source in (ReferenceBook, FastBook):
        book = source()
        for c in first:
            book.process(c)
        blob = book.snapshot()
        assert blob[:5] == b"MXEB\x01"
        for target in (ReferenceBook, FastBook):
            restored = target.restore(blob)
            assert restored.state_hash() == book.state_hash()
            restored.validate_internal_state()
            tail = [e for c in rest for e in restored.process(c)]
            assert digest(tail) == digest(expected[len(expected) - len(tail):])
            assert restored.state_hash() == whole.state_hash()


def test_snapshot_refuses_other_data():
    with pytest.raises(ValueError):
        FastBook.restore(b"nope")
    with pytest.raises(ValueError):
        FastBook.restore(b"MXEB\x09" + b"x")
