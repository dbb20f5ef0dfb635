"""Trading operations: Binance's order endpoints over ``chalicelib.orders``.

This module checks what Binance checks before an order reaches the domain code
(mandatory parameters per order type, parameters that must not be sent, asset
precision -1111), builds the :class:`~chalicelib.orders.OrderRequest`, makes placement
idempotent per account + ``newClientOrderId`` (Powertools Idempotency over Redis), and
renders results the way Binance does (amounts as 8-decimal strings, ACK/RESULT/FULL).
"""
from __future__ import annotations

import secrets
import string
import time
from decimal import Decimal

from chalicelib.api import observability as obs
from chalicelib.errors import ExchangeError, Failure, Reason
from chalicelib.amounts import fmt as _s

RESULT_WAIT_S = 1.5   # how long RESULT/FULL wait for the matcher
CANCEL_WAIT_S = 3.0   # how long a cancel waits for the engine's outcome (then -1007)
IDEMPOTENCY_TTL_S = 3600
_ID_CHARS = string.ascii_letters + string.digits

# Binance's rules of which parameters each order type needs.
REQUIRED = {
    "LIMIT": ("timeInForce", "quantity", "price"),
    "MARKET": (),
    "STOP_LOSS": ("quantity", "stopPrice"),
    "STOP_LOSS_LIMIT": ("timeInForce", "quantity", "price", "stopPrice"),
    "TAKE_PROFIT": ("quantity", "stopPrice"),
    "TAKE_PROFIT_LIMIT": ("timeInForce", "quantity", "price", "stopPrice"),
    "LIMIT_MAKER": ("quantity", "price"),
}
NOT_ALLOWED = {
    "MARKET": ("price", "stopPrice", "timeInForce"),
    "LIMIT": ("stopPrice", "quoteOrderQty"),
    "LIMIT_MAKER": ("stopPrice", "timeInForce", "quoteOrderQty"),
    "STOP_LOSS": ("price", "timeInForce", "quoteOrderQty"),
    "TAKE_PROFIT": ("price", "timeInForce", "quoteOrderQty"),
    "STOP_LOSS_LIMIT": ("quoteOrderQty",),
    "TAKE_PROFIT_LIMIT": ("quoteOrderQty",),
}


def _orders():
    from chalicelib import orders

    return orders


def _spec(symbol: str):
    from chalicelib.symbols import load_catalog

    return load_catalog().symbol(symbol)


def new_client_order_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


def _not_required(name: str) -> ExchangeError:
    return ExchangeError(Failure(Reason.PARAM_NOT_REQUIRED, f"Parameter '{name}' sent when not required."))


def order_request(args, prefix: str = "") -> "object":
    """Check Binance's per-type rules and build the OrderRequest (no I/O)."""
    from chalicelib.api.params import decimal_places, mandatory

    otype = args["type"]
    for name in REQUIRED[otype]:
        if args[name] is None:
            raise mandatory(name)
    for name in NOT_ALLOWED[otype]:
        if args[name] is not None:
            raise _not_required(name)
    if otype == "MARKET":
        if args["quantity"] is None and args["quoteOrderQty"] is None:
            raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"))
        if args["quantity"] is not None and args["quoteOrderQty"] is not None:
            raise _not_required("quoteOrderQty")
    if args["icebergQty"] is not None and args["icebergQty"] != 0:
        raise ExchangeError(Failure(Reason.UNSUPPORTED_OPERATION, "Iceberg orders are not supported."))
    if args["trailingDelta"] is not None:
        raise ExchangeError(Failure(Reason.UNSUPPORTED_OPERATION, "Trailing stops are not supported."))
    spec = _spec(args["symbol"])
    for name, decimals in (("quantity", spec.base_precision), ("price", spec.quote_precision),
                           ("stopPrice", spec.quote_precision), ("quoteOrderQty", spec.quote_precision)):
        v = args[name]
        if v is not None and decimal_places(v) > decimals:
            raise ExchangeError(Failure(Reason.BAD_PRECISION,
                                        f"Parameter '{name}' has too much precision."))
    return _orders().OrderRequest(
        symbol=args["symbol"], side=args["side"], type=otype, time_in_force=args["timeInForce"],
        quantity=args["quantity"], quote_order_qty=args["quoteOrderQty"], price=args["price"],
        stop_price=args["stopPrice"], client_order_id=args[prefix + "newClientOrderId"] or new_client_order_id(),
        stp_mode=args["selfTradePreventionMode"] or "NONE")


# -- rendering -------------------------------------------------------------------------------


_AMOUNTS = ("price", "origQty", "executedQty", "cummulativeQuoteQty", "stopPrice", "icebergQty",
            "origQuoteOrderQty", "qty", "quoteQty", "commission")
_ORDER_KEYS = ("symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty",
               "cummulativeQuoteQty", "status", "timeInForce", "type", "side", "stopPrice", "icebergQty", "time",
               "updateTime", "isWorking", "workingTime", "origQuoteOrderQty", "selfTradePreventionMode")


def _amounts(d: dict) -> dict:
    return {k: (_s(v) if k in _AMOUNTS else v) for k, v in d.items()}


def render_order(o: dict) -> dict:
    """``GET /v3/order`` shape."""
    return _amounts({k: o.get(k) for k in _ORDER_KEYS})


def render_new(o: dict, resp_type: str, result: dict | None) -> dict:
    base = {"symbol": o["symbol"], "orderId": o["orderId"], "orderListId": -1, "clientOrderId": o["clientOrderId"],
            "transactTime": o.get("transactTime") or o.get("time") or int(time.time() * 1000)}
    if resp_type == "ACK":
        return base
    cur = result or o
    out = dict(base)
    out.update(_amounts({k: cur.get(k) for k in ("price", "origQty", "executedQty", "origQuoteOrderQty",
                                                 "cummulativeQuoteQty", "status", "timeInForce", "type", "side")}))
    out["workingTime"] = cur.get("workingTime", -1)
    out["selfTradePreventionMode"] = cur.get("selfTradePreventionMode", "NONE")
    if cur.get("stopPrice") and Decimal(cur["stopPrice"]):
        out["stopPrice"] = _s(cur["stopPrice"])
    if resp_type == "FULL":
        out["fills"] = [_amounts({"price": f["price"], "qty": f["qty"], "commission": f["commission"],
                                  "commissionAsset": f["commissionAsset"], "tradeId": f["tradeId"]})
                        for f in (cur.get("fills") or [])]
    if result is None:
        out["resultPending"] = True  # the matcher's result did not arrive within RESULT_WAIT_S
    return out


def render_canceled(o: dict, orig_cid: str | None, new_cid: str | None) -> dict:
    return _amounts({
        "symbol": o["symbol"], "origClientOrderId": o["clientOrderId"], "orderId": o["orderId"], "orderListId": -1,
        "clientOrderId": new_cid or new_client_order_id(), "transactTime": int(time.time() * 1000),
        "price": o.get("price"), "origQty": o.get("origQty"), "executedQty": o.get("executedQty"),
        "cummulativeQuoteQty": o.get("cummulativeQuoteQty"), "status": o.get("status"),
        "timeInForce": o.get("timeInForce"), "type": o.get("type"), "side": o.get("side"),
        "selfTradePreventionMode": o.get("selfTradePreventionMode", "NONE")})


def render_trade(t: dict) -> dict:
    return _amounts({k: t.get(k) for k in ("symbol", "id", "orderId", "orderListId", "price", "qty", "quoteQty",
                                           "commission", "commissionAsset", "time", "isBuyer", "isMaker",
                                           "isBestMatch")})


# -- idempotent placement --------------------------------------------------------------------
_idempotent_place = None


def _place_idempotently():
    """``place(data)`` wrapped in Powertools Idempotency, keyed by account +
    clientOrderId, with the request itself as the payload that must match."""
    global _idempotent_place
    if _idempotent_place is None:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
        from aws_lambda_powertools.utilities.idempotency.persistence.redis import RedisCachePersistenceLayer

        from chalicelib.clients import get_clients

        class Layer(RedisCachePersistenceLayer):
            """Powertools 3.37's Redis layer drops the payload hash when it marks a
            record COMPLETED, so every retry would fail validation; keep it."""

            def _update_record(self, data_record):
                if not self.payload_validation_enabled:
                    return super()._update_record(data_record)
                item = {self.data_attr: data_record.response_data, self.status_attr: data_record.status,
                        self.expiry_attr: data_record.expiry_timestamp,
                        self.validation_key_attr: data_record.payload_hash}
                self.client.set(name=data_record.idempotency_key, value=self._json_serializer(item),
                                ex=self._get_expiry_second(data_record.expiry_timestamp))

        c = get_clients()
        layer = Layer(client=c.redis)
        config = IdempotencyConfig(event_key_jmespath="[account_id, client_order_id]",
                                   payload_validation_jmespath="request", expires_after_seconds=IDEMPOTENCY_TTL_S,
                                   raise_on_no_idempotency_key=True, use_local_cache=False)

        @idempotent_function(data_keyword_argument="data", persistence_store=layer, config=config,
                             key_prefix=f"{c.settings.redis_key_prefix}idem:newOrder")
        def place(data: dict) -> dict:
            from chalicelib.orders import OrderRequest

            r = data["request"]
            req = OrderRequest(**{**r, **{k: (Decimal(r[k]) if r[k] is not None else None)
                                          for k in ("quantity", "quote_order_qty", "price", "stop_price")}})
            o = _orders().place_order(data["account_id"], req)
            return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in o.items()}

        place.config = config
        _idempotent_place = place
    return _idempotent_place


def place(account_id: int, req, lambda_context=None) -> dict:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    request = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in req.__dict__.items()}
    fn = _place_idempotently()
    if lambda_context is not None:
        fn.config.register_lambda_context(lambda_context)
    try:
        return fn(data={"account_id": account_id, "client_order_id": req.client_order_id,
                                           "request": request})
    except (IdempotencyValidationError, IdempotencyAlreadyInProgressError) as exc:
        obs.logger.info("duplicate clientOrderId", extra={"error": type(exc).__name__})
        raise ExchangeError(Reason.DUPLICATE_ORDER) from None


# -- operations ------------------------------------------------------------------------------
def new_order(ctx) -> dict:
    req = order_request(ctx.args)
    try:
        o = place(ctx.account_id, req, getattr(ctx.request, "lambda_context", None))
    except ExchangeError:
        raise
    obs.annotate(order_id=o["orderId"])
    obs.count("OrdersAccepted")
    resp_type = ctx.args["newOrderRespType"] or ("FULL" if req.type in ("LIMIT", "MARKET") else "ACK")
    result = None
    if resp_type != "ACK":
        result = _orders().wait_for_result(o["orderId"], RESULT_WAIT_S)
        if result is None:
            ctx.headers["X-Exchange-Result"] = "pending"
    return render_new(o, resp_type, result)


def test_order(ctx) -> dict:
    req = order_request(ctx.args)
    _orders().plan_order(req, ctx.account_id)
    if ctx.args["computeCommissionRates"]:
        spec = _spec(req.symbol)
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


def open_orders(ctx) -> list:
    return [render_order(o) for o in _orders().open_orders(ctx.account_id, ctx.args["symbol"])]


def cancel_open_orders(ctx) -> list:
    """Exactly the orders this request cancelled, with their final fields."""
    done = _orders().cancel_open_orders(ctx.account_id, ctx.args["symbol"], wait_s=CANCEL_WAIT_S)
    return [render_canceled(o, None, None) for o in done]


def all_orders(ctx) -> list:
    a = ctx.args
    return [render_order(o) for o in _orders().all_orders(ctx.account_id, a["symbol"], a["orderId"], a["startTime"],
                                                           a["endTime"], a.get("limit", 500))]


def my_trades(ctx) -> list:
    a = ctx.args
    if a["fromId"] is not None and (a["startTime"] is not None or a["endTime"] is not None):
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER,
                                    "fromId cannot be sent with startTime or endTime."))
    rows = _orders().my_trades(ctx.account_id, a["symbol"], a["orderId"], a["startTime"], a["endTime"], a["fromId"],
                               a.get("limit", 500))
    return [render_trade(t) for t in rows]


def rate_limit_order(ctx) -> list:
    from chalicelib.api.ratelimit import order_usage

    return order_usage(ctx.account_id)
