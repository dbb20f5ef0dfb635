"""The public trade history in Aurora's ``trades`` table, read as market data.

What ``chalicelib/api/market.py`` answers from when the Redis cache
(``chalicelib.marketdata``) is cold or a request reaches further back than it keeps:
trades by id or time, kline bars, rolling-window statistics and each symbol's last
trade.  Every function is one statement, sent without a transaction (one Data API
call: see :func:`chalicelib.db.autocommit`).  Amounts come back as Binance prints them
(strings at the symbol's precision) except the window statistics, which stay raw for
the ticker arithmetic.
"""
from __future__ import annotations

from chalicelib import marketdata as md
from chalicelib.amounts import fmt as _f
from chalicelib.symbols import listed_spec


def _tx():
    from chalicelib.db import autocommit

    return autocommit()


def trades(symbol: str, *, from_id: int | None = None, start: int | None = None, end: int | None = None,
           limit: int = 500, newest: bool = False) -> list[dict]:
    """Trades of ``symbol``, ascending id (``newest``: the last ``limit``), in the
    cache's shape (``o``: the taker's order id, for aggregation)."""
    spec = listed_spec(symbol)
    where = ["symbol = :s"]
    params: dict = {"s": symbol, "l": limit}
    if from_id is not None:
        where.append("trade_id >= :f")
        params["f"] = from_id
    if start is not None:
        where.append("executed_at >= to_timestamp(CAST(:st AS double precision) / 1000)")
        params["st"] = start
    if end is not None:
        where.append("executed_at <= to_timestamp(CAST(:en AS double precision) / 1000)")
        params["en"] = end
    order = "DESC" if newest else "ASC"
    rows = _tx().query(
        "SELECT trade_id, price, qty, quote_qty, is_buyer_maker,"
        " CAST(floor(extract(epoch FROM executed_at) * 1000) AS bigint) AS time_ms,"
        " CASE WHEN is_buyer_maker THEN seller_order_id ELSE buyer_order_id END AS taker"
        f" FROM trades WHERE {' AND '.join(where)} ORDER BY trade_id {order} LIMIT :l", params)
    if newest:
        rows.reverse()
    pd, qd = spec.quote_precision, spec.base_precision
    return [{"id": int(r["trade_id"]), "price": _f(r["price"], pd), "qty": _f(r["qty"], qd),
             "quoteQty": _f(r["quote_qty"], pd), "time": int(r["time_ms"]), "isBuyerMaker": bool(r["is_buyer_maker"]),
             "isBestMatch": True, "o": int(r["taker"])} for r in rows]


def klines(symbol: str, interval: str, start: int | None, end: int | None, limit: int) -> list[list]:
    """Binance kline rows of ``symbol`` aggregated from its trades (UTC buckets)."""
    spec = listed_spec(symbol)
    ms = "CAST(floor(extract(epoch FROM executed_at) * 1000) AS bigint)"
    if interval == "1M":
        bucket = "CAST(extract(epoch FROM date_trunc('month', executed_at AT TIME ZONE 'UTC')) * 1000 AS bigint)"
    elif interval == "1w":
        bucket = f"(({ms} - 345600000) / 604800000) * 604800000 + 345600000"
    else:
        bucket = f"({ms} / {md.INTERVALS[interval]}) * {md.INTERVALS[interval]}"
    where = ["symbol = :s"]
    params: dict = {"s": symbol, "l": limit}
    if start is not None:
        where.append(f"{bucket} >= :st")
        params["st"] = start
    if end is not None:
        where.append(f"{bucket} <= :en")
        params["en"] = end
    order = "ASC" if start is not None else "DESC"
    rows = _tx().query(
        f"SELECT {bucket} AS open_ms, (array_agg(price ORDER BY trade_id))[1] AS o, max(price) AS h,"
        " min(price) AS lo, (array_agg(price ORDER BY trade_id DESC))[1] AS c, sum(qty) AS v,"
        " sum(quote_qty) AS qv, count(*) AS n,"
        " COALESCE(sum(qty) FILTER (WHERE NOT is_buyer_maker), 0) AS tbv,"
        " COALESCE(sum(quote_qty) FILTER (WHERE NOT is_buyer_maker), 0) AS tbq"
        f" FROM trades WHERE {' AND '.join(where)} GROUP BY 1 ORDER BY 1 {order} LIMIT :l", params)
    if order == "DESC":
        rows.reverse()
    pd, qd = spec.quote_precision, spec.base_precision
    return [[int(r["open_ms"]), _f(r["o"], pd), _f(r["h"], pd), _f(r["lo"], pd), _f(r["c"], pd), _f(r["v"], qd),
             md.kline_close(interval, int(r["open_ms"])), _f(r["qv"], pd), int(r["n"]), _f(r["tbv"], qd),
             _f(r["tbq"], pd), "0"] for r in rows]


def window_stats(symbols: list[str], start_ms: int) -> dict[str, dict]:
    """Per symbol with trades since ``start_ms``: open/high/low/last price, volume,
    quote volume, count and last trade id (raw values)."""
    rows = _tx().query(
        "SELECT symbol, (array_agg(price ORDER BY trade_id))[1] AS o, max(price) AS h, min(price) AS lo,"
        " (array_agg(price ORDER BY trade_id DESC))[1] AS c, sum(qty) AS v, sum(quote_qty) AS qv,"
        " count(*) AS n, max(trade_id) AS last_id FROM trades WHERE symbol = ANY(string_to_array(:syms, ','))"
        " AND executed_at >= to_timestamp(CAST(:st AS double precision) / 1000) GROUP BY symbol",
        {"syms": ",".join(symbols), "st": start_ms})
    return {r["symbol"]: {"open": r["o"], "high": r["h"], "low": r["lo"], "last": r["c"], "volume": r["v"],
                          "quote": r["qv"], "count": int(r["n"]), "last_id": int(r["last_id"])} for r in rows}


def last_trades(symbols: list[str]) -> dict[str, dict]:
    """Per symbol that has traded: its last trade (``lastId``, ``price``, ``qty``) in
    the cache's shape."""
    rows = _tx().query(
        "SELECT DISTINCT ON (symbol) symbol, trade_id, price, qty FROM trades"
        " WHERE symbol = ANY(string_to_array(:syms, ',')) ORDER BY symbol, trade_id DESC",
        {"syms": ",".join(symbols)})
    out = {}
    for row in rows:
        spec = listed_spec(row["symbol"])
        out[row["symbol"]] = {"lastId": str(row["trade_id"]), "price": _f(row["price"], spec.quote_precision),
                              "qty": _f(row["qty"], spec.base_precision)}
    return out
