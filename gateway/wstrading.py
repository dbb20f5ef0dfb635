"""The WebSocket API's trading requests: ``order.place``, ``order.test``, ``order.cancel``,
``order.cancelReplace``, ``order.amend.keepPriority``, ``openOrders.cancelAll``, the order
lists' ``orderList.place.oco``, ``.oto``, ``.otoco`` (and the deprecated ``orderList.place``), ``orderList.cancel``,
and the signed reads ``allOrders``, ``order.amendments``, ``account.rateLimits.orders``,
``orderList.status``, ``openOrderLists.status`` and ``allOrderLists``.

Each is the REST operation of the same meaning (``chalicelib.api.trading`` through the
operation table ``chalicelib.api.ops``: parameters, weight, security, errors), run by
:func:`gateway.wsapi.run`.  What the socket adds is here: the unfilled-order count an
order request is charged (the REST route's ``X-MBX-ORDER-COUNT-*`` headers) as Binance's
``ORDERS`` entries in ``rateLimits``, and the ``retryAfter`` data of a 429/418.
"""
from __future__ import annotations

from chalicelib.api import lists, trading

#: WebSocket API method -> the REST operation's handler.
METHODS = {
    "order.place": trading.new_order, "order.test": trading.test_order, "order.cancel": trading.cancel_order,
    "order.cancelReplace": trading.cancel_replace, "openOrders.cancelAll": trading.cancel_open_orders,
    "order.amend.keepPriority": trading.amend_keep_priority, "order.amendments": trading.order_amendments,
    "allOrders": trading.all_orders, "account.rateLimits.orders": trading.rate_limit_order,
    "orderList.place.oco": lists.new_oco, "orderList.place": lists.new_oco_legacy,
    "orderList.place.oto": lists.new_oto, "orderList.place.otoco": lists.new_otoco,
    "orderList.cancel": lists.cancel_order_list, "orderList.status": lists.get_order_list,
    "openOrderLists.status": lists.open_order_lists, "allOrderLists": lists.all_order_lists,
}


def order_rate_limits(headers: dict | None) -> list[dict]:
    """The ``ORDERS`` entries of ``rateLimits`` from the order counter's headers (none
    when the counter failed open)."""
    from chalicelib.api.ratelimit import LIMITS

    headers = headers or {}
    out = []
    for header, interval, num, limit in (("X-MBX-ORDER-COUNT-10S", "SECOND", 10, LIMITS.orders_per_10s),
                                         ("X-MBX-ORDER-COUNT-1D", "DAY", 1, LIMITS.orders_per_day)):
        if header in headers:
            out.append({"rateLimitType": "ORDERS", "interval": interval, "intervalNum": num, "limit": limit,
                        "count": int(headers[header])})
    return out


def charge_order(account_id: int) -> list[dict]:
    """Count one order for the account as the REST route does (raises 429 -1015 over the
    limit, the exception carrying the counts)."""
    from chalicelib.api import ratelimit

    return order_rate_limits(ratelimit.charge_order(account_id))


def retry_data(status: int, headers: dict | None) -> dict | None:
    """Binance's ``data`` of a 429/418: ``serverTime`` and ``retryAfter`` (ms)."""
    from chalicelib import clock

    retry = (headers or {}).get("Retry-After")
    if status not in (418, 429) or retry is None:
        return None
    now = clock.now_ms()
    return {"serverTime": now, "retryAfter": now + int(retry) * 1000}


def special_commission(op_id: str, result):
    """``order.test`` with ``computeCommissionRates`` answers, over the socket, a
    ``specialCommissionForOrder`` too (none here: zero rates) between the standard and
    the tax rates."""
    if op_id != "testOrder" or not isinstance(result, dict) or "standardCommissionForOrder" not in result:
        return result
    from chalicelib.amounts import fmt

    rest = {k: v for k, v in result.items() if k != "standardCommissionForOrder"}
    return {"standardCommissionForOrder": result["standardCommissionForOrder"],
            "specialCommissionForOrder": {"maker": fmt(0), "taker": fmt(0)}, **rest}


def warm_up() -> None:
    """Open, before the first order arrives, what an order request needs (the Data API
    and DynamoDB clients, the domain modules): a cold first order otherwise waits
    seconds for them.  Runs in a worker thread at startup; a failure only logs."""
    import logging

    try:
        from chalicelib import orders  # noqa: F401
        from chalicelib.clients import get_clients
        from chalicelib.db import autocommit
        from chalicelib.tables import IntentModel

        autocommit(get_clients()).one("SELECT 1 AS one", {})
        IntentModel.exists()
    except Exception:
        logging.getLogger("gateway").warning("ws-api warm-up failed", exc_info=True)
