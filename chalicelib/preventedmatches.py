"""Prevented matches (self-trade prevention) as Binance's ``GET /api/v3/myPreventedMatches``
answers them, read from Aurora's ``prevented_matches`` (the system of record: the
settlement transaction writes each PREVENTED event of the engine there with the batch).

A prevented match belongs to the taker's account (self-trade prevention only stops an
account trading with itself here: there are no trade groups, so ``tradeGroupId`` is
-1 as in ``executionReport``).  One statement per read, so one Data API call.
"""
from __future__ import annotations

from decimal import Decimal

from chalicelib.amounts import fmt as _s
from chalicelib.errors import ExchangeError, Failure, Reason
from chalicelib.symbols import listed_spec

_COLS = ("symbol, prevented_match_id, taker_order_id, maker_order_id, stp_mode, price, maker_prevented_qty,"
         " CAST(extract(epoch FROM prevented_at) * 1000 AS bigint) AS time_ms")


def check_combination(prevented_match_id, order_id, from_prevented_match_id) -> None:
    """Binance's combinations: ``preventedMatchId`` alone, or ``orderId`` (with
    ``fromPreventedMatchId`` and ``limit``); any other is -1128."""
    if (prevented_match_id is None) == (order_id is None) or (
            from_prevented_match_id is not None and order_id is None):
        raise ExchangeError(Failure(Reason.OPTIONAL_PARAMS_BAD_COMBO))


def my_prevented_matches(account_id: int, symbol: str, prevented_match_id: int | None = None,
                         order_id: int | None = None, from_prevented_match_id: int | None = None,
                         limit: int = 500, clients=None) -> list[dict]:
    """The account's prevented matches on ``symbol``, oldest first: the one with
    ``prevented_match_id``, or those of ``order_id`` (as taker or maker) from
    ``from_prevented_match_id`` on."""
    from chalicelib.db import autocommit
    from chalicelib.orders import _clients, _spec

    check_combination(prevented_match_id, order_id, from_prevented_match_id)
    _spec(symbol)
    params: dict[str, int | None]
    if prevented_match_id is not None:
        where, params = "prevented_match_id = :p", {"p": int(prevented_match_id)}
    else:
        where = ("(taker_order_id = :o OR maker_order_id = :o)"
                 " AND (CAST(:f AS bigint) IS NULL OR prevented_match_id >= :f)")
        params = {"o": order_id, "f": from_prevented_match_id}
    rows = autocommit(_clients(clients)).query(
        f"SELECT {_COLS} FROM prevented_matches WHERE symbol = :s AND account_id = :a AND {where}"
        " ORDER BY prevented_match_id LIMIT :l",
        {"s": symbol, "a": account_id, "l": max(1, min(int(limit or 500), 1000)), **params})
    return [render(r) for r in rows]


def render(r: dict) -> dict:
    """One entry of ``myPreventedMatches``, amounts at the symbol's precision."""
    spec = listed_spec(r["symbol"])
    return {"symbol": r["symbol"], "preventedMatchId": int(r["prevented_match_id"]),
            "takerOrderId": int(r["taker_order_id"]), "makerSymbol": r["symbol"],
            "makerOrderId": int(r["maker_order_id"]), "tradeGroupId": -1,
            "selfTradePreventionMode": r["stp_mode"],
            "price": _s(Decimal(str(r["price"])), spec.quote_precision),
            "makerPreventedQuantity": _s(Decimal(str(r["maker_prevented_qty"])), spec.base_precision),
            "transactTime": int(r["time_ms"])}
