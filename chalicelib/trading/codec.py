"""The boundary between Binance-style Decimal requests and the integer engine.

:class:`SymbolCodec` turns request fields (strings or Decimals, Binance names) into
engine commands, refusing what only the Decimal form can show -- a price that is
not a multiple of tickSize, a quantity that is not a multiple of stepSize, an
unknown enum name -- with the same :class:`Reason` members the engine uses; and
renders events back with Decimal strings at the symbol's precisions.  The range
and notional filters are the engine's (:mod:`.filters`), computed once per symbol.

Units: price ticks (price / tickSize), quantity lots (qty / stepSize) and quote
*notional units* (quote / (tickSize * stepSize)).  A quoteOrderQty finer than a
notional unit is floored: no trade can spend less than one unit, so the floored
part could never execute.
"""
from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.errors import Reason

from .commands import Amend, Cancel, CancelReplace, NewOrder
from .events import FIELDS, Event, EventKind
from .filters import EngineFilters, check_new_order
from .types import LIMIT_PRICED_TYPES, STOP_TYPES, CancelReplaceMode, OrderStatus, OrderType, Side, StpMode, TimeInForce

if TYPE_CHECKING:
    from chalicelib.symbols import SymbolSpec

_QTY_TYPES_MARKET = (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)
E = TypeVar("E", bound=Enum)


def _enum(enum_cls: type[E], name: object, reason: Reason, default: E | None = None) -> E | Reason:
    if name is None or name == "":
        if default is not None:
            return default
        return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
    try:
        return enum_cls[str(name).upper()]
    except KeyError:
        return reason


def _decimal(value: object) -> Decimal | None | Reason:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
    if not d.is_finite():
        return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
    return d



def _ticks(spec: SymbolSpec, price: Decimal) -> int | Reason:
    """A positive price on the symbol's tick grid, in ticks, or why not."""
    if price <= 0:
        return Reason.INVALID_PRICE
    ticks = spec.price_to_ticks(price)
    return Reason.FILTER_PRICE if ticks is None else ticks

class SymbolCodec:
    """Decimal <-> integer conversions and boundary checks for one symbol."""

    def __init__(self, spec: SymbolSpec):
        self.spec = spec
        self.filters = EngineFilters.from_spec(spec)
        self.notional_unit = spec.tick_size * spec.step_size

    # -- requests -> commands -----------------------------------------------------------
    def new_order(self, *, order_id: int, account_id: int, side: object, order_type: object,
                  time_in_force: object = None, price: object = None, quantity: object = None,
                  quote_order_qty: object = None, stop_price: object = None,
                  stp_mode: object = None, iceberg_qty: object = None,
                  trailing_delta: object = None) -> NewOrder | Reason:
        """A :class:`NewOrder` from Binance request fields, or the Reason it is refused.

        The engine's range/notional filters are applied too (as :meth:`check`), so a
        request refused here would also be refused by the engine; the MARKET
        notional, which needs the book, is left to the engine."""
        side_v = _enum(Side, side, Reason.INVALID_SIDE)
        if isinstance(side_v, Reason):
            return side_v
        type_v = _enum(OrderType, order_type, Reason.INVALID_ORDER_TYPE)
        if isinstance(type_v, Reason):
            return type_v
        stp_v = _enum(StpMode, stp_mode, Reason.INVALID_PARAMETER, StpMode.NONE)
        if isinstance(stp_v, Reason):
            return stp_v
        needs_tif = type_v in (OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT,
                               OrderType.TAKE_PROFIT_LIMIT)
        tif_v = TimeInForce.GTC
        if needs_tif:
            tif = _enum(TimeInForce, time_in_force, Reason.INVALID_TIF)
            if isinstance(tif, Reason):
                return tif
            tif_v = tif

        values: dict[str, Decimal | None] = {}
        for name, raw in (("price", price), ("quantity", quantity),
                          ("quote_order_qty", quote_order_qty), ("stop_price", stop_price),
                          ("iceberg_qty", iceberg_qty)):
            d = _decimal(raw)
            if isinstance(d, Reason):
                return d
            values[name] = d
        p, q, qq, sp, iq = (values["price"], values["quantity"], values["quote_order_qty"],
                            values["stop_price"], values["iceberg_qty"])
        delta = 0
        if trailing_delta is not None and trailing_delta != "":
            try:
                delta = int(str(trailing_delta))
            except ValueError:
                return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
            if delta <= 0:
                return Reason.FILTER_TRAILING_DELTA

        # mandatory parameters per type
        if type_v in LIMIT_PRICED_TYPES and p is None:
            return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
        if type_v in STOP_TYPES and sp is None and not delta:  # a trailing stop may omit it
            return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
        if type_v == OrderType.MARKET:
            if (q is None) == (qq is None):
                return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
        elif q is None:
            return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED

        spec = self.spec
        price_t = stop_t = qty_l = quote_u = 0
        if type_v in LIMIT_PRICED_TYPES and p is not None:  # (p is mandatory for these: see above)
            ticks = _ticks(spec, p)
            if isinstance(ticks, Reason):
                return ticks
            price_t = ticks
        if type_v in STOP_TYPES and sp is not None:
            ticks = _ticks(spec, sp)
            if isinstance(ticks, Reason):
                return ticks
            stop_t = ticks
        if q is not None:
            if q <= 0:
                return Reason.INVALID_QUANTITY
            lots = spec.qty_to_lots(q)
            if lots is None:
                return (Reason.FILTER_MARKET_LOT_SIZE if type_v in _QTY_TYPES_MARKET
                        else Reason.FILTER_LOT_SIZE)
            qty_l = lots
        if qq is not None:
            if qq <= 0:
                return Reason.INVALID_QUANTITY
            if qq != qq.quantize(Decimal(1).scaleb(-spec.quote_precision), ROUND_FLOOR):
                return Reason.BAD_PRECISION
            quote_u = int((qq / self.notional_unit).to_integral_value(ROUND_FLOOR))
        iceberg_l = 0
        if iq is not None and iq != 0:  # icebergQty=0: not an iceberg
            if iq < 0:
                return Reason.INVALID_QUANTITY
            lots = spec.qty_to_lots(iq)
            if lots is None:
                return Reason.FILTER_LOT_SIZE
            iceberg_l = lots
        cmd = NewOrder(order_id, account_id, side_v, type_v, tif_v, price_t, qty_l, quote_u,
                       stop_t, stp_v, iceberg_l, delta)
        reason = self.check(cmd)
        return cmd if reason is None else reason

    def check(self, cmd: NewOrder) -> Reason | None:
        """The engine's filters that do not need the book (all but a MARKET order's
        notional and a stop's immediate trigger)."""
        return check_new_order(self.filters, cmd, None, None)

    def cancel(self, *, order_id: int, account_id: int) -> Cancel:
        return Cancel(order_id, account_id)

    def amend(self, *, order_id: int, account_id: int, new_qty: object) -> Amend | Reason:
        d = _decimal(new_qty)
        if d is None or isinstance(d, Reason):
            return Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED
        if d <= 0:
            return Reason.INVALID_QUANTITY
        lots = self.spec.qty_to_lots(d)
        if lots is None:
            return Reason.FILTER_LOT_SIZE
        return Amend(order_id, account_id, lots)

    def cancel_replace(self, *, cancel_order_id: int, account_id: int, mode: object = "STOP_ON_FAILURE",
                       **new_order: Any) -> CancelReplace | Reason:
        mode_v = _enum(CancelReplaceMode, mode, Reason.INVALID_PARAMETER)
        if isinstance(mode_v, Reason):
            return mode_v
        new = self.new_order(account_id=account_id, **new_order)
        if isinstance(new, Reason):
            return new
        return CancelReplace(cancel_order_id, account_id, new, mode_v)

    # -- units -> Decimal ------------------------------------------------------------
    def price(self, ticks: int) -> Decimal:
        return self.spec.ticks_to_price(ticks)

    def qty(self, lots: int) -> Decimal:
        return self.spec.lots_to_qty(lots)

    def quote(self, units: int) -> Decimal:
        return (self.notional_unit * units).quantize(self.notional_unit)

    def render(self, event: Event) -> dict[str, Any]:
        """An event as a dict of Binance-style values: names for enums, Decimal
        strings for prices and quantities."""
        kind = EventKind(event[1])
        out: dict[str, Any] = {"seq": event[0], "kind": kind.name}
        for name, value in zip(FIELDS[kind], event[2:], strict=False):
            if name in ("price", "last_price"):
                value = None if value is None else str(self.price(value))
            elif name in ("qty", "leaves_qty", "executed_qty", "total_qty"):
                value = str(self.qty(value))
            elif name == "quote_qty":
                value = str(self.quote(value))
            elif name in ("side", "maker_side"):
                value = Side(value).name
            elif name == "status":
                value = OrderStatus(value).name
            elif name == "reason":
                out["code"], out["msg"] = value.code, value.msg
                value = value.name
            out[name] = value
        return out
