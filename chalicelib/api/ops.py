"""Every operation of the API, described once.

An :class:`Op` names its route, security, request weight, parameters, success schema
and the function that implements it (the function itself, so an editor, a grep and
the import graph all lead from here to it).  Each route in ``app.py`` passes its
handler function to :func:`chalicelib.api.http.dispatch`, which finds the handler's
Op in :data:`BY_HANDLER`, validates and runs the request from it; ``openapi.py`` turns
the same table into the OpenAPI document, so the document cannot drift from what the
code accepts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.api import account, admin, cognito, compat, keys, lists, market, trading
from chalicelib.api.params import CLIENT_ID_RE, Param
from chalicelib.errors import Reason

# -- security levels ------------------------------------------------------------------
NONE = "NONE"              # public
MARKET_DATA = "MARKET_DATA"  # X-MBX-APIKEY, no signature
USER_DATA = "USER_DATA"    # signed (or a Cognito bearer token); key needs read
TRADE = "TRADE"            # signed (or a Cognito bearer token); key needs trade
WEB = "WEB"                # Cognito JWT through the Chalice authorizer
ADMIN = "ADMIN"            # WEB, and the user is in the Cognito group ``admin``
SIGNED = (USER_DATA, TRADE)

ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
EMAIL_RE = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}$"
WINDOW_RE = r"^([1-9]|[1-5][0-9])m$|^([1-9]|1[0-9]|2[0-3])h$|^[1-7]d$"

# -- JSON schema helpers ----------------------------------------------------------------
STR = {"type": "string"}
NUM = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}  # a decimal number as a string
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NULLABLE_INT = {"type": ["integer", "null"]}


def obj(props: dict, required: list | None = None, extra: bool = True) -> dict:
    s: dict[str, object] = {"type": "object", "properties": props,
                            "required": list(props) if required is None else required}
    if not extra:
        s["additionalProperties"] = False
    return s


def arr(items: dict) -> dict:
    return {"type": "array", "items": items}


LEVELS = arr({"type": "array", "items": NUM, "minItems": 2, "maxItems": 2})
FILTER = obj({"filterType": STR}, extra=True)
RATE_LIMIT = obj({"rateLimitType": STR, "interval": STR, "intervalNum": INT, "limit": INT})
SYMBOL_INFO = obj({
    "symbol": STR, "status": STR, "baseAsset": STR, "baseAssetPrecision": INT, "quoteAsset": STR,
    "quotePrecision": INT, "quoteAssetPrecision": INT, "baseCommissionPrecision": INT,
    "quoteCommissionPrecision": INT, "orderTypes": arr(STR), "icebergAllowed": BOOL, "ocoAllowed": BOOL,
    "otoAllowed": BOOL, "quoteOrderQtyMarketAllowed": BOOL, "allowTrailingStop": BOOL, "cancelReplaceAllowed": BOOL,
    "amendAllowed": BOOL, "isSpotTradingAllowed": BOOL, "isMarginTradingAllowed": BOOL, "filters": arr(FILTER),
    "permissions": arr(STR), "permissionSets": arr(arr(STR)), "defaultSelfTradePreventionMode": STR,
    "allowedSelfTradePreventionModes": arr(STR)})
EXCHANGE_INFO = obj({"timezone": STR, "serverTime": INT, "rateLimits": arr(RATE_LIMIT), "exchangeFilters": arr(FILTER),
                     "symbols": arr(SYMBOL_INFO)})
DEPTH = obj({"lastUpdateId": INT, "bids": LEVELS, "asks": LEVELS})
TRADE_ROW = obj({"id": INT, "price": NUM, "qty": NUM, "quoteQty": NUM, "time": INT, "isBuyerMaker": BOOL,
                 "isBestMatch": BOOL})
AGG_TRADE = obj({"a": INT, "p": NUM, "q": NUM, "f": INT, "l": INT, "T": INT, "m": BOOL, "M": BOOL})
KLINE = {"type": "array", "minItems": 12, "maxItems": 12, "items": {"type": ["integer", "string"]},
         "description": "[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, "
                        "takerBuyBaseVolume, takerBuyQuoteVolume, ignore]"}
AVG_PRICE = obj({"mins": INT, "price": NUM, "closeTime": INT})
TICKER_24H = obj({
    "symbol": STR, "priceChange": NUM, "priceChangePercent": NUM, "weightedAvgPrice": NUM, "prevClosePrice": NUM,
    "lastPrice": NUM, "lastQty": NUM, "bidPrice": NUM, "bidQty": NUM, "askPrice": NUM, "askQty": NUM,
    "openPrice": NUM, "highPrice": NUM, "lowPrice": NUM, "volume": NUM, "quoteVolume": NUM, "openTime": INT,
    "closeTime": INT, "firstId": INT, "lastId": INT, "count": INT})
TICKER_WINDOW = obj({
    "symbol": STR, "priceChange": NUM, "priceChangePercent": NUM, "weightedAvgPrice": NUM, "openPrice": NUM,
    "highPrice": NUM, "lowPrice": NUM, "lastPrice": NUM, "volume": NUM, "quoteVolume": NUM, "openTime": INT,
    "closeTime": INT, "firstId": INT, "lastId": INT, "count": INT})
_MINI_KEYS = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime",
              "closeTime", "firstId", "lastId", "count")
TICKER_MINI = obj({k: TICKER_WINDOW["properties"][k] for k in _MINI_KEYS})
PRICE = obj({"symbol": STR, "price": NUM})
BOOK_TICKER = obj({"symbol": STR, "bidPrice": NUM, "bidQty": NUM, "askPrice": NUM, "askQty": NUM})


def one_or_many(s: dict) -> dict:
    return {"anyOf": [s, arr(s)]}


FILL = obj({"price": NUM, "qty": NUM, "commission": NUM, "commissionAsset": STR, "tradeId": INT})
_ORDER_FIELDS = {
    "symbol": STR, "orderId": INT, "orderListId": INT, "clientOrderId": STR, "price": NUM, "origQty": NUM,
    "executedQty": NUM, "cummulativeQuoteQty": NUM, "status": STR, "timeInForce": STR, "type": STR, "side": STR,
    "stopPrice": NUM, "icebergQty": NUM, "time": INT, "updateTime": INT, "isWorking": BOOL, "workingTime": INT,
    "origQuoteOrderQty": NUM, "selfTradePreventionMode": STR}
# conditional: only on an order that self-trade prevention expired
# conditional: trailingDelta / trailingTime only on a trailing stop, as on Binance
ORDER = obj({**_ORDER_FIELDS, "preventedMatchId": INT, "preventedQuantity": NUM, "trailingDelta": INT,
             "trailingTime": INT}, required=list(_ORDER_FIELDS))
NEW_ORDER = obj({"symbol": STR, "orderId": INT, "orderListId": INT, "clientOrderId": STR, "transactTime": INT},
                required=["symbol", "orderId", "orderListId", "clientOrderId", "transactTime"])
CANCELED = obj({"symbol": STR, "origClientOrderId": STR, "orderId": INT, "orderListId": INT, "clientOrderId": STR,
                "transactTime": INT, "price": NUM, "origQty": NUM, "executedQty": NUM, "cummulativeQuoteQty": NUM,
                "status": STR, "timeInForce": STR, "type": STR, "side": STR, "selfTradePreventionMode": STR},
               required=["symbol", "origClientOrderId", "orderId", "clientOrderId", "status"])
CANCEL_REPLACE = obj({"cancelResult": STR, "newOrderResult": STR, "cancelResponse": {"type": ["object", "null"]},
                      "newOrderResponse": {"type": ["object", "null"]}})
AMENDED = obj({"transactTime": INT, "executionId": INT, "amendedOrder": obj({
    "symbol": STR, "orderId": INT, "orderListId": INT, "origClientOrderId": STR, "clientOrderId": STR, "price": NUM,
    "qty": NUM, "executedQty": NUM, "preventedQty": NUM, "quoteOrderQty": NUM, "cumulativeQuoteQty": NUM,
    "status": STR, "timeInForce": STR, "type": STR, "side": STR, "selfTradePreventionMode": STR},
    required=["symbol", "orderId", "orderListId", "origClientOrderId", "clientOrderId", "qty", "status"])})
AMENDMENT = obj({"symbol": STR, "orderId": INT, "executionId": INT, "origClientOrderId": STR,
                 "newClientOrderId": STR, "origQty": NUM, "newQty": NUM, "time": INT})
PREVENTED_MATCH = obj({"symbol": STR, "preventedMatchId": INT, "takerOrderId": INT, "makerSymbol": STR,
                       "makerOrderId": INT, "tradeGroupId": INT, "selfTradePreventionMode": STR, "price": NUM,
                       "makerPreventedQuantity": NUM, "transactTime": INT})
MY_TRADE = obj({"symbol": STR, "id": INT, "orderId": INT, "orderListId": INT, "price": NUM, "qty": NUM,
                "quoteQty": NUM, "commission": NUM, "commissionAsset": STR, "time": INT, "isBuyer": BOOL,
                "isMaker": BOOL, "isBestMatch": BOOL})
ORDER_LIST_ORDER = obj({"symbol": STR, "orderId": INT, "clientOrderId": STR})
ORDER_LIST = obj({"orderListId": INT, "contingencyType": STR, "listStatusType": STR, "listOrderStatus": STR,
                  "listClientOrderId": STR, "transactionTime": INT, "symbol": STR, "orders": arr(ORDER_LIST_ORDER)})
ORDER_LIST_REPORTS = obj({**ORDER_LIST["properties"], "orderReports": arr(obj({}, required=[]))})
COMMISSION = obj({"maker": NUM, "taker": NUM, "buyer": NUM, "seller": NUM})
ACCOUNT = obj({
    "makerCommission": INT, "takerCommission": INT, "buyerCommission": INT, "sellerCommission": INT,
    "commissionRates": COMMISSION, "canTrade": BOOL, "canWithdraw": BOOL, "canDeposit": BOOL, "brokered": BOOL,
    "requireSelfTradePrevention": BOOL, "preventSor": BOOL, "updateTime": INT, "accountType": STR,
    "balances": arr(obj({"asset": STR, "free": NUM, "locked": NUM})), "permissions": arr(STR), "uid": INT})
ACCOUNT_COMMISSION = obj({"symbol": STR, "standardCommission": COMMISSION, "taxCommission": COMMISSION,
                          "discount": obj({"enabledForAccount": BOOL, "enabledForSymbol": BOOL,
                                           "discountAsset": {"type": ["string", "null"]}, "discount": NUM})})
ORDER_COUNT = arr(obj({"rateLimitType": STR, "interval": STR, "intervalNum": INT, "limit": INT, "count": INT}))
DEPOSIT = obj({"id": STR, "amount": NUM, "coin": STR, "network": STR, "status": INT, "address": STR,
               "txId": STR, "insertTime": INT, "transferType": INT, "confirmTimes": STR})
WITHDRAWAL = obj({"id": STR, "amount": NUM, "transactionFee": NUM, "coin": STR, "status": INT, "address": STR,
                  "txId": STR, "applyTime": STR, "network": STR, "transferType": INT, "withdrawOrderId": STR})
API_KEY = obj({"apiKey": STR, "label": STR, "permissions": obj({"read": BOOL, "trade": BOOL}),
               "ipRestrict": BOOL, "ipList": arr(STR)})
API_KEY_CREATED = obj({**API_KEY["properties"], "secretKey": STR})
TOKENS = obj({"accessToken": STR, "idToken": STR, "refreshToken": {"type": ["string", "null"]}, "expiresIn": INT,
              "tokenType": STR}, required=["accessToken", "idToken", "expiresIn", "tokenType"])
CHALLENGE = obj({"challengeName": STR, "session": STR}, required=["challengeName", "session"])
TRANSFER = obj({"transferId": STR, "accountId": INT, "asset": STR, "amount": NUM, "direction": STR, "status": STR})


# -- the operations ---------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    id: str
    method: str
    path: str
    handler: Callable  # takes the request's Ctx (chalicelib.api.http), returns the JSON body
    summary: str
    security: str = NONE
    weight: int | Callable = 1
    params: tuple[Param, ...] = ()
    response: dict | None = None
    orders: bool = False  # counts against the ORDERS limits
    tag: str = "Market"
    body: str = "form"  # form: Binance style (query or x-www-form-urlencoded); json: /v1 web endpoints


SYM = Param("symbol", "symbol", required=True, description="e.g. BTCUSDT")
SYM_OPT = Param("symbol", "symbol")
SYMBOLS = Param("symbols", "symbols", description='JSON array, e.g. ["BTCUSDT","ETHUSDT"]')
TS = Param("timestamp", "int", maximum=2**53, description="ms since the epoch (signed requests)")
RECV = Param("recvWindow", "int", maximum=2**31, description="ms, at most 60000 (default 5000)")
SIG = Param("signature", "str", pattern=r"^[0-9a-fA-F]{64}$", description="HMAC-SHA256 of the query string + body")
SIGNED_PARAMS = (TS, RECV, SIG)
START = Param("startTime", "int", maximum=2**53)
END = Param("endTime", "int", maximum=2**53)
FROM_ID = Param("fromId", "int", maximum=2**62)
ORDER_ID = Param("orderId", "int", maximum=2**62)
ORIG_CID = Param("origClientOrderId", "str", pattern=CLIENT_ID_RE)
NEW_CID = Param("newClientOrderId", "str", pattern=CLIENT_ID_RE)


def _limit(default: int, maximum: int, minimum: int = 1) -> Param:
    return Param("limit", "int", minimum=minimum, maximum=maximum, default=default)


def prevented_matches_weight(args) -> int:
    """Binance's: 2 by ``preventedMatchId`` (or for an invalid symbol), 20 by ``orderId``."""
    from chalicelib.symbols import spec_of

    return 2 if args["preventedMatchId"] is not None or spec_of(args["symbol"] or "") is None else 20


def depth_weight(args) -> int:
    limit = args.get("limit", 100)
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _many_weight(single: int, all_: int):
    def weight(args) -> int:
        if args["symbol"]:
            return single
        if args["symbols"]:
            n = len(args["symbols"])
            return single if n <= 20 else 40 if n <= 100 else all_
        return all_
    return weight


def _window_weight(args) -> int:
    n = 1 if args["symbol"] else len(args["symbols"] or ()) or 100
    return min(4 * n, 200)


ORDER_PARAMS = (
    SYM,
    Param("side", "enum", required=True, values=("BUY", "SELL"), reason=Reason.INVALID_SIDE),
    Param("type", "enum", required=True, values=ORDER_TYPES, reason=Reason.INVALID_ORDER_TYPE),
    Param("timeInForce", "enum", values=("GTC", "IOC", "FOK"), reason=Reason.INVALID_TIF),
    Param("quantity", "decimal"),
    Param("quoteOrderQty", "decimal"),
    Param("price", "decimal"),
    NEW_CID,
    Param("strategyId", "int", maximum=2**62),
    Param("strategyType", "int", minimum=1000000, maximum=2**31),
    Param("stopPrice", "decimal"),
    Param("trailingDelta", "int", maximum=2**31),
    Param("icebergQty", "decimal"),
    Param("newOrderRespType", "enum", values=("ACK", "RESULT", "FULL")),
    Param("selfTradePreventionMode", "enum", values=STP_MODES),
) + SIGNED_PARAMS

CANCEL_PARAMS = (SYM, ORDER_ID, ORIG_CID, NEW_CID,
                 Param("cancelRestrictions", "enum", values=("ONLY_NEW", "ONLY_PARTIALLY_FILLED"))) + SIGNED_PARAMS

def _oco_leg(prefix: str, types: tuple[str, ...], required: bool = True,
             reason: Reason = Reason.OCO_ORDER_TYPE_REJECTED) -> tuple[Param, ...]:
    return (Param(prefix + "Type", "enum", required=required, values=types, reason=reason),
            Param(prefix + "ClientOrderId", "str", pattern=CLIENT_ID_RE),
            Param(prefix + "IcebergQty", "decimal"),
            Param(prefix + "Price", "decimal"),
            Param(prefix + "StopPrice", "decimal"),
            Param(prefix + "TrailingDelta", "int", maximum=2**31),
            Param(prefix + "TimeInForce", "enum", values=("GTC", "IOC", "FOK"), reason=Reason.INVALID_TIF),
            Param(prefix + "StrategyId", "int", maximum=2**62),
            Param(prefix + "StrategyType", "int", minimum=1000000, maximum=2**31))


_LIST_COMMON = (SYM, Param("listClientOrderId", "str", pattern=CLIENT_ID_RE),
                Param("side", "enum", required=True, values=("BUY", "SELL"), reason=Reason.INVALID_SIDE),
                Param("quantity", "decimal", required=True),
                Param("newOrderRespType", "enum", values=("ACK", "RESULT", "FULL")),
                Param("selfTradePreventionMode", "enum", values=STP_MODES))
OCO_PARAMS = (_LIST_COMMON + _oco_leg("above", ("STOP_LOSS_LIMIT", "STOP_LOSS", "LIMIT_MAKER", "TAKE_PROFIT",
                                                "TAKE_PROFIT_LIMIT"))
              + _oco_leg("below", ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER"))
              + SIGNED_PARAMS)
LEGACY_OCO_PARAMS = _LIST_COMMON + (
    Param("limitClientOrderId", "str", pattern=CLIENT_ID_RE), Param("price", "decimal", required=True),
    Param("limitIcebergQty", "decimal"), Param("limitStrategyId", "int", maximum=2**62),
    Param("limitStrategyType", "int", minimum=1000000, maximum=2**31),
    Param("stopClientOrderId", "str", pattern=CLIENT_ID_RE), Param("stopPrice", "decimal"),
    Param("trailingDelta", "int", maximum=2**31), Param("stopStrategyId", "int", maximum=2**62),
    Param("stopStrategyType", "int", minimum=1000000, maximum=2**31),
    Param("stopLimitPrice", "decimal"), Param("stopIcebergQty", "decimal"),
    Param("stopLimitTimeInForce", "enum", values=("GTC", "FOK", "IOC"), reason=Reason.INVALID_TIF),
) + SIGNED_PARAMS
_OTO_COMMON = (SYM, Param("listClientOrderId", "str", pattern=CLIENT_ID_RE),
               Param("newOrderRespType", "enum", values=("ACK", "RESULT", "FULL")),
               Param("selfTradePreventionMode", "enum", values=STP_MODES),
               Param("workingSide", "enum", required=True, values=("BUY", "SELL"), reason=Reason.INVALID_SIDE),
               Param("workingQuantity", "decimal", required=True))
_OTO_WORKING = _oco_leg("working", ORDER_TYPES, reason=Reason.INVALID_ORDER_TYPE)
OTO_PARAMS = (_OTO_COMMON + _OTO_WORKING + _oco_leg("pending", ORDER_TYPES, reason=Reason.INVALID_ORDER_TYPE)
              + (Param("pendingSide", "enum", required=True, values=("BUY", "SELL"), reason=Reason.INVALID_SIDE),
                 Param("pendingQuantity", "decimal", required=True)) + SIGNED_PARAMS)
OTOCO_PARAMS = (_OTO_COMMON + _OTO_WORKING
                + (Param("pendingSide", "enum", required=True, values=("BUY", "SELL"), reason=Reason.INVALID_SIDE),
                   Param("pendingQuantity", "decimal", required=True))
                + _oco_leg("pendingAbove", ("STOP_LOSS_LIMIT", "STOP_LOSS", "LIMIT_MAKER", "TAKE_PROFIT",
                                            "TAKE_PROFIT_LIMIT"))
                + _oco_leg("pendingBelow", ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
                                            "LIMIT_MAKER"), required=False)
                + SIGNED_PARAMS)

_FUND_HISTORY = (Param("coin", "str", pattern=r"^[A-Z0-9]{2,12}$"), Param("status", "int", maximum=10),
                 START, END, Param("offset", "int", maximum=10**6), _limit(1000, 1000)) + SIGNED_PARAMS

OPS: tuple[Op, ...] = (
    # -- public market data
    Op("ping", "GET", "/v3/ping", market.ping, "Test connectivity", response=obj({})),
    Op("time", "GET", "/v3/time", market.server_time, "Server time", response=obj({"serverTime": INT})),
    Op("exchangeInfo", "GET", "/v3/exchangeInfo", market.exchange_info, "Trading rules and symbols", weight=20,
       params=(SYM_OPT, SYMBOLS, Param("permissions", "str", max_len=200, pattern=r'^[\x20-\x7e]{0,200}$'),
               Param("showPermissionSets", "bool"),
               Param("symbolStatus", "enum", values=("TRADING", "HALT", "BREAK"))),
       response=EXCHANGE_INFO),
    Op("depth", "GET", "/v3/depth", market.depth, "Order book", weight=depth_weight,
       params=(SYM, _limit(100, 5000)), response=DEPTH),
    Op("trades", "GET", "/v3/trades", market.recent_trades, "Recent trades", weight=25,
       params=(SYM, _limit(500, 1000)), response=arr(TRADE_ROW)),
    Op("historicalTrades", "GET", "/v3/historicalTrades", market.historical_trades, "Older trades", weight=25,
       security=MARKET_DATA, params=(SYM, _limit(500, 1000), FROM_ID), response=arr(TRADE_ROW)),
    Op("aggTrades", "GET", "/v3/aggTrades", market.agg_trades, "Compressed/aggregate trades", weight=4,
       params=(SYM, FROM_ID, START, END, _limit(500, 1000)), response=arr(AGG_TRADE)),
    Op("klines", "GET", "/v3/klines", market.klines, "Kline/candlestick bars", weight=2,
       params=(SYM, Param("interval", "enum", required=True, values=INTERVALS, reason=Reason.BAD_INTERVAL),
               START, END, Param("timeZone", "str", pattern=r"^(0|[+-]?(0?[0-9]|1[0-4])(:[0-5][0-9])?)$"),
               _limit(500, 1000)),
       response=arr(KLINE)),
    Op("uiKlines", "GET", "/v3/uiKlines", market.ui_klines, "Klines for presentation", weight=2,
       params=(SYM, Param("interval", "enum", required=True, values=INTERVALS, reason=Reason.BAD_INTERVAL),
               START, END, Param("timeZone", "str", pattern=r"^(0|[+-]?(0?[0-9]|1[0-4])(:[0-5][0-9])?)$"),
               _limit(500, 1000)),
       response=arr(KLINE)),
    Op("avgPrice", "GET", "/v3/avgPrice", market.avg_price, "Current average price", weight=2, params=(SYM,),
       response=AVG_PRICE),
    Op("ticker24hr", "GET", "/v3/ticker/24hr", market.ticker_24hr, "24 hour rolling window statistics",
       weight=_many_weight(2, 80), params=(SYM_OPT, SYMBOLS, Param("type", "enum", values=("FULL", "MINI"))),
       response=one_or_many({"anyOf": [TICKER_24H, TICKER_MINI]})),
    Op("tickerPrice", "GET", "/v3/ticker/price", market.ticker_price, "Latest price",
       weight=_many_weight(2, 4), params=(SYM_OPT, SYMBOLS), response=one_or_many(PRICE)),
    Op("bookTicker", "GET", "/v3/ticker/bookTicker", market.book_ticker, "Best bid/ask",
       weight=_many_weight(2, 4), params=(SYM_OPT, SYMBOLS), response=one_or_many(BOOK_TICKER)),
    Op("ticker", "GET", "/v3/ticker", market.ticker_window, "Rolling window statistics", weight=_window_weight,
       params=(SYM_OPT, SYMBOLS, Param("windowSize", "str", pattern=WINDOW_RE, default="1d"),
               Param("type", "enum", values=("FULL", "MINI"))),
       response=one_or_many({"anyOf": [TICKER_WINDOW, TICKER_MINI]})),
    # -- trading
    Op("newOrder", "POST", "/v3/order", trading.new_order, "New order", security=TRADE, weight=1,
       params=ORDER_PARAMS, orders=True, tag="Trading",
       response={"anyOf": [NEW_ORDER, ORDER]}),
    Op("testOrder", "POST", "/v3/order/test", trading.test_order, "Test new order (validates, places nothing)",
       security=TRADE, weight=lambda a: 20 if a["computeCommissionRates"] else 1,
       params=ORDER_PARAMS + (Param("computeCommissionRates", "bool"),), tag="Trading",
       response=obj({})),
    Op("getOrder", "GET", "/v3/order", trading.get_order, "Query order", security=USER_DATA, weight=4,
       params=(SYM, ORDER_ID, ORIG_CID) + SIGNED_PARAMS, tag="Trading", response=ORDER),
    Op("cancelOrder", "DELETE", "/v3/order", trading.cancel_order, "Cancel order", security=TRADE, weight=1,
       params=CANCEL_PARAMS, tag="Trading", response=CANCELED),
    Op("cancelReplace", "POST", "/v3/order/cancelReplace", trading.cancel_replace,
       "Cancel an order and place a new one",
       security=TRADE, weight=1, orders=True, tag="Trading", response=CANCEL_REPLACE,
       params=ORDER_PARAMS + (
           Param("cancelReplaceMode", "enum", required=True, values=("STOP_ON_FAILURE", "ALLOW_FAILURE")),
           Param("cancelNewClientOrderId", "str", pattern=CLIENT_ID_RE),
           Param("cancelOrigClientOrderId", "str", pattern=CLIENT_ID_RE),
           Param("cancelOrderId", "int", maximum=2**62),
           Param("cancelRestrictions", "enum", values=("ONLY_NEW", "ONLY_PARTIALLY_FILLED")),
           Param("orderRateLimitExceededMode", "enum", values=("DO_NOTHING", "CANCEL_ONLY")))),
    Op("amendKeepPriority", "PUT", "/v3/order/amend/keepPriority", trading.amend_keep_priority,
       "Reduce the quantity of an open order, keeping its priority", security=TRADE, weight=4, tag="Trading",
       params=(SYM, ORDER_ID, ORIG_CID, NEW_CID, Param("newQty", "decimal", required=True)) + SIGNED_PARAMS,
       response=AMENDED),
    Op("orderAmendments", "GET", "/v3/order/amendments", trading.order_amendments, "Query the amendments of an order",
       security=USER_DATA, weight=4, tag="Trading",
       params=(SYM, Param("orderId", "int", required=True, maximum=2**62),
               Param("fromExecutionId", "int", maximum=2**62), _limit(500, 1000)) + SIGNED_PARAMS,
       response=arr(AMENDMENT)),
    Op("openOrders", "GET", "/v3/openOrders", trading.open_orders, "Current open orders", security=USER_DATA,
       weight=lambda a: 6 if a["symbol"] else 80, params=(SYM_OPT,) + SIGNED_PARAMS, tag="Trading",
       response=arr(ORDER)),
    Op("cancelOpenOrders", "DELETE", "/v3/openOrders", trading.cancel_open_orders, "Cancel all open orders on a symbol",
       security=TRADE, weight=1, params=(SYM,) + SIGNED_PARAMS, tag="Trading", response=arr(CANCELED)),
    Op("allOrders", "GET", "/v3/allOrders", trading.all_orders, "All orders", security=USER_DATA, weight=20,
       params=(SYM, ORDER_ID, START, END, _limit(500, 1000)) + SIGNED_PARAMS, tag="Trading", response=arr(ORDER)),
    Op("myTrades", "GET", "/v3/myTrades", trading.my_trades, "Account trade list", security=USER_DATA,
       weight=lambda a: 5 if a["orderId"] is not None else 20,
       params=(SYM, ORDER_ID, START, END, FROM_ID, _limit(500, 1000)) + SIGNED_PARAMS, tag="Trading",
       response=arr(MY_TRADE)),
    Op("myPreventedMatches", "GET", "/v3/myPreventedMatches", trading.my_prevented_matches,
       "Orders expired by self-trade prevention", security=USER_DATA, weight=prevented_matches_weight,
       params=(SYM, Param("preventedMatchId", "int", maximum=2**62), ORDER_ID,
               Param("fromPreventedMatchId", "int", maximum=2**62), _limit(500, 1000)) + SIGNED_PARAMS,
       tag="Trading", response=arr(PREVENTED_MATCH)),
    Op("orderListOco", "POST", "/v3/orderList/oco", lists.new_oco, "New order list - OCO", security=TRADE,
       weight=1, params=OCO_PARAMS, orders=True, tag="Trading", response=ORDER_LIST_REPORTS),
    Op("orderListOto", "POST", "/v3/orderList/oto", lists.new_oto, "New order list - OTO", security=TRADE,
       weight=1, params=OTO_PARAMS, orders=True, tag="Trading", response=ORDER_LIST_REPORTS),
    Op("orderListOtoco", "POST", "/v3/orderList/otoco", lists.new_otoco, "New order list - OTOCO",
       security=TRADE, weight=1, params=OTOCO_PARAMS, orders=True, tag="Trading", response=ORDER_LIST_REPORTS),
    Op("orderOco", "POST", "/v3/order/oco", lists.new_oco_legacy, "New OCO (deprecated form)", security=TRADE,
       weight=1, params=LEGACY_OCO_PARAMS, orders=True, tag="Trading", response=ORDER_LIST_REPORTS),
    Op("cancelOrderList", "DELETE", "/v3/orderList", lists.cancel_order_list, "Cancel order list",
       security=TRADE, weight=1, tag="Trading", response=ORDER_LIST_REPORTS,
       params=(SYM, Param("orderListId", "int", maximum=2**62),
               Param("listClientOrderId", "str", pattern=CLIENT_ID_RE), NEW_CID) + SIGNED_PARAMS),
    Op("getOrderList", "GET", "/v3/orderList", lists.get_order_list, "Query order list", security=USER_DATA,
       weight=4, tag="Trading", response=ORDER_LIST,
       params=(Param("orderListId", "int", maximum=2**62), ORIG_CID) + SIGNED_PARAMS),
    Op("allOrderList", "GET", "/v3/allOrderList", lists.all_order_lists, "Query all order lists",
       security=USER_DATA, weight=20, tag="Trading", response=arr(ORDER_LIST),
       params=(FROM_ID, START, END, _limit(500, 1000)) + SIGNED_PARAMS),
    Op("openOrderList", "GET", "/v3/openOrderList", lists.open_order_lists, "Query open order lists",
       security=USER_DATA, weight=6, tag="Trading", response=arr(ORDER_LIST), params=SIGNED_PARAMS),
    Op("rateLimitOrder", "GET", "/v3/rateLimit/order", trading.rate_limit_order, "Current order count usage",
       security=USER_DATA, weight=40, params=SIGNED_PARAMS, tag="Trading", response=ORDER_COUNT),
    # -- account
    Op("account", "GET", "/v3/account", account.account, "Account information", security=USER_DATA, weight=20,
       params=(Param("omitZeroBalances", "bool"),) + SIGNED_PARAMS, tag="Account", response=ACCOUNT),
    Op("accountCommission", "GET", "/v3/account/commission", account.commission, "Commission rates of a symbol",
       security=USER_DATA, weight=20, params=(SYM,) + SIGNED_PARAMS, tag="Account", response=ACCOUNT_COMMISSION),
    Op("depositHistory", "GET", "/v1/capital/deposit/hisrec", account.deposit_history, "Deposit history",
       security=USER_DATA, weight=1, params=_FUND_HISTORY, tag="Funds", response=arr(DEPOSIT)),
    Op("demoDeposit", "POST", "/v1/capital/deposit/demo", account.demo_deposit,
       "Credit yourself a demo deposit (only where DEMO_DEPOSITS is on, e.g. the local stack)", security=WEB,
       weight=10, tag="Funds", body="json", response=obj({"id": STR, "asset": STR, "amount": NUM}),
       params=(Param("asset", "str", required=True, pattern=r"^[A-Z0-9]{2,12}$"),
               Param("amount", "decimal", required=True))),
    Op("withdrawApply", "POST", "/v1/capital/withdraw/apply", account.withdraw_apply,
       "Request a withdrawal (funds are held until an operator completes or rejects it)",
       security=TRADE, weight=600, tag="Funds", response=obj({"id": STR}),
       params=(Param("coin", "str", required=True, pattern=r"^[A-Z0-9]{2,12}$"),
               Param("amount", "decimal", required=True),
               Param("address", "str", required=True, pattern=r"^[A-Za-z0-9:_.-]{1,128}$", max_len=128),
               Param("withdrawOrderId", "str", pattern=r"^[A-Za-z0-9._:-]{1,64}$"),
               Param("network", "str", pattern=r"^[A-Z0-9]{1,20}$"),
               Param("addressTag", "str", pattern=r"^[A-Za-z0-9]{0,64}$"),
               Param("name", "str", max_len=64, pattern=r"^[A-Za-z0-9 ._-]{0,64}$")) + SIGNED_PARAMS),
    Op("withdrawHistory", "GET", "/v1/capital/withdraw/history", account.withdraw_history, "Withdrawal history",
       security=USER_DATA, weight=1, params=_FUND_HISTORY + (Param("withdrawOrderId", "str",
                                                                  pattern=r"^[A-Za-z0-9._:-]{1,64}$"),),
       tag="Funds", response=arr(WITHDRAWAL)),
    # -- API keys (signed-in web users)
    Op("listApiKeys", "GET", "/v1/apiKeys", keys.list_keys, "List my API keys", security=WEB, tag="API keys",
       response=arr(API_KEY)),
    Op("createApiKey", "POST", "/v1/apiKeys", keys.create_key, "Create an API key (the secret is returned once)",
       security=WEB, tag="API keys", body="json", response=API_KEY_CREATED,
       params=(Param("label", "str", max_len=64, pattern=r"^[A-Za-z0-9 ._-]{0,64}$"),
               Param("canTrade", "bool"),
               Param("ipList", "str", pattern=r"^[0-9a-fA-F:./, ]{0,400}$", max_len=400,
                     description="comma-separated IPs/networks"))),
    Op("revokeApiKey", "DELETE", "/v1/apiKeys/{apiKey}", keys.revoke_key, "Revoke one of my API keys",
       security=WEB, tag="API keys", response=obj({"apiKey": STR, "revoked": BOOL})),
    # -- Cognito sign-up/sign-in for the web app
    Op("signUp", "POST", "/v1/auth/signUp", cognito.sign_up, "Sign up", tag="Auth", body="json",
       weight=10, response=obj({"userConfirmed": BOOL, "userSub": STR, "codeSentTo": {"type": ["string", "null"]}}),
       params=(Param("email", "str", required=True, pattern=EMAIL_RE, max_len=254),
               Param("password", "str", required=True, max_len=256, pattern=r"^[\x20-\x7e]{1,256}$"))),
    Op("confirmSignUp", "POST", "/v1/auth/confirm", cognito.confirm, "Confirm a sign-up with the emailed code",
       tag="Auth", body="json", weight=10, response=obj({"confirmed": BOOL}),
       params=(Param("email", "str", required=True, pattern=EMAIL_RE, max_len=254),
               Param("code", "str", required=True, pattern=r"^[0-9A-Za-z]{1,16}$"))),
    Op("signIn", "POST", "/v1/auth/signIn", cognito.sign_in, "Sign in (may answer with an MFA challenge)",
       tag="Auth", body="json", weight=10, response={"anyOf": [TOKENS, CHALLENGE]},
       params=(Param("email", "str", required=True, pattern=EMAIL_RE, max_len=254),
               Param("password", "str", required=True, max_len=256, pattern=r"^[\x20-\x7e]{1,256}$"))),
    Op("respondToChallenge", "POST", "/v1/auth/respondToChallenge", cognito.respond,
       "Answer a sign-in challenge (SOFTWARE_TOKEN_MFA)", tag="Auth", body="json", weight=10, response=TOKENS,
       params=(Param("email", "str", required=True, pattern=EMAIL_RE, max_len=254),
               Param("session", "str", required=True, max_len=4096, pattern=r"^[\x21-\x7e]{1,4096}$"),
               Param("challengeName", "enum", values=("SOFTWARE_TOKEN_MFA",), default="SOFTWARE_TOKEN_MFA"),
               Param("code", "str", required=True, pattern=r"^[0-9]{6}$"))),
    Op("refresh", "POST", "/v1/auth/refresh", cognito.refresh, "New tokens from a refresh token", tag="Auth",
       body="json", weight=10, response=TOKENS, params=(Param("refreshToken", "str", required=True, max_len=4096,
                                                              pattern=r"^[\x21-\x7e]{1,4096}$"),)),
    Op("mfaAssociate", "POST", "/v1/auth/mfa/associate", cognito.mfa_associate,
       "Start enrolling a TOTP authenticator (returns the secret)", security=WEB, tag="Auth", body="json",
       weight=10, response=obj({"secretCode": STR}),
       params=(Param("accessToken", "str", required=True, max_len=4096, pattern=r"^[\x21-\x7e]{1,4096}$"),)),
    Op("mfaVerify", "POST", "/v1/auth/mfa/verify", cognito.mfa_verify,
       "Finish enrolling a TOTP authenticator and turn TOTP MFA on", security=WEB, tag="Auth", body="json",
       weight=10, response=obj({"status": STR, "mfaEnabled": BOOL}),
       params=(Param("accessToken", "str", required=True, max_len=4096, pattern=r"^[\x21-\x7e]{1,4096}$"),
               Param("code", "str", required=True, pattern=r"^[0-9]{6}$"),
               Param("deviceName", "str", max_len=64, pattern=r"^[A-Za-z0-9 ._-]{0,64}$"))),
    # -- what stock clients ask of a Binance that has futures and margin (chalicelib/api/compat.py)
    Op("systemStatus", "GET", "/sapi/v1/system/status", compat.system_status, "System status", tag="Compat",
       response=obj({"status": INT, "msg": STR})),
    Op("futuresExchangeInfo", "GET", "/fapi/v1/exchangeInfo", compat.no_usdm_futures,
       "USD-M futures exchange information (no futures are listed)", tag="Compat", weight=1,
       response=obj({"timezone": STR, "serverTime": INT, "symbols": arr(obj({}))})),
    Op("deliveryExchangeInfo", "GET", "/dapi/v1/exchangeInfo", compat.no_coin_futures,
       "COIN-M futures exchange information (no futures are listed)", tag="Compat", weight=1,
       response=obj({"timezone": STR, "serverTime": INT, "symbols": arr(obj({}))})),
    Op("capitalConfig", "GET", "/sapi/v1/capital/config/getall", compat.no_coin_config,
       "Coin network configuration (none published)", security=USER_DATA, weight=10, tag="Compat",
       params=SIGNED_PARAMS, response=arr(obj({}))),
    Op("marginAllPairs", "GET", "/sapi/v1/margin/allPairs", compat.no_cross_margin_pairs,
       "Cross margin pairs (no margin trading)", security=USER_DATA, weight=1, tag="Compat",
       params=(SYM_OPT,) + SIGNED_PARAMS, response=arr(obj({}))),
    Op("marginIsolatedAllPairs", "GET", "/sapi/v1/margin/isolated/allPairs", compat.no_isolated_margin_pairs,
       "Isolated margin pairs (no margin trading)", security=USER_DATA, weight=10, tag="Compat",
       params=(SYM_OPT,) + SIGNED_PARAMS, response=arr(obj({}))),
    # -- operators (local/demo funds)
    Op("adminDeposit", "POST", "/v1/admin/deposits", admin.deposit, "Credit a deposit (operators)", security=ADMIN,
       tag="Admin", body="json", response=TRANSFER,
       params=(Param("user", "str", required=True,
                     pattern=r"^([0-9]{1,18}|[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190})$", max_len=254),
               Param("asset", "str", required=True, pattern=r"^[A-Z0-9]{2,12}$"),
               Param("amount", "decimal", required=True),
               Param("transferId", "str", pattern=r"^[A-Za-z0-9._:-]{1,64}$"))),
    Op("adminCompleteWithdrawal", "POST", "/v1/admin/withdrawals/{transferId}/complete", admin.complete_withdrawal,
       "Complete a pending withdrawal (operators)", security=ADMIN, tag="Admin", body="json", response=TRANSFER),
    Op("adminRejectWithdrawal", "POST", "/v1/admin/withdrawals/{transferId}/reject", admin.reject_withdrawal,
       "Reject a pending withdrawal; the funds return to free (operators)", security=ADMIN, tag="Admin", body="json",
       response=TRANSFER),
)

BY_ROUTE: dict[tuple[str, str], Op] = {(op.method, op.path): op for op in OPS}
BY_HANDLER: dict[Callable, Op] = {op.handler: op for op in OPS}
if len(BY_HANDLER) != len(OPS):
    raise RuntimeError("each operation needs a handler function of its own (routes find their Op by it)")
