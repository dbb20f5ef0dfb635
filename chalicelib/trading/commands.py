"""Commands: the engine's only input, small immutable values.

All prices are integer *ticks*, quantities integer *lots* and quote amounts integer
*notional units* of ``tick_size * step_size`` (so ``price * qty`` of a trade is an
exact quote amount in the same unit).  :mod:`chalicelib.trading.codec` builds commands
from Binance-style Decimal fields.  Order ids are assigned by the caller (the
symbol's sequencer), which keeps the engine deterministic.
"""
from __future__ import annotations

from typing import NamedTuple

from .types import CancelReplaceMode, ContingencyType, OrderType, StpMode, TimeInForce


class NewOrder(NamedTuple):
    """Place an order.

    ``price`` is used by LIMIT-priced types, ``stop_price`` by the STOP_LOSS /
    TAKE_PROFIT families; ``quote_qty`` (notional units) replaces ``qty`` for a
    MARKET order by quoteOrderQty.  Unused fields are 0.

    ``iceberg_qty`` (lots) makes a LIMIT-priced GTC order an iceberg: only a slice
    of that size rests visibly, refreshed at the back of its level when consumed.
    ``trailing_delta`` (BIPS) makes a stop a trailing stop: ``stop_price`` (0 = none)
    then only activates it, and it fires once the last price retraces by the delta
    from its best price since activation (Binance's trailing-stop FAQ).
    """

    order_id: int
    account_id: int
    side: int
    order_type: int = OrderType.LIMIT
    tif: int = TimeInForce.GTC
    price: int = 0
    qty: int = 0
    quote_qty: int = 0
    stop_price: int = 0
    stp_mode: int = StpMode.NONE
    iceberg_qty: int = 0
    trailing_delta: int = 0


class Cancel(NamedTuple):
    """Cancel a resting order or a pending stop of ``account_id``."""

    order_id: int
    account_id: int


class Amend(NamedTuple):
    """Reduce an order's original quantity to ``new_qty`` lots, keeping its priority
    (Binance's order amend keep priority: ``0 < new_qty < origQty``)."""

    order_id: int
    account_id: int
    new_qty: int


class CancelReplace(NamedTuple):
    """Cancel ``cancel_order_id`` and place ``new_order`` as one command.

    With STOP_ON_FAILURE a failed cancel leaves the new order unplaced; with
    ALLOW_FAILURE it is placed anyway (Binance's ``cancelReplaceMode``).
    """

    cancel_order_id: int
    account_id: int
    new_order: NewOrder
    mode: int = CancelReplaceMode.STOP_ON_FAILURE


class NewOrderList(NamedTuple):
    """Place an order list (Binance's OCO, OTO, OTOCO) as one command.

    ``orders`` holds the list's orders, each a :class:`NewOrder` of ``account_id``
    with its id assigned by the caller:

    * OCO: ``(below, above)``, the two legs, both placed at once;
    * OTO: ``(working, pending)``;
    * OTOCO: ``(working, pending below, pending above)``.

    Pending orders are kept by the engine, outside the book, until the working order
    is FILLED."""

    list_id: int
    account_id: int
    contingency: int
    orders: tuple[NewOrder, ...]

    @property
    def working(self) -> tuple[NewOrder, ...]:
        return self.orders if self.contingency == ContingencyType.OCO else self.orders[:1]

    @property
    def pending(self) -> tuple[NewOrder, ...]:
        return () if self.contingency == ContingencyType.OCO else self.orders[1:]


class CancelOrderList(NamedTuple):
    """Cancel every open order of the order list ``list_id`` of ``account_id``."""

    list_id: int
    account_id: int
