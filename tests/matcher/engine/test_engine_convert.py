"""The Decimal boundary: requests to commands, events back to Decimal strings."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.errors import Reason
from chalicelib.symbols import load_catalog
from chalicelib.trading.codec import SymbolCodec
from matcher.engine import CancelReplace, EngineFilters, FastBook, NewOrder, OrderType, Side, StpMode, TimeInForce


@pytest.fixture(scope="module")
def codec() -> SymbolCodec:
    return SymbolCodec(load_catalog().symbol("BTCUSDT"))


def test_filters_from_spec(codec):
    f = EngineFilters.from_spec(codec.spec)
    assert f.min_price == 1 and f.max_price == 100_000_000           # 0.01 .. 1,000,000.00
    assert f.min_qty == 1 and f.max_qty == 900_000_000               # 0.00001 .. 9000
    assert f.market_max_qty == 10_000_000                            # 100 BTC
    assert f.min_notional == 5 * 10**7                               # 5 USDT in 1e-7 units
    assert f.notional_reason is Reason.FILTER_NOTIONAL


def test_limit_request_becomes_integer_command(codec):
    cmd = codec.new_order(order_id=7, account_id=3, side="buy", order_type="LIMIT",
                          time_in_force="GTC", price="50000.01", quantity="0.00120",
                          stp_mode="EXPIRE_MAKER")
    assert cmd == NewOrder(7, 3, Side.BUY, OrderType.LIMIT, TimeInForce.GTC, 5_000_001, 120,
                           stp_mode=StpMode.EXPIRE_MAKER)


@pytest.mark.parametrize("fields,reason", [
    (dict(price="50000.001", quantity="0.001"), Reason.FILTER_PRICE),        # not a tick
    (dict(price="2000000", quantity="0.001"), Reason.FILTER_PRICE),          # above max
    (dict(price="50000", quantity="0.000015"), Reason.FILTER_LOT_SIZE),      # not a step
    (dict(price="50000", quantity="9001"), Reason.FILTER_LOT_SIZE),          # above max
    (dict(price="1", quantity="0.001"), Reason.FILTER_NOTIONAL),             # 0.001 USDT
    (dict(price="-1", quantity="0.001"), Reason.INVALID_PRICE),
    (dict(price="50000", quantity="0"), Reason.INVALID_QUANTITY),
    (dict(price="abc", quantity="1"), Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    (dict(quantity="1"), Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    (dict(price="50000", quantity="0.001", time_in_force="GTX"), Reason.INVALID_TIF),
    (dict(price="50000", quantity="0.001", side="HOLD"), Reason.INVALID_SIDE),
    (dict(price="50000", quantity="0.001", order_type="ICEBERG"), Reason.INVALID_ORDER_TYPE),
    (dict(price="50000", quantity="0.001", stp_mode="DECREMENT"), Reason.INVALID_PARAMETER),
])
def test_refusals_are_distinct_reasons(codec, fields, reason):
    request = dict(order_id=1, account_id=1, side="BUY", order_type="LIMIT", time_in_force="GTC")
    request.update(fields)
    assert codec.new_order(**request) is reason


def test_market_requests(codec):
    by_qty = codec.new_order(order_id=1, account_id=1, side="SELL", order_type="MARKET",
                             quantity="0.5")
    assert by_qty.qty == 50_000 and by_qty.quote_qty == 0
    by_quote = codec.new_order(order_id=2, account_id=1, side="BUY", order_type="MARKET",
                               quote_order_qty="10.12345678")
    assert by_quote.quote_qty == 101_234_567  # floored to 1e-7 USDT units
    assert codec.new_order(order_id=3, account_id=1, side="BUY", order_type="MARKET",
                           quote_order_qty="10.123456789") is Reason.BAD_PRECISION
    assert codec.new_order(order_id=3, account_id=1, side="BUY", order_type="MARKET",
                           quantity="1", quote_order_qty="10") is Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
    assert codec.new_order(order_id=4, account_id=1, side="BUY", order_type="MARKET",
                           quantity="101") is Reason.FILTER_MARKET_LOT_SIZE


def test_stop_request(codec):
    cmd = codec.new_order(order_id=1, account_id=1, side="SELL", order_type="STOP_LOSS_LIMIT",
                          time_in_force="IOC", price="49000", stop_price="49500",
                          quantity="0.01")
    assert (cmd.order_type, cmd.tif, cmd.price, cmd.stop_price, cmd.qty) == (
        OrderType.STOP_LOSS_LIMIT, TimeInForce.IOC, 4_900_000, 4_950_000, 1000)


def test_amend_and_cancel_replace(codec):
    assert codec.amend(order_id=1, account_id=2, new_qty="0.0001").new_qty == 10
    assert codec.amend(order_id=1, account_id=2, new_qty="0.000001") is Reason.FILTER_LOT_SIZE
    cr = codec.cancel_replace(cancel_order_id=1, account_id=2, mode="ALLOW_FAILURE", order_id=5,
                              side="BUY", order_type="LIMIT", time_in_force="GTC",
                              price="100", quantity="0.1")
    assert isinstance(cr, CancelReplace) and cr.new_order.account_id == 2


def test_events_render_as_decimal_strings(codec):
    book = FastBook(codec.filters)
    sell = codec.new_order(order_id=1, account_id=1, side="SELL", order_type="LIMIT",
                           time_in_force="GTC", price="50000.00", quantity="0.01")
    buy = codec.new_order(order_id=2, account_id=2, side="BUY", order_type="LIMIT",
                          time_in_force="GTC", price="50000.00", quantity="0.004")
    book.process(sell)
    trade = next(codec.render(e) for e in book.process(buy) if e[1] == 1)
    assert trade["price"] == "50000.00" and trade["qty"] == "0.00400"
    assert Decimal(trade["quote_qty"]) == Decimal("200")
    assert trade["maker_side"] == "SELL"
    rejected = codec.render(book.process(sell)[0])  # order 1 still rests
    assert (rejected["code"], rejected["msg"]) == (-2010, "Duplicate order sent.")
