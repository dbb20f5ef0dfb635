"""Order list operations: Binance's ``/api/v3/orderList/*`` endpoints over
:mod:`chalicelib.orderlists` (OCO; the legacy ``POST /api/v3/order/oco`` too).

Each leg of an OCO is checked as a plain order (``trading.order_request``: Binance's
per-type mandatory and forbidden parameters, precision) from the leg's prefixed
parameters (``abovePrice`` is the above leg's ``price``), so a leg is refused for
what a single order would be refused for, named by its prefixed parameter.
"""
from __future__ import annotations

from chalicelib.api import observability as obs, trading
from chalicelib.api.params import check_time_window
from chalicelib.api.trading import order_request
from chalicelib.errors import ExchangeError, Failure, Reason
from chalicelib.orderviews import new_client_order_id, render_canceled, render_new, render_order_list

_LEG_FIELDS = ("Type", "TimeInForce", "Price", "StopPrice", "IcebergQty", "TrailingDelta", "ClientOrderId")


def _orderlists():
    from chalicelib import orderlists

    return orderlists


class _LegArgs(dict):
    """A leg's parameters under the names a single order has."""


def _leg(a, prefix: str, side: str | None = None, quantity=None, **given):
    leg = _LegArgs(symbol=a["symbol"], side=side or a["side"], quantity=quantity if quantity is not None
                   else a["quantity"], quoteOrderQty=None, selfTradePreventionMode=a["selfTradePreventionMode"])
    for name in _LEG_FIELDS:
        key = name[0].lower() + name[1:]
        leg["newClientOrderId" if key == "clientOrderId" else key] = given.get(key, a.get(prefix + name))
    try:
        req = order_request(leg)
        # iceberg and trailing legs (Binance's legIcebergQty / legTrailingDelta) are not
        # built for lists: refused as the lists were before icebergs and trailing stops
        if req.iceberg_qty is not None:
            raise ExchangeError(Failure(Reason.UNSUPPORTED_OPERATION, "Iceberg orders are not supported."))
        if req.trailing_delta is not None:
            raise ExchangeError(Failure(Reason.UNSUPPORTED_OPERATION, "Trailing stops are not supported."))
        return req
    except ExchangeError as exc:  # name the leg's own parameter, as Binance does
        f = exc.failure
        if f.detail:
            for name in _LEG_FIELDS:
                plain = name[0].lower() + name[1:]
                f = Failure(f.reason, f.detail.replace(f"'{plain}'", f"'{prefix}{name}'")) if f.detail else f
        raise ExchangeError(f) from None


def _place(ctx, below, above, working=None) -> dict:
    """Place an OCO (``below``, ``above``), or with ``working`` an OTO (``above`` its
    pending order, ``below`` None) or an OTOCO (``below``, ``above`` its pending pair)."""
    a = ctx.args
    lists = _orderlists()
    list_cid = a["listClientOrderId"] or new_client_order_id()
    if working is None:
        req = lists.OcoRequest(a["symbol"], list_cid, below, above)
    else:
        req = lists.OtoRequest(a["symbol"], list_cid, working, above, below)
    placed = lists.place_oco(ctx.account_id, req)
    obs.annotate(order_id=placed["orders"][0]["orderId"])
    obs.count("OrdersAccepted")
    resp_type = a["newOrderRespType"] or "RESULT"
    # Binance refuses an OCO whose leg would take or trigger at once with an error, not
    # a list: the answer waits for the matcher even when only an ACK was asked for
    done = lists.wait_for_list(placed, trading.RESULT_WAIT_S)
    if done is None:
        ctx.headers["X-Exchange-Result"] = "pending"
        return render_order_list(placed, [render_new(o, resp_type, None) for o in placed["orders"]])
    refused = [o for o in done["orders"] if o["status"] == "REJECTED"]
    if refused:
        from chalicelib.orders import rejection

        raise ExchangeError(rejection(refused[0].get("rejectReason")))
    return render_order_list(done, [render_new(o, resp_type, o) for o in done["orders"]])


def check_types(a, above_type: str, below_type: str) -> None:
    _orderlists().check_oco_sides(a["side"], above_type, below_type)


def new_oco(ctx) -> dict:
    """``POST /api/v3/orderList/oco``: the aboveX / belowX form."""
    a = ctx.args
    check_types(a, a["aboveType"], a["belowType"])
    return _place(ctx, _leg(a, "below"), _leg(a, "above"))


def new_oco_legacy(ctx) -> dict:
    """``POST /api/v3/order/oco`` (deprecated on Binance): a LIMIT_MAKER at ``price``
    and a STOP_LOSS (or, with ``stopLimitPrice``, STOP_LOSS_LIMIT) at ``stopPrice``;
    for a SELL the limit leg is above, for a BUY below.  Answered in the new form's
    shape with the legs in Binance's order (stop leg first)."""
    a = ctx.args
    stop_type = "STOP_LOSS_LIMIT" if a["stopLimitPrice"] is not None else "STOP_LOSS"
    limit = dict(type="LIMIT_MAKER", timeInForce=None, price=a["price"], stopPrice=None,
                 icebergQty=a["limitIcebergQty"], trailingDelta=None,
                 clientOrderId=a["limitClientOrderId"])
    stop = dict(type=stop_type, timeInForce=a["stopLimitTimeInForce"] if stop_type == "STOP_LOSS_LIMIT" else None,
                price=a["stopLimitPrice"], stopPrice=a["stopPrice"], icebergQty=a["stopIcebergQty"],
                trailingDelta=a["trailingDelta"], clientOrderId=a["stopClientOrderId"])
    if stop_type == "STOP_LOSS_LIMIT" and stop["timeInForce"] is None:
        raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                    "Mandatory parameter 'stopLimitTimeInForce' was not sent, was empty/null,"
                                    " or malformed."))
    above, below = (limit, stop) if a["side"] == "SELL" else (stop, limit)
    check_types(a, above["type"], below["type"])
    return _place(ctx, _leg(a, "below", **below), _leg(a, "above", **above))


def new_oto(ctx) -> dict:
    """``POST /api/v3/orderList/oto``: a working order (workingX) and a pending order
    (pendingX), each with its own side and quantity."""
    a = ctx.args
    if a["workingType"] not in ("LIMIT", "LIMIT_MAKER"):
        raise ExchangeError(Reason.INVALID_ORDER_TYPE)
    working = _leg(a, "working", side=a["workingSide"], quantity=a["workingQuantity"])
    pending = _leg(a, "pending", side=a["pendingSide"], quantity=a["pendingQuantity"])
    return _place(ctx, None, pending, working)


def new_otoco(ctx) -> dict:
    """``POST /api/v3/orderList/otoco``: a working order and a pending OCO pair
    (pendingAboveX / pendingBelowX, one pendingSide and pendingQuantity)."""
    a = ctx.args
    if a["workingType"] not in ("LIMIT", "LIMIT_MAKER"):
        raise ExchangeError(Reason.INVALID_ORDER_TYPE)
    if a["pendingBelowType"] is None:
        raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                    "Mandatory parameter 'pendingBelowType' was not sent, was empty/null, or"
                                    " malformed."))
    _orderlists().check_oco_sides(a["pendingSide"], a["pendingAboveType"], a["pendingBelowType"])
    working = _leg(a, "working", side=a["workingSide"], quantity=a["workingQuantity"])
    below = _leg(a, "pendingBelow", side=a["pendingSide"], quantity=a["pendingQuantity"])
    above = _leg(a, "pendingAbove", side=a["pendingSide"], quantity=a["pendingQuantity"])
    return _place(ctx, below, above, working)


def cancel_order_list(ctx) -> dict:
    a = ctx.args
    if a["orderListId"] is None and not a["listClientOrderId"]:
        raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                    "Param 'listClientOrderId' or 'orderListId' must be sent, but both were"
                                    " empty/null!"))
    done = _orderlists().cancel_order_list(ctx.account_id, a["symbol"], a["orderListId"], a["listClientOrderId"],
                                           wait_s=trading.CANCEL_WAIT_S)
    return render_order_list(done, [render_canceled(o, None, None) for o in done["orders"]])


def get_order_list(ctx) -> dict:
    a = ctx.args
    found = _orderlists().get_order_list(ctx.account_id, a["orderListId"], a["origClientOrderId"])
    if found is None:
        raise ExchangeError(Failure(Reason.NO_SUCH_ORDER, "Order list does not exist."))
    return render_order_list(found)


def all_order_lists(ctx) -> list:
    a = ctx.args
    if a["fromId"] is not None and (a["startTime"] is not None or a["endTime"] is not None):
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "fromId cannot be sent with startTime or endTime."))
    check_time_window(a["startTime"], a["endTime"])
    return [render_order_list(x) for x in _orderlists().all_order_lists(
        ctx.account_id, a["fromId"], a["startTime"], a["endTime"], a.get("limit", 500))]


def open_order_lists(ctx) -> list:
    return [render_order_list(x) for x in _orderlists().open_order_lists(ctx.account_id)]
