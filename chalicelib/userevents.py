"""The user data stream: Binance's ``executionReport``, ``outboundAccountPosition`` and
``balanceUpdate`` events, built from what was *committed* in Aurora and written to one
Redis Stream per account, which the stream gateway (``gateway/userdata.py``) reads.

Where events come from:

* the matcher, after each batch's settlement transaction committed
  (:func:`publish_settled`, called from the publish step): one ``executionReport`` per
  order state change the engine reported (NEW, TRADE with commission, CANCELED, EXPIRED,
  TRADE_PREVENTION / EXPIRED_IN_MATCH, REJECTED, a triggered stop as NEW with
  ``w: true``), then one ``outboundAccountPosition`` per account and symbol with the
  symbol's two assets as Aurora holds them after the commit;
* deposits and withdrawals, after their transaction committed (:func:`publish_transfer`):
  ``balanceUpdate`` (a deposit; a withdrawal when it completes) and
  ``outboundAccountPosition``.

Amounts are rendered by :mod:`chalicelib.orderviews` (the REST views), the fees are the
settlement's own (``Fill.buyer_fee`` / ``seller_fee``), so a stream and the REST view of
the same order cannot disagree.

Delivery: at least once, in order per account.  A batch's events go to the accounts'
streams (``XADD ... MAXLEN ~``) in ONE atomic Redis script together with the symbol's
marker ``ud:published:<symbol>`` = the last journal seq published; a matcher that
died between the commit and that script re-publishes, on recovery, the settled
entries above the marker (:func:`unpublished`).  A repeat is recognisable: an
``executionReport`` is identified by (``s``, ``I``) -- ``I`` is the engine's event seq,
unique per symbol -- and an ``outboundAccountPosition`` is a state (applying it twice
changes nothing).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import string
from collections.abc import Callable, Collection, Iterable, Sequence
from decimal import Decimal

from chalicelib.amounts import fmt as _s
from chalicelib.clock import now_ms
from chalicelib.errors import Reason
from chalicelib.trading.events import EventKind
from chalicelib.trading.types import ListOrderStatus, ListStatusType, OrderStatus

logger = logging.getLogger("userevents")

STREAM_MAXLEN = 10_000          # events kept per account (approximate trim)
STREAM_TTL_S = 7 * 24 * 3600    # an idle account's stream goes after a week

_ORDER, _TRADE, _REJECTED, _TRIGGERED, _PREVENTED = (int(EventKind.ORDER), int(EventKind.TRADE),
                                                     int(EventKind.REJECTED), int(EventKind.TRIGGERED),
                                                     int(EventKind.PREVENTED))
_AMENDED, _LIST = int(EventKind.AMENDED), int(EventKind.LIST)
_STATUS = {int(s): s.name for s in OrderStatus}
_STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")

#: Binance's ``r`` (Order Reject Reason) for the engine's reasons it names; any other
#: reject carries the engine's reason name (see docs/api-differences.md).
REJECT_REASONS = {Reason.INSUFFICIENT_BALANCE: "INSUFFICIENT_BALANCES",
                  Reason.WOULD_TRIGGER: "STOP_PRICE_WOULD_TRIGGER_IMMEDIATELY",
                  Reason.INVALID_STOP_PRICE: "STOP_PRICE_WOULD_TRIGGER_IMMEDIATELY",
                  Reason.WOULD_TAKE: "WOULD_MATCH_IMMEDIATELY"}


# -- keys ----------------------------------------------------------------------------------
def _prefix(prefix: str | None) -> str:
    from chalicelib.marketdata import _prefix as md_prefix

    return md_prefix(prefix)


def stream_key(account_id: int, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}ud:{int(account_id)}"


def marker_key(symbol: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}ud:published:{symbol}"


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one per event


def _dumps(obj) -> str:
    return _ENCODER.encode(obj)


# -- executionReport -----------------------------------------------------------------------
_ALNUM = string.ascii_letters + string.digits


def cancel_client_order_id(intent_id: str) -> str:
    """``c`` of a cancel's report: Binance puts a fresh client order id there (the
    cancel's own); ours is derived from the cancel intent, so a re-published report is
    byte-identical."""
    n = int.from_bytes(hashlib.sha256(intent_id.encode()).digest()[:17], "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_ALNUM[r])
    return "".join(out)


def _reason(reason) -> str:
    if isinstance(reason, Reason):
        return REJECT_REASONS.get(reason, reason.name)
    return str(reason)


def _expiry_reason(o: dict) -> str:
    if o["type"] == "MARKET" or o["type"] in ("STOP_LOSS", "TAKE_PROFIT"):
        return "INSUFFICIENT_LIQUIDITY"
    return "UNFILLED_FOK_ORDER_EXPIRED" if o["timeInForce"] == "FOK" else "UNFILLED_IOC_QUANTITY_EXPIRED"


_ZERO = _s(0)


def _amount(v) -> str:
    """An orders row's amount as reports print it (:func:`chalicelib.amounts.fmt`'s
    eight decimals; the row holds it at the symbol's decimals already)."""
    return _ZERO if v is None else f"{v:.8f}"


def _decimal(v) -> Decimal:
    """An orders row's amount as a Decimal (None and zeros as ``Decimal(0)``): psycopg's
    is one already, no text round trip."""
    return v if v and v.__class__ is Decimal else Decimal(str(v or 0))


def _row_view(r: dict) -> dict:
    """What the reports of one order read from its ``orders`` row, in
    :func:`chalicelib.orderviews.order_dict`'s names -- only those fields: a batch
    renders thousands of orders, and the whole view with its Decimal quantizing was the
    largest part of the user data stream's CPU (bench/capacity.py)."""
    view = {"orderId": int(r["order_id"]), "clientOrderId": r["client_order_id"], "status": r["status"],
            "type": r["type"], "timeInForce": r["time_in_force"] or "GTC",
            "workingTime": int(r["working_ms"]) if r.get("working_ms") is not None else -1}
    if r.get("trailing_delta") is not None:  # a trailing stop (its d, and D once it tracks the price)
        view["trailingDelta"] = int(r["trailing_delta"])
        view["trailingTime"] = int(r["trailing_ms"]) if r.get("trailing_ms") is not None else -1
    return view


def _row_head(r: dict, E: int) -> tuple[dict, int, str, str]:
    """What every report of the order in row ``r`` repeats, rendered once: the fields
    from ``e`` to ``g`` (in order; ``E`` is the batch's event time), which a report
    copies, then ``O``, ``Q`` and ``V``."""
    return ({"e": "executionReport", "E": E, "s": r["symbol"], "c": r["client_order_id"], "S": r["side"],
             "o": r["type"], "f": r["time_in_force"] or "GTC", "q": _amount(r["orig_qty"]), "p": _amount(r["price"]),
             "P": _amount(r["stop_price"]), "F": _amount(r.get("iceberg_qty")),
             "g": int(r["order_list_id"]) if r.get("order_list_id") is not None else -1},
            int(r["created_ms"] or 0), _amount(r["orig_quote_qty"]), r["stp_mode"])


def _report(o: dict, *, x: str, X: str, T: int, I: int, z: Decimal, Z: Decimal, w: bool,  # noqa: E741
            working_ms: int | None, head: tuple, r: str = "NONE", C: str = "", c: str | None = None,
            fill=None, is_buyer: bool = False, extra: dict | None = None) -> dict:
    """One ``executionReport`` in Binance's field order; ``o`` is the order's
    :func:`_row_view`, ``head`` its :func:`_row_head`; ``z`` and ``Z`` are Decimals
    (printed as :func:`chalicelib.amounts.fmt` prints them), a fill's amounts come
    printed (:class:`_Fill`)."""
    first, created, quote_qty, stp = head
    ev = first.copy()
    if c:
        ev["c"] = c
    ev["C"], ev["x"], ev["X"], ev["r"], ev["i"] = C, x, X, r, o["orderId"]
    if fill is None:
        ev["l"], ev["z"], ev["L"], ev["n"], ev["N"], ev["T"], ev["t"] = _ZERO, f"{z:.8f}", _ZERO, "0", None, T, -1
    else:
        ev["l"], ev["z"], ev["L"] = fill.qty_text, f"{z:.8f}", fill.price_text
        ev["n"] = fill.buyer_fee_text if is_buyer else fill.seller_fee_text
        ev["N"], ev["T"], ev["t"] = fill.base_asset if is_buyer else fill.quote_asset, T, fill.trade_id
    if extra and "v" in extra:
        ev["v"] = extra.pop("v")
    ev["I"], ev["w"], ev["m"], ev["M"] = I, w, bool(fill is not None and fill.is_buyer_maker == is_buyer), False
    ev["O"], ev["Z"] = created, f"{Z:.8f}"
    ev["Y"], ev["Q"] = fill.quote_rounded_text if fill is not None else _ZERO, quote_qty
    if w and working_ms is not None:
        ev["W"] = working_ms
    ev["V"] = stp
    if "trailingDelta" in o:  # a trailing stop: its delta, and when it started tracking (once it has)
        ev["d"] = o["trailingDelta"]
        if o["trailingTime"] != -1:
            ev["D"] = o["trailingTime"]
    if extra:
        ev.update(extra)
    return ev


class _Fill:
    """A settled fill (``matcher.service.settlement.Fill``) with what a report needs,
    its amounts printed once (both sides' reports print them)."""

    __slots__ = ("trade_id", "qty", "quote", "is_buyer_maker", "base_asset", "quote_asset", "qty_text", "price_text",
                 "buyer_fee_text", "seller_fee_text", "quote_rounded_text")

    def __init__(self, f, spec, cq: Decimal):
        self.trade_id, self.qty, self.quote, self.is_buyer_maker = f.trade_id, f.qty, f.quote, f.is_buyer_maker
        self.base_asset, self.quote_asset = spec.base_asset, spec.quote_asset
        self.qty_text, self.price_text = _s(f.qty), _s(f.price)
        self.buyer_fee_text, self.seller_fee_text = _s(f.buyer_fee), _s(f.seller_fee)
        self.quote_rounded_text = _s(f.quote.quantize(cq))


def _ended_by_list(events: Sequence[tuple]) -> set[int]:
    """The orders an order list's rule expired (Binance's expiry reason OCO_TRIGGER or
    OTO_PHASE_ONE_EXPIRED): the EXPIRED reports the engine emits right before a
    list's ALL_DONE (``matcher/engine/lists.py``, ``_finish``)."""
    out: set[int] = set()
    collecting = False
    for e in reversed(events):
        if e[1] == _LIST:
            collecting = e[3] == ListStatusType.ALL_DONE
        elif collecting and e[1] == _ORDER and e[3] == OrderStatus.EXPIRED:
            out.add(e[2])
        elif e[1] != EventKind.LEVEL:
            collecting = False
    return out


def list_status(lst: dict, *, E: int, T: int, status_type: int, order_status: int) -> dict:
    """Binance's ``listStatus`` user data event of an order list (``lst``: its
    ``order_lists`` row with ``orders``: [(order id, client order id)])."""
    return {"e": "listStatus", "E": E, "s": lst["symbol"], "g": int(lst["order_list_id"]),
            "c": lst["contingency_type"], "l": ListStatusType(status_type).name,
            "L": ListOrderStatus(order_status).name, "r": "NONE", "C": lst["list_client_order_id"], "T": T,
            "O": [{"s": lst["symbol"], "i": oid, "c": cid} for oid, cid in lst["orders"]]}


def execution_reports(spec, applied: Sequence, fills: Iterable, rows: dict[int, dict],
                      event_time: int | None = None, lists: dict[int, dict] | None = None
                      ) -> list[tuple[int, dict]]:
    """``(account_id, executionReport)`` for every order state change of ``applied`` (the
    batch's journal entries with the engine's events, in order), from the orders' rows
    as committed after the batch (``rows``: order id -> orders row) and the batch's
    settled fills.  Cumulative amounts run forward from the row's totals less the batch's
    own fills, so each report carries the cumulative values at its event.  An order
    list's LIST events become ``listStatus`` events (``lists``: list id -> its row, see
    :func:`read_lists`)."""
    E = event_time or now_ms()
    cq = Decimal(1).scaleb(-spec.quote_precision)
    by_trade = {f.trade_id: _Fill(f, spec, cq) for f in fills}
    views = {oid: _row_view(r) for oid, r in rows.items()}
    heads = {oid: _row_head(r, E) for oid, r in rows.items()}
    # cumulative qty / quote before the batch, and each order's last trade in the batch
    cum: dict[int, list[Decimal]] = {oid: [_decimal(r["executed_qty"]), _decimal(r["cum_quote_qty"])]
                                     for oid, r in rows.items()}
    last_trade: dict[int, int] = {}
    for a in applied:
        for e in a.events:
            if e[1] == _TRADE:
                f = by_trade[e[2]]
                for oid in (e[7], e[8]):
                    if oid in cum:
                        cum[oid][0] -= f.qty
                        cum[oid][1] -= f.quote
                        last_trade[oid] = e[2]
    working: dict[int, bool] = {oid: rows[oid].get("working_ms") is not None for oid in rows}
    for a in applied:  # a stop triggered in the batch was not working before it
        for e in a.events:
            if e[1] == _TRIGGERED and e[2] in working:
                working[e[2]] = False
    prevented: dict[int, dict] = {}
    out: list[tuple[int, dict]] = []
    for a in applied:
        entry = a.entry
        T = int(entry.ts)
        new_ids = {int(c[0]) for c in entry.payload["cmds"]} if entry.kind == "NEW_LIST" else (
            {int(entry.payload["order_id"])} if entry.kind in ("NEW", "CANCEL_REPLACE") else set())
        cancel_of = int(entry.payload.get("order_id") or 0 if entry.kind == "CANCEL"
                        else entry.payload.get("cancel_order_id") or 0) if entry.kind != "NEW" else None
        by_list = _ended_by_list(a.events) if lists else set()
        for e in a.events:
            kind = e[1]
            if kind == _TRADE:
                f = by_trade[e[2]]
                buyer_oid, seller_oid = (e[7], e[8]) if f.is_buyer_maker else (e[8], e[7])
                for oid, is_buyer in ((buyer_oid, True), (seller_oid, False)):
                    if oid not in views:
                        continue
                    o, c = views[oid], cum[oid]
                    c[0] += f.qty
                    c[1] += f.quote
                    filled = last_trade[oid] == f.trade_id and o["status"] == "FILLED"
                    maker = f.is_buyer_maker == is_buyer
                    out.append((int(rows[oid]["account_id"]), _report(
                        o, x="TRADE", X="FILLED" if filled else "PARTIALLY_FILLED", T=T, I=e[0], z=c[0],
                        Z=c[1].quantize(cq), w=maker and not filled, working_ms=o["workingTime"] if maker else None,
                        fill=f, is_buyer=is_buyer, head=heads[oid])))
            elif kind == _ORDER:
                oid, status = e[2], _STATUS[e[3]]
                if oid not in views or status in ("PARTIALLY_FILLED", "FILLED"):
                    continue  # a fill's status went out with its TRADE report
                o, c = views[oid], cum[oid]
                acct = int(rows[oid]["account_id"])
                C, cid, extra = "", None, None
                if status == "NEW":
                    working[oid] = o["type"] not in _STOPS or working[oid]
                    x, w = "NEW", working[oid]
                elif status == "CANCELED":
                    x, w, C = "CANCELED", False, o["clientOrderId"]
                    cid = cancel_client_order_id(entry.intent_id) if cancel_of == oid else None
                elif status == "EXPIRED":
                    why = ("OCO_TRIGGER" if working[oid] or o["type"] in _STOPS else "OTO_PHASE_ONE_EXPIRED") \
                        if oid in by_list else _expiry_reason(o)
                    x, w, extra = "EXPIRED", False, {"eR": why}
                elif status == "EXPIRED_IN_MATCH":
                    x, w, extra = "TRADE_PREVENTION", False, dict(prevented.get(oid, {}))
                else:
                    x = None  # no report
                if x is not None:  # one call for every status (the arguments they share built once)
                    out.append((acct, _report(o, x=x, X=status, T=T, I=e[0], z=c[0], Z=c[1].quantize(cq), w=w,
                                              working_ms=o["workingTime"], head=heads[oid], C=C, c=cid,
                                              extra=extra)))
                working[oid] = working[oid] and status == "NEW"
            elif kind == _REJECTED:
                oid, reason = e[2], e[3]
                if oid not in new_ids or reason == Reason.DUPLICATE_ORDER or oid not in views:
                    continue  # a refused cancel: no order changed
                o, c = views[oid], cum[oid]
                out.append((int(rows[oid]["account_id"]), _report(
                    o, x="REJECTED", X="REJECTED", r=_reason(reason), T=T, I=e[0], z=c[0], Z=c[1].quantize(cq),
                    w=False, working_ms=None, head=heads[oid])))
            elif kind == _TRIGGERED:
                oid = e[2]
                if oid not in views:
                    continue
                o, c = views[oid], cum[oid]
                working[oid] = True
                out.append((int(rows[oid]["account_id"]), _report(
                    o, x="NEW", X="NEW", T=T, I=e[0], z=c[0], Z=c[1].quantize(cq), w=True,
                    working_ms=o["workingTime"] if o["workingTime"] != -1 else T, head=heads[oid])))
            elif kind == _AMENDED:  # Binance's amend keep priority: x=REPLACED, the order as amended
                oid = e[2]
                if oid not in views:
                    continue
                o, c = views[oid], cum[oid]
                out.append((int(rows[oid]["account_id"]), _report(
                    o, x="REPLACED", X=o["status"] if e[3] == 0 else ("PARTIALLY_FILLED" if e[4] else "NEW"),
                    T=T, I=e[0], z=c[0], Z=c[1].quantize(cq), w=working[oid], working_ms=o["workingTime"],
                    head=heads[oid])))
            elif kind == _LIST:
                lst = (lists or {}).get(e[2])
                if lst is None or e[3] == ListStatusType.RESPONSE:
                    continue  # a refused list cancel: no list changed
                out.append((int(lst["account_id"]), list_status(lst, E=E, T=T, status_type=e[3],
                                                                order_status=e[4])))
            elif kind == _PREVENTED:
                maker_oid, taker_oid, price, qty = e[2], e[3], e[4], e[5]
                for oid, counter in ((maker_oid, taker_oid), (taker_oid, maker_oid)):
                    if oid not in views:
                        continue
                    p, q = spec_price_qty(spec, price, qty)
                    before = Decimal(prevented.get(oid, {}).get("A", "0"))
                    prevented[oid] = {"v": e[0], "A": _s(before + q), "B": _s(q), "u": -1, "U": counter,
                                      "Cs": spec.symbol, "pl": _s(q), "pL": _s(p),
                                      "pY": _s((p * q).quantize(cq))}
    return out


def spec_price_qty(spec, price_ticks: int, qty_lots: int) -> tuple[Decimal, Decimal]:
    from chalicelib.trading.codec import SymbolCodec

    codec = SymbolCodec(spec)
    return codec.price(price_ticks), codec.qty(qty_lots)


# -- outboundAccountPosition / balanceUpdate ----------------------------------------------------
def account_position(balances: Sequence[dict], event_time: int | None = None) -> dict:
    """``outboundAccountPosition`` from balances rows (asset, free, locked, updated_ms),
    rendered as ``GET /api/v3/account`` renders them."""
    return {"e": "outboundAccountPosition", "E": event_time or now_ms(),
            "u": max((int(b.get("updated_ms") or 0) for b in balances), default=0),
            "B": [{"a": b["asset"], "f": _s(b["free"], 8), "l": _s(b["locked"], 8)} for b in balances]}


def balance_update(asset: str, delta: Decimal, clear_ms: int, event_time: int | None = None) -> dict:
    return {"e": "balanceUpdate", "E": event_time or now_ms(), "a": asset, "d": _s(delta, 8), "T": clear_ms}


# lists travel as JSON text (the Data API has no array parameters)
_IDS = "(SELECT CAST(jsonb_array_elements_text(CAST(:{0} AS jsonb)) AS bigint))"
_BALANCES_SQL = ("SELECT account_id, asset, free, locked,"
                 " CAST(extract(epoch FROM updated_at) * 1000 AS bigint) AS updated_ms FROM balances"
                 f" WHERE account_id IN {_IDS.format('a')}"
                 " AND asset IN (SELECT jsonb_array_elements_text(CAST(:s AS jsonb))) ORDER BY account_id, asset")


def read_balances(tx, accounts: Sequence[int], assets: Sequence[str]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in tx.query(_BALANCES_SQL, {"a": _dumps(sorted(set(accounts))), "s": _dumps(sorted(set(assets)))}):
        out.setdefault(int(r["account_id"]), []).append(r)
    return out


#: The ``orders`` columns the reports read (:func:`_row_view`, :func:`_row_head`,
#: :func:`execution_reports`), of :data:`chalicelib.orders._ORDER_COLS` (the one
#: definition of each): a batch reads thousands of rows, and the six columns no report
#: reads were about a quarter of that read's CPU (bench/capacity.py).
REPORT_COLUMNS = ("order_id", "account_id", "symbol", "client_order_id", "side", "type", "time_in_force", "price",
                  "stop_price", "orig_qty", "orig_quote_qty", "executed_qty", "cum_quote_qty", "status", "stp_mode",
                  "order_list_id", "created_ms", "working_ms", "iceberg_qty", "trailing_delta", "trailing_ms")


@functools.cache
def _report_cols() -> str:
    from chalicelib.orders import _ORDER_COLS

    cols = [c.strip() for c in _ORDER_COLS.split(",")]  # no expression of it holds a comma
    return ", ".join(c for c in cols if c.split()[-1] in REPORT_COLUMNS)


def read_orders(tx, order_ids: Collection[int]) -> dict[int, dict]:
    """The rows of ``order_ids`` with the :data:`REPORT_COLUMNS`."""
    if not order_ids:
        return {}
    return {int(r["order_id"]): r for r in tx.query(f"SELECT {_report_cols()} FROM orders WHERE order_id IN "
                                                    + _IDS.format("ids"), {"ids": _dumps(sorted(set(order_ids)))})}


# -- the batch's events, published --------------------------------------------------------------
def order_ids(applied: Sequence) -> set[int]:
    """The orders a batch's events concern."""
    ids: set[int] = set()
    for a in applied:
        for e in a.events:
            k = e[1]
            if k == _TRADE:
                ids.update((e[7], e[8]))
            elif k in (_ORDER, _REJECTED, _TRIGGERED, _AMENDED):
                ids.add(e[2])
    return ids


def read_lists(tx, applied: Sequence) -> dict[int, dict]:
    """The order lists a batch's LIST events name: list id -> its ``order_lists`` row
    with ``orders``, its orders' (order id, client order id) in id order."""
    ids = sorted({e[2] for a in applied for e in a.events if e[1] == _LIST})
    if not ids:
        return {}
    rows = tx.query("SELECT order_list_id, account_id, symbol, list_client_order_id, contingency_type"
                    " FROM order_lists WHERE order_list_id IN " + _IDS.format("ids"), {"ids": _dumps(ids)})
    out = {int(r["order_list_id"]): {**r, "orders": []} for r in rows}
    for leg in tx.query("SELECT order_list_id, order_id, client_order_id FROM orders WHERE order_list_id IN "
                        + _IDS.format("ids") + " ORDER BY order_id", {"ids": _dumps(ids)}):
        out[int(leg["order_list_id"])]["orders"].append((int(leg["order_id"]), leg["client_order_id"]))
    return out


def batch_events(tx, spec, applied: Sequence, fills: Iterable) -> list[tuple[int, dict]]:
    """Every user event of a settled batch of one symbol, in order: the reports, then
    per account the symbol's assets after the commit.  ``tx`` reads Aurora *after*
    the settlement transaction committed."""
    rows = read_orders(tx, order_ids(applied))
    E = now_ms()
    reports = execution_reports(spec, applied, fills, rows, E, read_lists(tx, applied))
    accounts = list(dict.fromkeys([acct for acct, _ in reports]))
    if not accounts:
        return reports
    held = read_balances(tx, accounts, (spec.base_asset, spec.quote_asset))
    return reports + [(acct, account_position(held.get(acct, []), E)) for acct in accounts]


# XADD every event to its account's stream, refresh the streams' TTL and set the
# symbol's published marker, in ONE script: atomic as MULTI/EXEC is, but one command
# and one reply where a transaction is a command and a reply per event.  The events go
# as one argument per stream (its events' JSON, in order, one per line: JSON text
# holds no raw newline), not one per event: a batch of 5,000 orders has 10,000
# events over a few hundred accounts, and packing an argument and a key per event was
# most of the Redis client's CPU (bench/capacity.py).  KEYS: each stream once, then
# the marker (if any); ARGV: maxlen, ttl, marker value ('' = none), then per stream
# its events.
_WRITE_LUA = """
local maxlen, ttl, marker = ARGV[1], ARGV[2], ARGV[3]
local streams = #KEYS
if marker ~= '' then
  redis.call('SET', KEYS[streams], marker)
  streams = streams - 1
end
local n = 0
for i = 1, streams do
  for doc in string.gmatch(ARGV[3 + i], '[^\\n]+') do
    redis.call('XADD', KEYS[i], 'MAXLEN', '~', maxlen, '*', 'e', doc)
    n = n + 1
  end
  redis.call('EXPIRE', KEYS[i], ttl)
end
return n
"""


def write(redis, events: Sequence[tuple[int, dict]], prefix: str | None = None,
          marker: tuple[str, int] | None = None, dumps: Callable[[object], str] = _dumps) -> None:
    """XADD each event to its account's stream, in order, in ONE atomic step with the
    symbol's published marker (``marker``: (symbol, journal seq)): a Lua script.
    ``dumps``: the JSON encoder (the matcher passes a faster one with the same bytes:
    matcher/service/userdata.py)."""
    if not events and marker is None:
        return
    per_account: dict[int, list[str]] = {}
    for acct, ev in events:
        docs = per_account.get(acct)
        if docs is None:
            docs = per_account[acct] = []
        docs.append(dumps(ev))
    keys = [stream_key(acct, prefix) for acct in per_account]
    value = ""
    if marker is not None:
        keys.append(marker_key(marker[0], prefix))
        value = str(int(marker[1]))
    redis.register_script(_WRITE_LUA)(keys=keys, args=[STREAM_MAXLEN, STREAM_TTL_S, value,
                                                       *("\n".join(d) for d in per_account.values())])


def published_seq(redis, symbol: str, prefix: str | None = None) -> int | None:
    """The last journal seq whose user events were published for ``symbol`` (None: not
    known -- a new or flushed Redis)."""
    v = redis.get(marker_key(symbol, prefix))
    return int(v) if v is not None else None


def unpublished(redis, symbol: str, applied: Sequence, prefix: str | None = None) -> list:
    """Of ``applied`` (settled entries replayed at recovery), those above the published
    marker; none when the marker is unknown (a fresh Redis has no readers to repair)."""
    seq = published_seq(redis, symbol, prefix)
    if seq is None:
        return []
    return [a for a in applied if a.entry.seq > seq]


# -- deposits and withdrawals -------------------------------------------------------------------
def publish_transfer(transfer, clients=None) -> None:
    """After a deposit or withdrawal step committed: ``balanceUpdate`` (a deposit; a
    withdrawal once it completes) and ``outboundAccountPosition`` for the asset.  Best
    effort: the transfer stands whether or not the event could be written (the client's
    re-sync reads the balance); a failure is logged."""
    from chalicelib.clients import get_clients
    from chalicelib.db import autocommit

    if not transfer.posted:
        return  # a repeat of a request already applied: nothing changed, nothing to tell
    try:
        clients = clients or get_clients()
        held = read_balances(autocommit(clients), [transfer.account_id], [transfer.asset])
        bals = held.get(int(transfer.account_id), [])
        E = now_ms()
        events = []
        if transfer.status == "COMPLETED":
            delta = transfer.amount if transfer.direction == "DEPOSIT" else -transfer.amount
            events.append((transfer.account_id, balance_update(transfer.asset, delta,
                                                               max((int(b["updated_ms"]) for b in bals), default=E),
                                                               E)))
        events.append((transfer.account_id, account_position(bals, E)))
        write(clients.redis, events, clients.settings.redis_key_prefix)
    except Exception:
        logger.exception("user events of a transfer not published", extra={"transfer": transfer.transfer_id})
