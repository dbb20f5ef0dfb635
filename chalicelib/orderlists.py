"""Order lists on the order entry path: Binance's OCO, OTO and OTOCO, placed, canceled and read.

An OCO is two orders of one side and quantity, one "above" and one "below" the last
price, that the engine binds (``matcher/engine/lists.py``): when one trades or
triggers the other expires.  Placing one is :func:`chalicelib.orders.place_order`
twice over, in one transaction: each leg is planned (validated, priced) as a plain
order, the list row and both order rows (``orders.order_list_id``) are inserted, the
funds reserved and one NEW_LIST intent written to the outbox, then put to DynamoDB.
The list's first statement checks MAX_NUM_ALGO_ORDERS / MAX_NUM_ICEBERG_ORDERS for all
its orders together, under the (account, symbol) lock that order entry takes
(``chalicelib.orders.LIMIT_SLOT_CTE``), held until the transaction commits.

Funds: the two legs never both execute, so the list reserves once, the larger of
what the two legs would reserve alone (a SELL: the quantity; a BUY: the dearer leg's
price x quantity), and records it on that leg (the other's ``reserved_left`` is 0).
The matcher's settlement moves it to the leg that goes on when the other expires and
releases what is left when neither is open (``matcher/service/listsettlement.py``).

OTO and OTOCO (:class:`OtoRequest`) go the same way: the working order and the
pending order(s) are inserted together (the pending ones stay PENDING_NEW until the
engine places them, when the working order is FILLED) and every one of them reserves
at placement -- Binance's OPO page: needing only the working order's balance is what
OPO adds over OTO -- an OTOCO's pending pair once, as an OCO.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from chalicelib import orders
from chalicelib.errors import ExchangeError, Failure, Reason
from chalicelib.orders import (
    DONE_STATUSES,
    OrderRequest,
    _clients,
    _spec,
    await_outcomes,
    engine_command_json,
    fills,
    plan_order,
)
from chalicelib.orderviews import order_dict

OCO_ABOVE_TYPES = ("STOP_LOSS_LIMIT", "STOP_LOSS", "LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
OCO_BELOW_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
_STOP_LOSS = ("STOP_LOSS", "STOP_LOSS_LIMIT")
_TAKE_PROFIT = ("TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
_LIST_COLS = ("order_list_id, account_id, symbol, list_client_order_id, contingency_type, list_status_type,"
              " list_order_status, CAST(extract(epoch FROM created_at) * 1000 AS bigint) AS created_ms,"
              " CAST(extract(epoch FROM updated_at) * 1000 AS bigint) AS updated_ms")


@dataclass(frozen=True)
class OcoRequest:
    """An OCO in Binance's aboveX / belowX form: ``below`` and ``above`` are the legs
    as plain order requests (same symbol, side and quantity)."""

    symbol: str
    list_client_order_id: str
    below: OrderRequest
    above: OrderRequest

    contingency = "OCO"

    @property
    def orders(self) -> tuple[OrderRequest, ...]:
        return (self.below, self.above)


@dataclass(frozen=True)
class OtoRequest:
    """An OTO (``pending_below`` None) or an OTOCO: a working order, and the order(s)
    the engine places when it is filled -- one, or an OCO pair."""

    symbol: str
    list_client_order_id: str
    working: OrderRequest
    pending: OrderRequest                       # an OTO's pending order, an OTOCO's above leg
    pending_below: OrderRequest | None = None   # an OTOCO's below leg

    @property
    def contingency(self) -> str:
        return "OTO" if self.pending_below is None else "OTOCO"

    @property
    def orders(self) -> tuple[OrderRequest, ...]:
        """In the engine's order (``NewOrderList``): working, then pending (below, above)."""
        if self.pending_below is None:
            return (self.working, self.pending)
        return (self.working, self.pending_below, self.pending)


def check_oco_sides(side: str, above_type: str, below_type: str) -> None:
    """Binance's placement rules of an OCO's legs (-1158, -1165/-1166, -1196..-1199): a
    SELL's limit / take-profit leg is above and its stop-loss below, a BUY's the other
    way round; one leg is a stop-loss, the other a LIMIT_MAKER or take-profit."""
    if above_type not in OCO_ABOVE_TYPES or below_type not in OCO_BELOW_TYPES:
        raise ExchangeError(Reason.OCO_ORDER_TYPE_REJECTED)
    if side == "SELL":
        if above_type in _STOP_LOSS:
            raise ExchangeError(Reason.SELL_OCO_STOP_LOSS_MUST_BE_BELOW)
        if below_type == "LIMIT_MAKER":
            raise ExchangeError(Reason.SELL_OCO_LIMIT_MUST_BE_ABOVE)
        if below_type in _TAKE_PROFIT:
            raise ExchangeError(Reason.SELL_OCO_TAKE_PROFIT_MUST_BE_ABOVE)
    else:
        if above_type == "LIMIT_MAKER":
            raise ExchangeError(Reason.BUY_OCO_LIMIT_MUST_BE_BELOW)
        if above_type in _TAKE_PROFIT:
            raise ExchangeError(Reason.BUY_OCO_TAKE_PROFIT_MUST_BE_BELOW)
        if below_type in _STOP_LOSS:
            raise ExchangeError(Reason.BUY_OCO_STOP_LOSS_MUST_BE_ABOVE)


def _reference_price(req: OrderRequest) -> Decimal:
    """Where a leg sits: a LIMIT_MAKER's price, a stop's stop price."""
    value = req.price if req.type == "LIMIT_MAKER" else req.stop_price
    return Decimal(str(value))


def plan_oco(req: OcoRequest, account_id: int, clients=None):
    """Validate an OCO and decide what the engine gets and what is reserved:
    ``(spec, [below cmd, above cmd], asset, [below amount, above amount])`` where the
    amounts are what each leg holds of the one reservation (the larger need, on the
    leg that needs it; 0 on the other)."""
    b, a = req.below, req.above
    if b.side != a.side or b.quantity != a.quantity or b.symbol != a.symbol != req.symbol:
        raise ExchangeError(Reason.INVALID_PARAMETER)
    check_oco_sides(b.side, a.type, b.type)
    if b.client_order_id == a.client_order_id:
        raise ExchangeError(Reason.DUPLICATE_ORDER)
    if not _reference_price(a) > _reference_price(b):
        raise ExchangeError(Reason.OCO_BAD_PRICES)
    spec, below_cmd, asset, below_need = plan_order(b, account_id, clients)
    _, above_cmd, _, above_need = plan_order(a, account_id, clients)
    carrier_above = above_need > below_need
    amounts = [Decimal(0), above_need] if carrier_above else [below_need, Decimal(0)]
    return spec, [below_cmd, above_cmd], [asset, asset], amounts


def plan_oto(req: OtoRequest, account_id: int, clients=None):
    """Validate an OTO / OTOCO and decide what the engine gets and what is reserved,
    per order (as :func:`plan_oco`).  Funds as Binance's OPO page states them for an
    OTO: the placement needs the balance of the working order *and* of the pending
    order(s) -- the pending order is placed by the engine later, when nothing can be
    refused any more; an OTOCO's pending pair reserves once, as an OCO."""
    w = req.working
    if w.type not in ("LIMIT", "LIMIT_MAKER"):
        raise ExchangeError(Failure(Reason.INVALID_ORDER_TYPE, "Invalid orderType for the working order."))
    if req.pending.type == "MARKET" and req.pending.quote_order_qty is not None:
        raise ExchangeError(Reason.UNSUPPORTED_OPERATION)
    ids = [o.client_order_id for o in req.orders]
    if len(set(ids)) != len(ids):
        raise ExchangeError(Reason.DUPLICATE_ORDER)
    spec, w_cmd, w_asset, w_need = plan_order(w, account_id, clients)
    if req.pending_below is None:
        _, p_cmd, p_asset, p_need = plan_order(req.pending, account_id, clients)
        return spec, [w_cmd, p_cmd], [w_asset, p_asset], [w_need, p_need]
    _, pair, pair_assets, pair_amounts = plan_oco(OcoRequest(req.symbol, req.list_client_order_id,
                                                             req.pending_below, req.pending), account_id, clients)
    return spec, [w_cmd, *pair], [w_asset, *pair_assets], [w_need, *pair_amounts]


_INSERT_LIST = (
    "INSERT INTO order_lists (order_list_id, account_id, symbol, list_client_order_id, contingency_type)"
    " VALUES (nextval('order_list_id_seq'), :a, :s, :lc, :ct)"
    " ON CONFLICT (account_id, list_client_order_id) DO NOTHING RETURNING order_list_id")
# the same, after MAX_NUM_ALGO_ORDERS / MAX_NUM_ICEBERG_ORDERS of all the list's orders
# together (chalicelib/orders.py, LIMIT_SLOT_CTE): its lock is held to the commit, so
# through the legs' inserts; one row, the refusal or the list id (NULL: a retry)
_INSERT_LIST_IN_LIMITS = (
    "WITH " + orders.LIMIT_SLOT_CTE + ", l AS (INSERT INTO order_lists (order_list_id, account_id, symbol,"
    " list_client_order_id, contingency_type) SELECT nextval('order_list_id_seq'), :a, :s, :lc, :ct FROM slot"
    " WHERE slot.refused IS NULL ON CONFLICT (account_id, list_client_order_id) DO NOTHING RETURNING order_list_id)"
    " SELECT slot.refused, l.order_list_id FROM slot LEFT JOIN l ON true")
_INSERT_LEG = (
    "INSERT INTO orders (order_id, account_id, symbol, client_order_id, side, type, time_in_force, price, stop_price,"
    " orig_qty, status, stp_mode, reserved_asset, reserved_amount, reserved_left, order_list_id)"
    " SELECT nextval('order_id_seq'), :a, :s, :c, :side, :type, :tif, CAST(:p AS numeric), CAST(:sp AS numeric),"
    " CAST(:q AS numeric), 'PENDING_NEW', :stp, :ra, CAST(:rm AS numeric), CAST(:rm AS numeric), :l"
    " WHERE NOT EXISTS (SELECT 1 FROM order_amendments WHERE account_id = :a AND orig_client_order_id = :c)"
    " ON CONFLICT (account_id, client_order_id) DO NOTHING RETURNING order_id")


def _tif(req: OrderRequest) -> str | None:
    if req.time_in_force:
        return req.time_in_force.upper()
    return "GTC" if req.type in ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") else None


def place_oco(account_id: int, req: OcoRequest | OtoRequest, clients=None) -> dict:
    """Validate, reserve and record an order list (an OCO, OTO or OTOCO), then send its
    intent; the list as :func:`get_order_list` shows it (orders PENDING_NEW until the
    matcher has sequenced them, an OTO's pending orders until it places them).  A
    repeated ``listClientOrderId`` names the list already placed (its intent re-sent
    while unacknowledged) when it is the same request, else -2010."""
    from chalicelib import ledger
    from chalicelib.db import transaction

    clients = _clients(clients)
    if isinstance(req, OcoRequest):
        spec, cmds, assets, amounts = plan_oco(req, account_id, clients)
    else:
        spec, cmds, assets, amounts = plan_oto(req, account_id, clients)
    intent_id = f"{account_id}:list:{req.list_client_order_id}"
    payload = None
    list_params = {"a": account_id, "s": spec.symbol, "lc": req.list_client_order_id, "ct": req.contingency}
    limits = orders.limit_params(spec, req.orders)
    with transaction(clients) as tx:
        if limits:
            got = tx.row(_INSERT_LIST_IN_LIMITS, {**list_params, **limits})
            orders.refuse_over_limit(got["refused"])
            list_id = got["order_list_id"]
        else:
            list_id = tx.scalar(_INSERT_LIST, list_params)
        if list_id is None:
            return _retry_existing_list(tx, account_id, req, intent_id)
        ids = []
        for leg, asset, amount in zip(req.orders, assets, amounts, strict=True):
            oid = tx.scalar(_INSERT_LEG, {
                "a": account_id, "s": spec.symbol, "c": leg.client_order_id, "side": leg.side, "type": leg.type,
                "tif": _tif(leg), "p": None if leg.price is None else str(leg.price),
                "sp": None if leg.stop_price is None else str(leg.stop_price), "q": str(leg.quantity),
                "stp": (leg.stp_mode or "NONE").upper(), "ra": asset, "rm": str(amount), "l": list_id})
            if oid is None:
                raise ExchangeError(Reason.DUPLICATE_ORDER)  # (the transaction rolls back)
            ids.append(int(oid))
        # one post_many: it locks the balance rows in one global order (an OTO reserves two
        # assets; locking them leg by leg deadlocks against a settlement locking them sorted)
        reserves = [ledger.transfer(f"reserve:{oid}", "RESERVE", asset, amount, (account_id, "free"),
                                    (account_id, "locked"), ref=str(oid))
                    for oid, asset, amount in zip(ids, assets, amounts, strict=True) if amount > 0]
        if reserves:
            ledger.post_many(tx, reserves)
        payload = {"kind": "NEW_LIST", "order_id": ids[0], "list_id": int(list_id), "account_id": account_id,
                   "contingency": req.contingency,
                   "cmds": [[oid, *engine_command_json(cmd)[1:]] for oid, cmd in zip(ids, cmds, strict=True)]}
        tx.execute("INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload)"
                   " VALUES (:i, :a, :s, 'NEW_LIST', :o, CAST(:p AS jsonb))",
                   {"i": intent_id, "a": account_id, "s": spec.symbol, "o": ids[0], "p": json.dumps(payload)})
    orders.put_intent(intent_id, spec.symbol, account_id, "NEW_LIST", ids[0], payload)
    found = get_order_list(account_id, order_list_id=int(list_id), clients=clients)
    if found is None:
        raise LookupError(f"order list {list_id} vanished after its insert")
    return found


def _retry_existing_list(tx, account_id: int, req: OcoRequest | OtoRequest, intent_id: str) -> dict:
    row = tx.one(f"SELECT {_LIST_COLS} FROM order_lists WHERE account_id = :a AND list_client_order_id = :c",
                 {"a": account_id, "c": req.list_client_order_id})
    if row is None:
        raise LookupError("a list insert that conflicted found no list")
    legs = tx.query("SELECT client_order_id FROM orders WHERE order_list_id = :l ORDER BY order_id",
                    {"l": int(row["order_list_id"])})
    if [r["client_order_id"] for r in legs] != [o.client_order_id for o in req.orders]:
        raise ExchangeError(Reason.DUPLICATE_ORDER)
    box = tx.one("SELECT kind, order_id, CAST(payload AS text) AS payload FROM intent_outbox"
                 " WHERE intent_id = :i AND sent_at IS NULL", {"i": intent_id})
    if box is not None:
        orders.put_intent(intent_id, req.symbol, account_id, "NEW_LIST", int(box["order_id"]),
                          json.loads(box["payload"]))
    return _list_dict(row, [order_dict(o) for o in tx.query(
        f"SELECT {_order_cols()} FROM orders WHERE order_list_id = :l ORDER BY order_id",
        {"l": int(row["order_list_id"])})])


def _order_cols() -> str:
    from chalicelib.orders import _ORDER_READ_COLS

    return _ORDER_READ_COLS


def wait_for_list(list_view: dict, timeout_s: float, clients=None) -> dict | None:
    """The list once the matcher has sequenced it (its orders no longer PENDING_NEW),
    with each order's ``fills``; None on timeout."""
    first = list_view["orders"][0]["orderId"]
    intent_id = f"{list_view['_account_id']}:list:{list_view['listClientOrderId']}"
    got = await_outcomes({intent_id: first}, timeout_s, clients)
    if intent_id not in got:
        return None
    out = get_order_list(list_view["_account_id"], order_list_id=list_view["orderListId"], clients=clients)
    if out is None:
        return None
    for o in out["orders"]:
        o["fills"] = fills(o["orderId"], clients) if o["executedQty"] > 0 else []
    return out


def _list_dict(row: dict, orders: list[dict]) -> dict:
    return {
        "orderListId": int(row["order_list_id"]), "contingencyType": row["contingency_type"],
        "listStatusType": row["list_status_type"], "listOrderStatus": row["list_order_status"],
        "listClientOrderId": row["list_client_order_id"], "transactionTime": int(row["updated_ms"]),
        "symbol": row["symbol"], "orders": orders, "_account_id": int(row["account_id"]),
        "_created_ms": int(row["created_ms"]),
    }


def _lists(tx, where: str, params: dict, limit: int | None = None, order: str = "DESC") -> list[dict]:
    sql = f"SELECT {_LIST_COLS} FROM order_lists WHERE {where} ORDER BY order_list_id {order}"
    if limit is not None:
        sql += " LIMIT :lim"
        params = {**params, "lim": limit}
    rows = tx.query(sql, params)
    if not rows:
        return []
    legs = tx.query(f"SELECT order_list_id, {_order_cols()} FROM orders WHERE order_list_id ="
                    " ANY(CAST(:ids AS bigint[])) ORDER BY order_id",
                    {"ids": "{" + ",".join(str(int(r["order_list_id"])) for r in rows) + "}"})
    by_list: dict[int, list[dict]] = {}
    for leg in legs:
        by_list.setdefault(int(leg["order_list_id"]), []).append(order_dict(leg))
    return sorted((_list_dict(r, by_list.get(int(r["order_list_id"]), [])) for r in rows),
                  key=lambda d: d["orderListId"])


def get_order_list(account_id: int, order_list_id: int | None = None, orig_client_order_id: str | None = None,
                   clients=None) -> dict | None:
    """One of the account's lists by id or ``listClientOrderId`` (Binance's
    ``origClientOrderId`` of ``GET /api/v3/orderList``), or None."""
    from chalicelib.db import autocommit

    if order_list_id is None and not orig_client_order_id:
        raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                    "Param 'origClientOrderId' or 'orderListId' must be sent,"
                                    " but both were empty/null!"))
    tx = autocommit(_clients(clients))
    if order_list_id is not None:
        found = _lists(tx, "order_list_id = :l AND account_id = :a", {"l": int(order_list_id), "a": account_id})
    else:
        found = _lists(tx, "list_client_order_id = :c AND account_id = :a",
                       {"c": orig_client_order_id, "a": account_id})
    return found[0] if found else None


def all_order_lists(account_id: int, from_id: int | None = None, start_time: int | None = None,
                    end_time: int | None = None, limit: int = 500, clients=None) -> list[dict]:
    from chalicelib.db import autocommit

    where = "account_id = :a"
    params: dict = {"a": account_id}
    if from_id is not None:
        where += " AND order_list_id >= :f"
        params["f"] = int(from_id)
    if start_time is not None:
        where += " AND created_at >= to_timestamp(CAST(:st AS bigint) / 1000.0)"
        params["st"] = int(start_time)
    if end_time is not None:
        where += " AND created_at <= to_timestamp(CAST(:et AS bigint) / 1000.0)"
        params["et"] = int(end_time)
    ascending = from_id is not None or start_time is not None
    return _lists(autocommit(_clients(clients)), where, params, max(1, min(int(limit or 500), 1000)),
                  "ASC" if ascending else "DESC")


def open_order_lists(account_id: int, clients=None) -> list[dict]:
    from chalicelib.db import autocommit

    return _lists(autocommit(_clients(clients)), "account_id = :a AND list_order_status = 'EXECUTING'",
                  {"a": account_id})


def cancel_order_list(account_id: int, symbol: str, order_list_id: int | None, list_client_order_id: str | None,
                      clients=None, wait_s: float = 3.0) -> dict:
    """Cancel a live list as one CANCEL_LIST intent, answered from the engine's outcome
    for it (as :func:`chalicelib.orders.cancel_order` is): the list ALL_DONE with its
    orders' final fields, -2011 if it was not live, -1007 if the matcher did not answer."""
    import uuid

    from chalicelib.db import autocommit

    clients = _clients(clients)
    _spec(symbol)
    lst = get_order_list(account_id, order_list_id, list_client_order_id, clients)
    if lst is None or lst["symbol"] != symbol or lst["listOrderStatus"] != "EXECUTING" \
            or all(o["status"] in DONE_STATUSES for o in lst["orders"]):
        raise ExchangeError(Failure(Reason.CANCEL_REJECTED, "Order list does not exist or is not open."))
    list_id = lst["orderListId"]
    intent_id = f"{account_id}:cancelList:{list_id}:{uuid.uuid4().hex[:12]}"
    payload = {"kind": "CANCEL_LIST", "list_id": list_id, "account_id": account_id,
               "order_id": lst["orders"][0]["orderId"]}
    autocommit(clients).execute(
        "INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload)"
        " VALUES (:i, :a, :s, 'CANCEL_LIST', :o, CAST(:p AS jsonb))",
        {"i": intent_id, "a": account_id, "s": symbol, "o": payload["order_id"], "p": json.dumps(payload)})
    orders.put_intent(intent_id, symbol, account_id, "CANCEL_LIST", payload["order_id"], payload)
    got = await_outcomes({intent_id: payload["order_id"]}, wait_s, clients).get(intent_id)
    if got is None:
        raise ExchangeError(Reason.TIMEOUT)
    if got[0] != "CANCELED":
        raise ExchangeError(Failure(Reason.CANCEL_REJECTED, "Order list does not exist or is not open."))
    done = get_order_list(account_id, order_list_id=list_id, clients=clients)
    if done is None:
        raise LookupError(f"order list {list_id} vanished after its cancel")
    return done
