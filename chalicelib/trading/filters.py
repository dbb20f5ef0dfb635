"""Binance symbol filters in the engine's integer units, and the one readable check.

The boundary (:mod:`.convert`) rejects what only Decimals can show (a price that
is not a multiple of tickSize, too many decimals).  Everything else -- ranges and
notional -- is checked here in ints, *before the book is touched*, so that the
rules hold whoever builds the command (the API, a replay, a test).
:func:`check_new_order` is the plain statement of the rules; the fast book inlines
the same checks for LIMIT orders and is tested against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from chalicelib.errors import Reason

from .commands import NewOrder
from .types import LIMIT_PRICED_TYPES, STOP_TYPES, OrderType, Side, StpMode, TimeInForce, triggers_upward

if TYPE_CHECKING:
    from chalicelib.symbols import SymbolSpec

UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True)
class EngineFilters:
    """PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE and NOTIONAL in ticks, lots and
    notional units (tick * lot).  Bounds are inclusive; a 0 in the SymbolSpec
    ("filter off" on Binance) becomes an open bound."""

    min_price: int = 1
    max_price: int = UNLIMITED
    min_qty: int = 1
    max_qty: int = UNLIMITED
    market_min_qty: int = 1
    market_max_qty: int = UNLIMITED
    min_notional: int = 0
    max_notional: int = UNLIMITED
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    notional_reason: Reason = Reason.FILTER_NOTIONAL
    iceberg_parts: int = UNLIMITED   # ICEBERG_PARTS: ceil(qty / icebergQty) at most this
    min_trailing_above: int = 1      # TRAILING_DELTA, BIPS (see chalicelib.symbols.TrailingDelta)
    max_trailing_above: int = UNLIMITED
    min_trailing_below: int = 1
    max_trailing_below: int = UNLIMITED

    @classmethod
    def from_spec(cls, spec: SymbolSpec) -> EngineFilters:
        """Precompute the integer bounds of a :class:`chalicelib.symbols.SymbolSpec`.

        Lower bounds round up and upper bounds round down, so an integer value
        passes exactly when its Decimal value passes."""
        tick, step = spec.tick_size, spec.step_size
        unit = tick * step

        def lo(v: Decimal, u: Decimal) -> int:
            return max(1, int((v / u).to_integral_value(ROUND_CEILING))) if v > 0 else 1

        def hi(v: Decimal, u: Decimal) -> int:
            return int((v / u).to_integral_value(ROUND_FLOOR)) if v > 0 else UNLIMITED

        has_max_notional = spec.max_notional > 0
        return cls(
            min_price=lo(spec.min_price, tick), max_price=hi(spec.max_price, tick),
            min_qty=lo(spec.min_qty, step), max_qty=hi(spec.max_qty, step),
            market_min_qty=lo(spec.market_min_qty, step),
            market_max_qty=hi(spec.market_max_qty, step),
            min_notional=lo(spec.min_notional, unit) if spec.min_notional > 0 else 0,
            max_notional=hi(spec.max_notional, unit),
            apply_min_to_market=spec.apply_min_to_market,
            apply_max_to_market=spec.apply_max_to_market,
            notional_reason=(Reason.FILTER_NOTIONAL if has_max_notional
                             else Reason.FILTER_MIN_NOTIONAL),
            iceberg_parts=spec.iceberg_parts if spec.iceberg_parts > 0 else UNLIMITED,
            min_trailing_above=max(1, spec.trailing_delta.min_above),
            max_trailing_above=spec.trailing_delta.max_above or UNLIMITED,
            min_trailing_below=max(1, spec.trailing_delta.min_below),
            max_trailing_below=spec.trailing_delta.max_below or UNLIMITED,
        )


NO_FILTERS = EngineFilters()

_SIDES = frozenset(Side)
_TYPES = frozenset(OrderType)
_TIFS = frozenset(TimeInForce)
_STP = frozenset(StpMode)
_MARKET_QTY_TYPES = frozenset({OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})


def check_new_order(f: EngineFilters, o: NewOrder, best_opposite: int | None,
                    last_price: int | None) -> Reason | None:
    """The reason ``o`` must be rejected, or None.  Reads the book's best opposite
    price (for the notional of a MARKET order) and the last trade price (a stop that
    would trigger at once is refused), never changes it.

    Icebergs (``iceberg_qty``): a LIMIT-priced GTC order only (else -1014), the slice
    on the LOT_SIZE grid's range and below the quantity, ICEBERG_PARTS.  Trailing
    stops (``trailing_delta``): stop types only, TRAILING_DELTA's range for the
    direction; the stop price is optional for them (0 = activate at once).

    MARKET notional: Binance uses a 5-minute average price; the engine has no clock,
    so it uses the best opposite price at the moment the order is sequenced (no
    check when that side is empty -- such an order expires unfilled anyway).  A
    stop-market's notional uses its stop price (a trailing one without a stop price:
    the last price, when there is one); :func:`check_triggered` checks again when it
    fires.
    """
    if o.side not in _SIDES:
        return Reason.INVALID_SIDE
    if o.order_type not in _TYPES:
        return Reason.INVALID_ORDER_TYPE
    if o.tif not in _TIFS:
        return Reason.INVALID_TIF
    if o.stp_mode not in _STP:
        return Reason.INVALID_PARAMETER
    t = o.order_type
    if t in LIMIT_PRICED_TYPES and not f.min_price <= o.price <= f.max_price:
        return Reason.FILTER_PRICE
    if t in STOP_TYPES and not f.min_price <= o.stop_price <= f.max_price and not (
            o.trailing_delta and o.stop_price == 0):
        return Reason.FILTER_PRICE
    if o.iceberg_qty or o.trailing_delta:
        reason = _check_iceberg_trailing(f, o)
        if reason is not None:
            return reason
    if t == OrderType.MARKET and o.quote_qty:
        if o.qty:
            return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
        if f.apply_min_to_market and o.quote_qty < f.min_notional or o.quote_qty <= 0:
            return f.notional_reason
        if f.apply_max_to_market and o.quote_qty > f.max_notional:
            return f.notional_reason
        return None
    if t in _MARKET_QTY_TYPES:
        if not f.market_min_qty <= o.qty <= f.market_max_qty:
            return Reason.FILTER_MARKET_LOT_SIZE
        ref = o.stop_price or last_price if t != OrderType.MARKET else best_opposite
        if ref:
            notional = ref * o.qty
            if f.apply_min_to_market and notional < f.min_notional:
                return f.notional_reason
            if f.apply_max_to_market and notional > f.max_notional:
                return f.notional_reason
    else:
        if not f.min_qty <= o.qty <= f.max_qty:
            return Reason.FILTER_LOT_SIZE
        if not f.min_notional <= o.price * o.qty <= f.max_notional:
            return f.notional_reason
    if t in STOP_TYPES and last_price is not None and o.stop_price:
        up = triggers_upward(t, o.side)
        if (last_price >= o.stop_price) if up else (last_price <= o.stop_price):
            return Reason.WOULD_TRIGGER
    return None


def _check_iceberg_trailing(f: EngineFilters, o: NewOrder) -> Reason | None:
    """The iceberg and trailing-stop rules of :func:`check_new_order`."""
    t = o.order_type
    if o.iceberg_qty:
        if t not in LIMIT_PRICED_TYPES or (t != OrderType.LIMIT_MAKER and o.tif != TimeInForce.GTC):
            return Reason.UNSUPPORTED_OPERATION
        if not f.min_qty <= o.iceberg_qty <= f.max_qty:
            return Reason.FILTER_LOT_SIZE
        if o.iceberg_qty >= o.qty:
            return Reason.ICEBERG_QTY_EXCEEDS_QTY
        if -(-o.qty // o.iceberg_qty) > f.iceberg_parts:
            return Reason.FILTER_ICEBERG_PARTS
    if o.trailing_delta:
        if t not in STOP_TYPES:
            return Reason.UNSUPPORTED_OPERATION
        if triggers_upward(t, o.side):
            low, high = f.min_trailing_above, f.max_trailing_above
        else:
            low, high = f.min_trailing_below, f.max_trailing_below
        if not low <= o.trailing_delta <= high:
            return Reason.FILTER_TRAILING_DELTA
    return None


def check_triggered(f: EngineFilters, order_type: int, qty: int, price: int,
                    best_opposite: int | None) -> Reason | None:
    """The filters a stop's order is checked against again when it fires (None: it
    goes on to match; else it expires unfilled).  What a stop becomes was checked at
    entry, but its quantity may have been amended since, and a stop-market's notional
    depends on the book when it fires: a STOP_LOSS / TAKE_PROFIT is checked as a
    MARKET order then (MARKET_LOT_SIZE, and NOTIONAL at the best opposite price, none
    when that side is empty), a *_LIMIT one as a LIMIT order (PRICE_FILTER, LOT_SIZE,
    NOTIONAL at its price).  Percent-price filters need a clock and are not checked."""
    if order_type in _MARKET_QTY_TYPES:
        if not f.market_min_qty <= qty <= f.market_max_qty:
            return Reason.FILTER_MARKET_LOT_SIZE
        if best_opposite is not None:
            notional = best_opposite * qty
            if (f.apply_min_to_market and notional < f.min_notional
                    or f.apply_max_to_market and notional > f.max_notional):
                return f.notional_reason
        return None
    if not f.min_price <= price <= f.max_price:
        return Reason.FILTER_PRICE
    if not f.min_qty <= qty <= f.max_qty:
        return Reason.FILTER_LOT_SIZE
    if not f.min_notional <= price * qty <= f.max_notional:
        return f.notional_reason
    return None
