"""Orders, trades and fills in Binance's words: the one place they are rendered.

Two steps, both here: a row of ``orders`` / ``trades`` (as :mod:`chalicelib.orders`
reads it) becomes a dict with Binance's field names and ``Decimal`` amounts at the
symbol's decimals (``order_dict``, ``trade_dict``, ``fill_dict``: what the domain code
returns and compares), and that becomes a response body with amounts as fixed-point
strings (``render_*``: what ``chalicelib/api/trading.py`` answers).
"""
from __future__ import annotations

import secrets
import string
from decimal import ROUND_FLOOR, Decimal

from chalicelib.amounts import fmt as _s
from chalicelib.clock import now_ms
from chalicelib.symbols import listed_spec

_ID_CHARS = string.ascii_letters + string.digits


def new_client_order_id() -> str:
    """A random clientOrderId for a request that sent none (22 characters, as Binance's)."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


def order_dict(row: dict) -> dict:
    """An orders row in Binance's words (amounts as Decimal at the symbol's decimals)."""
    spec = listed_spec(row["symbol"])
    pq = Decimal(1).scaleb(-spec.price_decimals)
    qq = Decimal(1).scaleb(-spec.qty_decimals)
    cq = Decimal(1).scaleb(-spec.quote_precision)

    def q(v, unit):
        return (Decimal(0) if v is None else Decimal(str(v))).quantize(unit)

    created = int(row["created_ms"] or 0)
    return {
        "symbol": row["symbol"],
        "orderId": int(row["order_id"]),
        "orderListId": int(row["order_list_id"]) if row.get("order_list_id") is not None else -1,
        "clientOrderId": row["client_order_id"],
        "price": q(row["price"], pq),
        "origQty": q(row["orig_qty"], qq),
        "executedQty": q(row["executed_qty"], qq),
        "cummulativeQuoteQty": q(row["cum_quote_qty"], cq),
        "status": row["status"],
        "timeInForce": row["time_in_force"] or "GTC",
        "type": row["type"],
        "side": row["side"],
        "stopPrice": q(row["stop_price"], pq),
        "icebergQty": q(row.get("iceberg_qty"), qq),
        "time": created,
        "updateTime": int(row["updated_ms"] or created),
        "isWorking": row["status"] not in ("PENDING_NEW", "REJECTED") and row["type"] not in (
            "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT") or row.get("working_ms") is not None,
        "workingTime": int(row["working_ms"]) if row.get("working_ms") is not None else -1,
        "origQuoteOrderQty": q(row["orig_quote_qty"], cq),
        "selfTradePreventionMode": row["stp_mode"],
        "transactTime": created,
        "rejectReason": row.get("reject_reason"),
        **({"preventedMatchId": int(row["prevented_match_id"]),
            "preventedQuantity": q(row["prevented_qty"], qq)} if row.get("prevented_match_id") is not None else {}),
        **_trailing_fields(row),
    }


def _trailing_fields(row: dict) -> dict:
    """A trailing stop's ``trailingDelta`` and ``trailingTime`` (when it started tracking
    the price; -1 until then); nothing for any other order, as on Binance."""
    if row.get("trailing_delta") is None:
        return {}
    ms = row.get("trailing_ms")
    return {"trailingDelta": int(row["trailing_delta"]), "trailingTime": int(ms) if ms is not None else -1}


def trade_dict(r: dict, spec) -> dict:
    """A trades row seen by one side (``is_buyer``) in Binance's myTrades words."""
    pq = Decimal(1).scaleb(-spec.price_decimals)
    qq = Decimal(1).scaleb(-spec.qty_decimals)
    cq = Decimal(1).scaleb(-spec.quote_precision)
    buyer = bool(r["is_buyer"])
    fee = Decimal(str(r["buyer_fee"] if buyer else r["seller_fee"]))
    time_ms = int(r["time_ms"])
    return {
        "symbol": r["symbol"], "id": int(r["trade_id"]),
        "orderId": int(r["buyer_order_id"] if buyer else r["seller_order_id"]),
        "orderListId": int(r["order_list_id"]) if r.get("order_list_id") is not None else -1,
        "price": Decimal(str(r["price"])).quantize(pq), "qty": Decimal(str(r["qty"])).quantize(qq),
        "quoteQty": Decimal(str(r["quote_qty"])).quantize(cq, rounding=ROUND_FLOOR),
        "commission": fee.normalize() if fee else Decimal(0),
        "commissionAsset": r["buyer_fee_asset"] if buyer else r["seller_fee_asset"],
        "time": time_ms, "isBuyer": buyer, "isMaker": bool(r["is_buyer_maker"]) == buyer, "isBestMatch": True,
    }


def fill_dict(r: dict, order_id: int) -> dict:
    """A trades row as one fill of order ``order_id`` (newOrderRespType FULL)."""
    buyer = int(r["buyer_order_id"]) == order_id
    return {"price": Decimal(str(r["price"])), "qty": Decimal(str(r["qty"])),
            "commission": Decimal(str(r["buyer_fee"] if buyer else r["seller_fee"])),
            "commissionAsset": r["buyer_fee_asset"] if buyer else r["seller_fee_asset"],
            "tradeId": int(r["trade_id"])}


# -- response bodies ---------------------------------------------------------------------------
_AMOUNTS = ("price", "origQty", "executedQty", "cummulativeQuoteQty", "stopPrice", "icebergQty",
            "origQuoteOrderQty", "qty", "quoteQty", "commission")
_ORDER_KEYS = ("symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty",
               "cummulativeQuoteQty", "status", "timeInForce", "type", "side", "stopPrice", "icebergQty", "time",
               "updateTime", "isWorking", "workingTime", "origQuoteOrderQty", "selfTradePreventionMode")


def _amounts(d: dict) -> dict:
    return {k: (_s(v) if k in _AMOUNTS else v) for k, v in d.items()}


_PREVENTED_KEYS = ("preventedMatchId", "preventedQuantity")  # only on an order STP expired, as on Binance


def _prevented(o: dict) -> dict:
    return {k: (_s(o[k]) if k == "preventedQuantity" else o[k]) for k in _PREVENTED_KEYS if k in o}


_TRAILING_KEYS = ("trailingDelta", "trailingTime")


def _trailing(o: dict) -> dict:
    return {k: o[k] for k in _TRAILING_KEYS if k in o}


def _iceberg(o: dict) -> dict:
    """``icebergQty`` where Binance shows it only for an iceberg (new order, cancel)."""
    return {"icebergQty": _s(o["icebergQty"])} if o.get("icebergQty") and Decimal(o["icebergQty"]) else {}


def render_order(o: dict) -> dict:
    """``GET /v3/order`` shape."""
    return {**_amounts({k: o.get(k) for k in _ORDER_KEYS}), **_prevented(o), **_trailing(o)}


def render_new(o: dict, resp_type: str, result: dict | None) -> dict:
    """``POST /v3/order`` in the requested newOrderRespType; ``result`` is the order
    once the matcher answered (None: not in time, ``resultPending``)."""
    base = {"symbol": o["symbol"], "orderId": o["orderId"], "orderListId": o.get("orderListId", -1),
            "clientOrderId": o["clientOrderId"],
            "transactTime": o.get("transactTime") or o.get("time") or now_ms()}
    if resp_type == "ACK":
        return base
    cur = result or o
    out = dict(base)
    out.update(_amounts({k: cur.get(k) for k in ("price", "origQty", "executedQty", "origQuoteOrderQty",
                                                 "cummulativeQuoteQty", "status", "timeInForce", "type", "side")}))
    out["workingTime"] = cur.get("workingTime", -1)
    out["selfTradePreventionMode"] = cur.get("selfTradePreventionMode", "NONE")
    out.update(_prevented(cur))
    if cur.get("stopPrice") and Decimal(cur["stopPrice"]):
        out["stopPrice"] = _s(cur["stopPrice"])
    out.update(_iceberg(cur))
    out.update(_trailing(cur))
    if resp_type == "FULL":
        out["fills"] = [_amounts({"price": f["price"], "qty": f["qty"], "commission": f["commission"],
                                  "commissionAsset": f["commissionAsset"], "tradeId": f["tradeId"]})
                        for f in (cur.get("fills") or [])]
    if result is None:
        out["resultPending"] = True  # the matcher's result did not arrive in time (trading.RESULT_WAIT_S)
    return out


def render_canceled(o: dict, orig_cid: str | None, new_cid: str | None) -> dict:
    """``DELETE /v3/order`` (and each order of ``DELETE /v3/openOrders``): the cancelled order."""
    out = {
        "symbol": o["symbol"], "origClientOrderId": o["clientOrderId"], "orderId": o["orderId"],
        "orderListId": o.get("orderListId", -1),
        "clientOrderId": new_cid or new_client_order_id(), "transactTime": now_ms(),
        "price": o.get("price"), "origQty": o.get("origQty"), "executedQty": o.get("executedQty"),
        "origQuoteOrderQty": o.get("origQuoteOrderQty"), "cummulativeQuoteQty": o.get("cummulativeQuoteQty"),
        "status": o.get("status"), "timeInForce": o.get("timeInForce"), "type": o.get("type"), "side": o.get("side")}
    if o.get("stopPrice") and Decimal(o["stopPrice"]):  # present only for orders that set it
        out["stopPrice"] = o["stopPrice"]
    out.update(_iceberg(o))
    out.update(_trailing(o))
    out["selfTradePreventionMode"] = o.get("selfTradePreventionMode", "NONE")
    return _amounts(out)


def render_amended(o: dict, amendment: dict) -> dict:
    """``PUT /v3/order/amend/keepPriority``: the order as amended, with the
    amendment's ``executionId`` and time."""
    order = {"symbol": o["symbol"], "orderId": o["orderId"], "orderListId": o.get("orderListId", -1),
             "origClientOrderId": amendment["orig_client_order_id"], "clientOrderId": o["clientOrderId"],
             "price": _s(o["price"]), "qty": _s(o["origQty"]), "executedQty": _s(o["executedQty"]),
             "preventedQty": _s(0), "quoteOrderQty": _s(o["origQuoteOrderQty"]),
             "cumulativeQuoteQty": _s(o["cummulativeQuoteQty"]), "status": o["status"],
             "timeInForce": o["timeInForce"], "type": o["type"], "side": o["side"]}
    if o.get("stopPrice") and Decimal(o["stopPrice"]):
        order["stopPrice"] = _s(o["stopPrice"])
    if o.get("workingTime", -1) != -1:
        order["workingTime"] = o["workingTime"]
    order["selfTradePreventionMode"] = o["selfTradePreventionMode"]
    return {"transactTime": int(amendment["time_ms"]), "executionId": int(amendment["execution_id"]),
            "amendedOrder": order}


def render_amendment(r: dict) -> dict:
    """One entry of ``GET /v3/order/amendments``."""
    spec = listed_spec(r["symbol"])
    qq = Decimal(1).scaleb(-spec.qty_decimals)
    return {"symbol": r["symbol"], "orderId": int(r["order_id"]), "executionId": int(r["execution_id"]),
            "origClientOrderId": r["orig_client_order_id"], "newClientOrderId": r["new_client_order_id"],
            "origQty": _s(Decimal(str(r["orig_qty"])).quantize(qq)),
            "newQty": _s(Decimal(str(r["new_qty"])).quantize(qq)),
            "time": int(r["time_ms"])}


def render_trade(t: dict) -> dict:
    """``GET /v3/myTrades`` shape."""
    return _amounts({k: t.get(k) for k in ("symbol", "id", "orderId", "orderListId", "price", "qty", "quoteQty",
                                           "commission", "commissionAsset", "time", "isBuyer", "isMaker",
                                           "isBestMatch")})


def render_order_list(lst: dict, reports: list[dict] | None = None) -> dict:
    """An order list as Binance shows it (``GET /v3/orderList``; with ``reports``, the
    ``orderReports`` of a placement or a cancel)."""
    out = {"orderListId": lst["orderListId"], "contingencyType": lst["contingencyType"],
           "listStatusType": lst["listStatusType"], "listOrderStatus": lst["listOrderStatus"],
           "listClientOrderId": lst["listClientOrderId"], "transactionTime": lst["transactionTime"],
           "symbol": lst["symbol"],
           "orders": [{"symbol": o["symbol"], "orderId": o["orderId"], "clientOrderId": o["clientOrderId"]}
                      for o in lst["orders"]]}
    if reports is not None:
        out["orderReports"] = reports
    return out
