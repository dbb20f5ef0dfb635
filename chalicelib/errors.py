"""Expected outcomes and their Binance error codes, in one place.

Rejections, insufficient funds, unknown orders and bad parameters are *values*
(a :class:`Reason`, optionally wrapped in a :class:`Failure` with detail) that
travel back from the domain code to the API, which maps them to
``{"code": ..., "msg": ...}`` with the HTTP status given here.  Exceptions are
kept for bugs and outages.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Reason(enum.Enum):
    """Every expected failure: (Binance code, HTTP status, message)."""

    # 10xx general server / network
    UNKNOWN = (-1000, 500, "An unknown error occurred while processing the request.")
    DISCONNECTED = (-1001, 503, "Internal error; unable to process your request. Please try again.")
    UNAUTHORIZED = (-1002, 401, "You are not authorized to execute this request.")
    TOO_MANY_REQUESTS = (-1003, 429, "Too many requests; please use the websocket for live updates.")
    TOO_MANY_REQUESTS_BANNED = (-1003, 418, "Way too much request weight used; IP banned.")
    FORBIDDEN = (-1002, 403, "You are not authorized to execute this request.")
    TIMEOUT = (-1007, 503,
               "Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
    UNSUPPORTED_OPERATION = (-1014, 400, "Unsupported order combination.")
    TOO_MANY_ORDERS = (-1015, 429, "Too many new orders.")
    INVALID_TIMESTAMP = (-1021, 400, "Timestamp for this request is outside of the recvWindow.")
    INVALID_SIGNATURE = (-1022, 400, "Signature for this request is not valid.")
    # 11xx request issues
    ILLEGAL_CHARS = (-1100, 400, "Illegal characters found in a parameter.")
    TOO_MANY_PARAMETERS = (-1101, 400, "Too many parameters sent for this endpoint.")
    MANDATORY_PARAM_EMPTY_OR_MALFORMED = (-1102, 400,
                                          "A mandatory parameter was not sent, was empty/null, or malformed.")
    UNKNOWN_PARAM = (-1103, 400, "An unknown parameter was sent.")
    UNREAD_PARAMETERS = (-1104, 400, "Not all sent parameters were read.")
    PARAM_EMPTY = (-1105, 400, "A parameter was empty.")
    PARAM_NOT_REQUIRED = (-1106, 400, "A parameter was sent when not required.")
    BAD_PRECISION = (-1111, 400, "Precision is over the maximum defined for this asset.")
    NO_DEPTH = (-1112, 400, "No orders on book for symbol.")
    INVALID_TIF = (-1115, 400, "Invalid timeInForce.")
    INVALID_ORDER_TYPE = (-1116, 400, "Invalid orderType.")
    INVALID_SIDE = (-1117, 400, "Invalid side.")
    EMPTY_NEW_CL_ORD_ID = (-1118, 400, "New client order ID was empty.")
    EMPTY_ORG_CL_ORD_ID = (-1119, 400, "Original client order ID was empty.")
    BAD_INTERVAL = (-1120, 400, "Invalid interval.")
    BAD_SYMBOL = (-1121, 400, "Invalid symbol.")
    MORE_THAN_XX_HOURS = (-1127, 400, "Lookup interval is too big.")
    OPTIONAL_PARAMS_BAD_COMBO = (-1128, 400, "Combination of optional parameters invalid.")
    INVALID_PARAMETER = (-1130, 400, "Invalid data sent for a parameter.")
    BAD_RECV_WINDOW = (-1131, 400, "recvWindow must be less than 60000")
    # order lists (OCO, OTO, OTOCO)
    OCO_ORDER_TYPE_REJECTED = (-1158, 400, "Order type not supported in OCO.")
    BUY_OCO_LIMIT_MUST_BE_BELOW = (-1165, 400, "A limit order in a buy OCO must be below.")
    SELL_OCO_LIMIT_MUST_BE_ABOVE = (-1166, 400, "A limit order in a sell OCO must be above.")
    BOTH_OCO_ORDERS_CANNOT_BE_LIMIT = (-1168, 400, "At least one OCO order must be contingent.")
    BUY_OCO_STOP_LOSS_MUST_BE_ABOVE = (-1196, 400, "A stop loss order in a buy OCO must be above.")
    SELL_OCO_STOP_LOSS_MUST_BE_BELOW = (-1197, 400, "A stop loss order in a sell OCO must be below.")
    BUY_OCO_TAKE_PROFIT_MUST_BE_BELOW = (-1198, 400, "A take profit order in a buy OCO must be below.")
    SELL_OCO_TAKE_PROFIT_MUST_BE_ABOVE = (-1199, 400, "A take profit order in a sell OCO must be above.")
    OCO_BAD_PRICES = (-2010, 400, "The relationship of the prices for the orders is not correct.")
    UNKNOWN_ORDER_LIST = (-2011, 400, "Order list does not exist.")
    NO_SUCH_ORDER_LIST = (-2013, 400, "Order list does not exist.")
    # 20xx processing issues
    NEW_ORDER_REJECTED = (-2010, 400, "New order rejected.")
    INSUFFICIENT_BALANCE = (-2010, 400, "Account has insufficient balance for requested action.")
    WOULD_TAKE = (-2010, 400, "Order would immediately match and take.")
    WOULD_TRIGGER = (-2010, 400, "Order would immediately trigger.")
    SYMBOL_NOT_TRADING = (-2010, 400, "Market is closed.")
    DUPLICATE_ORDER = (-2010, 400, "Duplicate order sent.")
    ICEBERG_QTY_EXCEEDS_QTY = (-2010, 400, "IcebergQty exceeds QTY.")
    CANCEL_REJECTED = (-2011, 400, "Unknown order sent.")
    NO_SUCH_ORDER = (-2013, 400, "Order does not exist.")
    BAD_API_KEY_FMT = (-2014, 401, "API-key format invalid.")
    REJECTED_MBX_KEY = (-2015, 401, "Invalid API-key, IP, or permissions for action.")
    ORDER_AMEND_QTY_INCREASE = (-2038, 400, "Order amend (quantity increase) is not supported.")
    AMEND_UNKNOWN_ORDER = (-2038, 400, "Unknown order sent.")
    AMEND_NO_CHANGE = (-2038, 400, "The requested action would change no state; rejecting")
    AMEND_DUPLICATE = (-2038, 400, "Duplicate order sent.")
    # user data stream subscriptions (WebSocket API)
    SUBSCRIPTION_ACTIVE = (-2035, 400, "User Data Stream subscription already active.")
    SUBSCRIPTION_INACTIVE = (-2036, 400, "User Data Stream subscription not active.")
    MAXIMUM_SUBSCRIPTION_IDS = (-2042, 400, "Maximum subscription ID reached for this connection.")
    TOO_MANY_SUBSCRIPTIONS = (-1191, 400, "Too many subscriptions. Connection may create up to '1000' subscriptions"
                                          " at a time.")
    # -1013 filter failures (engine and API share them)
    FILTER_PRICE = (-1013, 400, "Filter failure: PRICE_FILTER")
    FILTER_LOT_SIZE = (-1013, 400, "Filter failure: LOT_SIZE")
    FILTER_MARKET_LOT_SIZE = (-1013, 400, "Filter failure: MARKET_LOT_SIZE")
    FILTER_MIN_NOTIONAL = (-1013, 400, "Filter failure: MIN_NOTIONAL")
    FILTER_NOTIONAL = (-1013, 400, "Filter failure: NOTIONAL")
    FILTER_PERCENT_PRICE_BY_SIDE = (-1013, 400, "Filter failure: PERCENT_PRICE_BY_SIDE")
    FILTER_ICEBERG_PARTS = (-1013, 400, "Filter failure: ICEBERG_PARTS")
    FILTER_TRAILING_DELTA = (-1013, 400, "Filter failure: TRAILING_DELTA")
    FILTER_MAX_NUM_ALGO_ORDERS = (-1013, 400, "Filter failure: MAX_NUM_ALGO_ORDERS")
    FILTER_MAX_NUM_ICEBERG_ORDERS = (-1013, 400, "Filter failure: MAX_NUM_ICEBERG_ORDERS")
    INVALID_QUANTITY = (-1013, 400, "Invalid quantity.")
    INVALID_PRICE = (-1013, 400, "Invalid price.")
    INVALID_STOP_PRICE = (-1013, 400, "Stop price would trigger immediately.")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]

    @property
    def msg(self) -> str:
        return self.value[2]


@dataclass(frozen=True, slots=True)
class Failure:
    """An expected failure with an optional message that replaces the default one."""

    reason: Reason
    detail: str | None = None

    @property
    def code(self) -> int:
        return self.reason.code

    @property
    def http_status(self) -> int:
        return self.reason.http_status

    @property
    def msg(self) -> str:
        return self.detail or self.reason.msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


class ExchangeError(Exception):
    """Carries a :class:`Failure` across layers where returning a value would be awkward
    (e.g. out of a request-parsing helper deep in a handler).  The API turns it into
    the Binance error body; it never escapes as a 500."""

    def __init__(self, reason: Reason | Failure, detail: str | None = None):
        self.failure = reason if isinstance(reason, Failure) else Failure(reason, detail)
        super().__init__(self.failure.msg)
