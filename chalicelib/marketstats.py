"""Windowed trade statistics of symbols: the tickers' windows, Binance's average price
(``GET /api/v3/avgPrice``) and the reference price of the ``PERCENT_PRICE_BY_SIDE``
filter at order entry -- one computation for all three.

Read from the 1m (1h beyond a day) candles the matcher keeps in Redis, and from
Aurora's trades table when the cache is cold (``chalicelib.tradehistory``).
"""
from __future__ import annotations

from decimal import Decimal

from chalicelib import marketdata as md, tradehistory


def _redis():
    from chalicelib.clients import get_clients

    return get_clients().redis


def window_stats(symbols: list[str], window_ms: int, now: int) -> dict[str, dict | None]:
    """Per symbol: open/high/low/last/volume/quoteVolume/count/ids over [now - window, now]
    (None: no trade in the window)."""
    start = now - window_ms
    interval = "1m" if window_ms <= 86_400_000 else "1h"
    cached = md.read_klines_many(_redis(), symbols, interval, md.kline_open(interval, start))
    out: dict[str, dict | None] = {}
    cold = [s for s, rows in cached.items() if rows is None]
    for s, rows in cached.items():
        if rows is None:
            continue
        if rows:
            out[s] = {"open": Decimal(rows[0][1]), "high": max(Decimal(r[2]) for r in rows),
                      "low": min(Decimal(r[3]) for r in rows), "last": Decimal(rows[-1][4]),
                      "volume": sum((Decimal(r[5]) for r in rows), Decimal(0)),
                      "quote": sum((Decimal(r[7]) for r in rows), Decimal(0)), "count": sum(int(r[8]) for r in rows)}
        else:
            out[s] = None
    if cold:
        by = tradehistory.window_stats(cold, start)
        for s in cold:
            out[s] = by.get(s)
    return out


def last_trades(symbols: list[str]) -> dict[str, dict | None]:
    many = md.read_many(_redis(), symbols)
    out = {}
    cold = []
    for s, (_, last) in many.items():
        out[s] = last
        if last is None:
            cold.append(s)
    if cold:
        out.update(tradehistory.last_trades(cold))
    return out


def average_price(symbol: str, mins: int, now: int, cache: bool = True) -> Decimal | None:
    """The volume-weighted average trade price of the last ``mins`` minutes (by whole
    1m candles, as avgPrice reports it); the last trade's price when nothing traded in
    the window or ``mins`` is 0; None when the symbol never traded.  ``cache=False``:
    from Aurora's trades alone (for a caller that must answer while Redis is down)."""
    if mins > 0:
        stats = (window_stats([symbol], mins * 60_000, now) if cache
                 else tradehistory.window_stats([symbol], now - mins * 60_000)).get(symbol)
        if stats and Decimal(str(stats["volume"])):
            return Decimal(str(stats["quote"])) / Decimal(str(stats["volume"]))
    last = (last_trades if cache else tradehistory.last_trades)([symbol]).get(symbol)
    return Decimal(last["price"]) if last else None
