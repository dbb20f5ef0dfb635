"""Trading operations: Binance's order endpoints over ``chalicelib.orders``.

This module checks what Binance checks before an order reaches the domain code
(mandatory parameters per order type, parameters that must not be sent, asset
precision -1111), builds the :class:`~chalicelib.orders.OrderRequest`, calls
:mod:`chalicelib.orders` (placement is idempotent per account + ``newClientOrderId``
there, on Aurora's unique key) and renders results the way Binance does (amounts as
8-decimal strings, ACK/RESULT/FULL).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.amounts import fmt as _s
from chalicelib.api import observability as obs
from chalicelib.api.params import check_time_window
from chalicelib.errors import ExchangeError, Failure, Reason
from chalicelib.orderviews import (
    new_client_order_id,
    render_amended,
    render_amendment,
    render_canceled,
    render_new,
    render_order,
    render_trade,
)
from chalicelib.symbols import listed_spec

if TYPE_CHECKING:
    from chalicelib.orders import OrderRequest

RESULT_WAIT_S = 1.5   # how long RESULT/FULL wait for the matcher
CANCEL_WAIT_S = 3.0   # how long a cancel waits for the engine's outcome (then -1007)

# Binance's rules of which parameters each order type needs (the stop types need
# ``stopPrice`` or ``trailingDelta``, or both: checked in order_request).
REQUIRED = {
    "LIMIT": ("timeInForce", "quantity", "price"),
    "MARKET": (),
    "STOP_LOSS": ("quantity",),
    "STOP_LOSS_LIMIT": ("timeInForce", "quantity", "price"),
    "TAKE_PROFIT": ("quantity",),
    "TAKE_PROFIT_LIMIT": ("timeInForce", "quantity", "price"),
    "LIMIT_MAKER": ("quantity", "price"),
}
NOT_ALLOWED = {
    "MARKET": ("price", "stopPrice", "timeInForce", "icebergQty", "trailingDelta"),
    "LIMIT": ("stopPrice", "quoteOrderQty", "trailingDelta"),
    "LIMIT_MAKER": ("stopPrice", "timeInForce", "quoteOrderQty", "trailingDelta"),
    "STOP_LOSS": ("price", "timeInForce", "quoteOrderQty", "icebergQty"),
    "TAKE_PROFIT": ("price", "timeInForce", "quoteOrderQty", "icebergQty"),
    "STOP_LOSS_LIMIT": ("quoteOrderQty",),
    "TAKE_PROFIT_LIMIT": ("quoteOrderQty",),
}
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def _orders():
    from chalicelib import orders

    return orders


def _not_required(name: str) -> ExchangeError:
    return ExchangeError(Failure(Reason.PARAM_NOT_REQUIRED, f"Parameter '{name}' sent when not required."))


def order_request(args, prefix: str = "") -> OrderRequest:
    """Check Binance's per-type rules and build the OrderRequest (no I/O)."""
    from chalicelib.api.params import decimal_places, mandatory

    otype = args["type"]
    for name in REQUIRED[otype]:
        if args[name] is None:
            raise mandatory(name)
    for name in NOT_ALLOWED[otype]:
        if args[name] is not None and not (name == "icebergQty" and args[name] == 0):  # 0: no iceberg
            raise _not_required(name)
    if otype in STOP_TYPES and args["stopPrice"] is None and args["trailingDelta"] is None:
        raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                    "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!"))
    if otype == "MARKET":
        if args["quantity"] is None and args["quoteOrderQty"] is None:
            raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"))
        if args["quantity"] is not None and args["quoteOrderQty"] is not None:
            raise _not_required("quoteOrderQty")
    spec = listed_spec(args["symbol"])  # a "symbol" parameter: listed (-1121 otherwise)
    for name, decimals in (("quantity", spec.base_precision), ("price", spec.quote_precision),
                           ("stopPrice", spec.quote_precision), ("quoteOrderQty", spec.quote_precision),
                           ("icebergQty", spec.base_precision)):
        v = args[name]
        if v is not None and decimal_places(v) > decimals:
            raise ExchangeError(Failure(Reason.BAD_PRECISION,
                                        f"Parameter '{name}' has too much precision."))
    return _orders().OrderRequest(
        symbol=args["symbol"], side=args["side"], type=otype, time_in_force=args["timeInForce"],
        quantity=args["quantity"], quote_order_qty=args["quoteOrderQty"], price=args["price"],
        stop_price=args["stopPrice"], client_order_id=args[prefix + "newClientOrderId"] or new_client_order_id(),
        stp_mode=args["selfTradePreventionMode"] or "NONE",
        iceberg_qty=args["icebergQty"] if args["icebergQty"] else None, trailing_delta=args["trailingDelta"])


# -- operations ------------------------------------------------------------------------------
def new_order(ctx) -> dict:
    req = order_request(ctx.args)
    o = _orders().place_order(ctx.account_id, req)  # idempotent per newClientOrderId: see orders.place_order
    obs.annotate(order_id=o["orderId"])
    obs.count("OrdersAccepted")
    resp_type = ctx.args["newOrderRespType"] or ("FULL" if req.type in ("LIMIT", "MARKET") else "ACK")
    result = None
    # Binance answers a LIMIT_MAKER that would take at once with -2010, not with an order:
    # so its answer waits for the matcher even when only an ACK was asked for
    if resp_type != "ACK" or req.type == "LIMIT_MAKER":
        result = _orders().wait_for_result(o["orderId"], RESULT_WAIT_S)
        if result is None:
            ctx.headers["X-Exchange-Result"] = "pending"
        elif req.type == "LIMIT_MAKER" and result["status"] == "REJECTED":
            raise ExchangeError(_orders().rejection(result.get("rejectReason")))
    return render_new(o, resp_type, result)


def test_order(ctx) -> dict:
    req = order_request(ctx.args)
    _orders().plan_order(req, ctx.account_id)
    if ctx.args["computeCommissionRates"]:
        spec = listed_spec(req.symbol)
        rate = spec.taker_fee
        return {"standardCommissionForOrder": {"maker": _s(spec.maker_fee), "taker": _s(spec.taker_fee)},
                "taxCommissionForOrder": {"maker": _s(0), "taker": _s(0)},
                "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": None,
                             "discount": _s(0)}} if rate is not None else {}
    return {}


def _need_order_ref(order_id, cid, name: str = "origClientOrderId") -> None:
    if order_id is None and not cid:
        raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                    f"Param '{name}' or 'orderId' must be sent, but both were empty/null!"))


def get_order(ctx) -> dict:
    a = ctx.args
    _need_order_ref(a["orderId"], a["origClientOrderId"])
    o = _orders().get_order(ctx.account_id, a["symbol"], order_id=a["orderId"],
                            orig_client_order_id=a["origClientOrderId"])
    if o is None:
        raise ExchangeError(Reason.NO_SUCH_ORDER)
    obs.annotate(order_id=o["orderId"])
    return render_order(o)


def cancel_order(ctx) -> dict:
    a = ctx.args
    _need_order_ref(a["orderId"], a["origClientOrderId"])
    if a["cancelRestrictions"]:
        current = _orders().get_order(ctx.account_id, a["symbol"], order_id=a["orderId"],
                                      orig_client_order_id=a["origClientOrderId"])
        wanted = "NEW" if a["cancelRestrictions"] == "ONLY_NEW" else "PARTIALLY_FILLED"
        if current is not None and current["status"] != wanted:
            raise ExchangeError(Failure(Reason.CANCEL_REJECTED, "Order was not canceled due to cancel restrictions."))
    o = _orders().cancel_order(ctx.account_id, a["symbol"], a["orderId"], a["origClientOrderId"],
                               wait_s=CANCEL_WAIT_S)
    obs.annotate(order_id=o["orderId"])
    return render_canceled(o, a["origClientOrderId"], a["newClientOrderId"])


def cancel_replace(ctx) -> dict:
    """Binance's answer per outcome: both succeeded 200; the cancel failed and the new
    order was not attempted (STOP_ON_FAILURE) or failed too 400 -2022; one of the two
    failed 409 -2021.  A failed half is its ``{"code", "msg"}``."""
    a = ctx.args
    _need_order_ref(a["cancelOrderId"], a["cancelOrigClientOrderId"], "cancelOrigClientOrderId")
    req = order_request(a)
    res = _orders().cancel_replace(ctx.account_id, a["symbol"], a["cancelOrderId"], a["cancelOrigClientOrderId"],
                                   req, a["cancelReplaceMode"], wait_s=CANCEL_WAIT_S)
    resp_type = a["newOrderRespType"] or "FULL"
    if res.new_ok:
        obs.count("OrdersAccepted")
    body = {"cancelResult": "SUCCESS" if res.cancel_ok else "FAILURE",
            "newOrderResult": "SUCCESS" if res.new_ok else ("NOT_ATTEMPTED" if res.new is None else "FAILURE"),
            "cancelResponse": render_canceled(res.cancel, a["cancelOrigClientOrderId"], a["cancelNewClientOrderId"])
            if res.cancel_ok else res.cancel.body(),
            "newOrderResponse": render_new(res.new, resp_type, res.new) if res.new_ok
            else (res.new.body() if res.new is not None else None)}
    if res.cancel_ok and res.new_ok:
        return body
    if res.cancel_ok or res.new_ok:
        ctx.status = 409
        return {"code": -2021, "msg": "Order cancel-replace partially failed.", "data": body}
    ctx.status = 400
    return {"code": -2022, "msg": "Order cancel-replace failed.", "data": body}


def amend_keep_priority(ctx) -> dict:
    """Binance's order amend keep priority: lower ``newQty`` in place, answered from
    the engine's outcome (see :func:`chalicelib.orders.amend_order`)."""
    a = ctx.args
    _need_order_ref(a["orderId"], a["origClientOrderId"])
    res = _orders().amend_order(ctx.account_id, a["symbol"], a["orderId"], a["origClientOrderId"],
                                a["newClientOrderId"] or new_client_order_id(), a["newQty"], wait_s=CANCEL_WAIT_S)
    obs.annotate(order_id=res["order"]["orderId"])
    return render_amended(res["order"], res["amendment"])


def order_amendments(ctx) -> list:
    a = ctx.args
    rows = _orders().order_amendments(ctx.account_id, a["symbol"], a["orderId"], a["fromExecutionId"],
                                      a.get("limit", 500))
    return [render_amendment(r) for r in rows]


def open_orders(ctx) -> list:
    return [render_order(o) for o in _orders().open_orders(ctx.account_id, ctx.args["symbol"])]


def cancel_open_orders(ctx) -> list:
    """Exactly the orders this request cancelled, with their final fields."""
    done = _orders().cancel_open_orders(ctx.account_id, ctx.args["symbol"], wait_s=CANCEL_WAIT_S)
    return [render_canceled(o, None, None) for o in done]


def all_orders(ctx) -> list:
    """Binance's allOrders: with ``startTime`` and/or ``endTime`` (at most 24 h apart,
    -1127) ``orderId`` is ignored; with ``orderId`` alone, orders from that id on."""
    a = ctx.args
    check_time_window(a["startTime"], a["endTime"])
    timed = a["startTime"] is not None or a["endTime"] is not None
    return [render_order(o) for o in _orders().all_orders(ctx.account_id, a["symbol"],
                                                           None if timed else a["orderId"], a["startTime"],
                                                           a["endTime"], a.get("limit", 500))]


def my_trades(ctx) -> list:
    """Binance's myTrades and its combinations: ``symbol`` with nothing, ``orderId``,
    ``startTime``, ``endTime``, ``fromId``, ``startTime`` + ``endTime`` (at most 24 h
    apart, -1127) or ``orderId`` + ``fromId``; a time bound with ``orderId`` or
    ``fromId`` is -1128."""
    a = ctx.args
    timed = a["startTime"] is not None or a["endTime"] is not None
    if timed and (a["fromId"] is not None or a["orderId"] is not None):
        raise ExchangeError(Reason.OPTIONAL_PARAMS_BAD_COMBO)
    check_time_window(a["startTime"], a["endTime"])
    rows = _orders().my_trades(ctx.account_id, a["symbol"], a["orderId"], a["startTime"], a["endTime"], a["fromId"],
                               a.get("limit", 500))
    return [render_trade(t) for t in rows]


def my_prevented_matches(ctx) -> list:
    from chalicelib.preventedmatches import my_prevented_matches as read

    a = ctx.args
    return read(ctx.account_id, a["symbol"], a["preventedMatchId"], a["orderId"], a["fromPreventedMatchId"],
                a.get("limit", 500))


def rate_limit_order(ctx) -> list:
    from chalicelib.api.ratelimit import order_usage

    return order_usage(ctx.account_id)
