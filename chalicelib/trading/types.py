"""The engine's vocabulary: sides, order types, time in force, STP modes, statuses.

Every value is an ``IntEnum`` so that the public API reads in exchange words while
the hot path compares plain ints (an ``IntEnum`` member *is* an int).  Events carry
the plain int value; :mod:`chalicelib.trading.codec` renders the Binance names.
"""
from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    LIMIT_MAKER = 2
    STOP_LOSS = 3
    STOP_LOSS_LIMIT = 4
    TAKE_PROFIT = 5
    TAKE_PROFIT_LIMIT = 6


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class StpMode(IntEnum):
    """Self-trade prevention; the *taker's* mode decides, as on Binance."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3


class OrderStatus(IntEnum):
    NEW = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 3
    EXPIRED = 4
    EXPIRED_IN_MATCH = 5
    REJECTED = 6


class CancelReplaceMode(IntEnum):
    STOP_ON_FAILURE = 0
    ALLOW_FAILURE = 1


class ContingencyType(IntEnum):
    """How the orders of an order list depend on each other (Binance's contingencyType):
    OCO, one cancels the other; OTO, a working order that places a pending one when
    it is filled; OTOCO, a working order whose pending orders are an OCO pair."""

    OCO = 0
    OTO = 1
    OTOCO = 2


class ListStatusType(IntEnum):
    RESPONSE = 0
    EXEC_STARTED = 1
    UPDATED = 2
    ALL_DONE = 3


class ListOrderStatus(IntEnum):
    EXECUTING = 0
    ALL_DONE = 1
    REJECT = 2


# Order types that wait for a trigger, and what they become when triggered.
STOP_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT,
                        OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})
LIMIT_PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER,
                                OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT})


def triggers_upward(order_type: int, side: int) -> bool:
    """True when the stop fires as the last price rises to the stop price.

    A buy stop-loss and a sell take-profit fire on ``last >= stop``; a sell
    stop-loss and a buy take-profit fire on ``last <= stop``.
    """
    stop_loss = order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
    return stop_loss == (side == Side.BUY)


STOP_LOSS_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT})
# An OCO pairs one stop-loss leg with one of these (Binance: "one of the orders must be
# a LIMIT_MAKER/TAKE_PROFIT/TAKE_PROFIT_LIMIT order and the other STOP_LOSS(_LIMIT)").
OCO_PROFIT_TYPES = frozenset({OrderType.LIMIT_MAKER, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})
# The working order of an OTO / OTOCO rests first: LIMIT or LIMIT_MAKER.
WORKING_TYPES = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER})
