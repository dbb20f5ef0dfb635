"""Binance market stream names and payloads: parsing a stream name, and building each
event from what the matcher keeps in Redis (``chalicelib.marketdata``) or what the
REST routes compute (``chalicelib.api.market``), so a stream and its REST twin never
disagree.  Pure functions, no I/O.

Field formats are Binance's (web-socket-streams.md): numbers as fixed-point strings,
ids and times (ms) as integers, symbols upper case in payloads and lower case in
stream names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib import marketdata as md

#: Update speeds (ms) of the throttled streams.
DEPTH_SPEEDS = (100, 1000)
PARTIAL_LEVELS = (5, 10, 20)
ZERO = "0.00000000"

#: Rolling-window ticker sizes Binance streams (``@ticker_<window>``).
WINDOWS = ("1h", "4h", "1d")
_ALL_WINDOW = re.compile(r"^!ticker_(?P<window>1h|4h|1d)@arr$")
_SYMBOL_STREAM = re.compile(
    r"^(?P<sym>[a-z0-9]+)@(?:(?P<simple>trade|aggTrade|miniTicker|ticker|bookTicker|avgPrice)"
    r"|ticker_(?P<window>1h|4h|1d)"
    r"|kline_(?P<interval>[0-9]+[smhdwM])"
    r"|depth(?P<levels>5|10|20)?(?:@(?P<speed>100ms|1000ms))?)$")


@dataclass(frozen=True, slots=True)
class Stream:
    """One parsed stream name.  ``kind``: trade, aggTrade, kline, miniTicker, ticker,
    windowTicker, avgPrice, bookTicker, depth (diffs), partial (top ``levels``),
    allMiniTicker, allTicker, allWindowTicker."""

    name: str
    kind: str
    symbol: str = ""        # upper case; "" for the all-market streams
    interval: str = ""      # kline; the window of a rolling-window ticker
    levels: int = 0         # partial depth
    speed_ms: int = 0       # depth diffs / partial depth


def parse(name: object, symbols) -> Stream | None:
    """The stream ``name`` denotes, or None if it is not one we serve (unknown kind,
    interval, level count, or symbol not in ``symbols``, a set of upper-case names)."""
    if not isinstance(name, str) or len(name) > 100:
        return None
    if name == "!miniTicker@arr":
        return Stream(name, "allMiniTicker")
    if name == "!ticker@arr":
        return Stream(name, "allTicker")
    m = _ALL_WINDOW.match(name)
    if m:
        return Stream(name, "allWindowTicker", interval=m["window"])
    m = _SYMBOL_STREAM.match(name)
    if not m or m["sym"].upper() not in symbols:
        return None
    sym = m["sym"].upper()
    if m["simple"]:
        return Stream(name, m["simple"], sym)
    if m["window"]:
        return Stream(name, "windowTicker", sym, interval=m["window"])
    if m["interval"]:
        if m["interval"] not in md.INTERVALS:
            return None
        return Stream(name, "kline", sym, interval=m["interval"])
    speed = 100 if m["speed"] == "100ms" else 1000
    if m["levels"]:
        return Stream(name, "partial", sym, levels=int(m["levels"]), speed_ms=speed)
    return Stream(name, "depth", sym, speed_ms=speed)


def stream_names(symbol: str) -> dict[str, str]:
    """Name of each per-symbol stream kind of ``symbol`` (for fan-out look-ups)."""
    s = symbol.lower()
    return {"trade": f"{s}@trade", "aggTrade": f"{s}@aggTrade", "miniTicker": f"{s}@miniTicker",
            "ticker": f"{s}@ticker", "bookTicker": f"{s}@bookTicker", "avgPrice": f"{s}@avgPrice",
            **{f"ticker_{w}": f"{s}@ticker_{w}" for w in WINDOWS}}


def depth_names(symbol: str, speed_ms: int) -> list[str]:
    """Every name a diff stream of ``speed_ms`` may be subscribed under."""
    s = symbol.lower()
    return [f"{s}@depth@100ms"] if speed_ms == 100 else [f"{s}@depth", f"{s}@depth@1000ms"]


def partial_names(symbol: str, levels: int, speed_ms: int) -> list[str]:
    s = symbol.lower()
    return [f"{s}@depth{levels}@100ms"] if speed_ms == 100 else [f"{s}@depth{levels}", f"{s}@depth{levels}@1000ms"]


# -- payloads -------------------------------------------------------------------------
def trade_event(symbol: str, t: dict, event_ms: int) -> dict:
    """``<symbol>@trade`` from a trade as ``marketdata.record_trades`` publishes it."""
    return {"e": "trade", "E": event_ms, "s": symbol, "t": t["id"], "p": t["price"], "q": t["qty"],
            "T": t["time"], "m": t["isBuyerMaker"], "M": True}


def agg_trade_event(symbol: str, a: dict, event_ms: int) -> dict:
    """``<symbol>@aggTrade`` from an aggregate as REST ``aggTrades`` builds it."""
    return {"e": "aggTrade", "E": event_ms, "s": symbol, "a": a["a"], "p": a["p"], "q": a["q"], "f": a["f"],
            "l": a["l"], "T": a["T"], "m": a["m"], "M": True}


def depth_update(symbol: str, event_ms: int, first: int, last: int, bids: list, asks: list) -> dict:
    return {"e": "depthUpdate", "E": event_ms, "s": symbol, "U": first, "u": last, "b": bids, "a": asks}


def partial_depth(last_update_id: int, bids: list, asks: list) -> dict:
    return {"lastUpdateId": last_update_id, "bids": bids, "asks": asks}


def book_ticker(symbol: str, update_id: int, bid: list | None, ask: list | None) -> dict:
    bid, ask = bid or [ZERO, ZERO], ask or [ZERO, ZERO]
    return {"u": update_id, "s": symbol, "b": bid[0], "B": bid[1], "a": ask[0], "A": ask[1]}


def kline_event(symbol: str, interval: str, row: list, first_id: int, last_id: int, closed: bool,
                event_ms: int) -> dict:
    """``<symbol>@kline_<interval>`` from a kline row as REST ``klines`` returns it."""
    return {"e": "kline", "E": event_ms, "s": symbol, "k": {
        "t": row[0], "T": row[6], "s": symbol, "i": interval, "f": first_id, "L": last_id, "o": row[1],
        "c": row[4], "h": row[2], "l": row[3], "v": row[5], "n": row[8], "x": closed, "q": row[7],
        "V": row[9], "Q": row[10], "B": "0"}}


def empty_kline(open_ms: int, interval: str, price: str) -> list:
    """A candle with no trade (Binance repeats the last close as o/h/l/c)."""
    return [open_ms, price, price, price, price, ZERO, md.kline_close(interval, open_ms), ZERO, 0, ZERO, ZERO, "0"]


def ticker_event(row: dict, event_ms: int) -> dict:
    """``<symbol>@ticker`` from a REST ``ticker/24hr`` (FULL) row."""
    return {"e": "24hrTicker", "E": event_ms, "s": row["symbol"], "p": row["priceChange"],
            "P": row["priceChangePercent"], "w": row["weightedAvgPrice"], "x": row["prevClosePrice"],
            "c": row["lastPrice"], "Q": row["lastQty"], "b": row["bidPrice"], "B": row["bidQty"],
            "a": row["askPrice"], "A": row["askQty"], "o": row["openPrice"], "h": row["highPrice"],
            "l": row["lowPrice"], "v": row["volume"], "q": row["quoteVolume"], "O": row["openTime"],
            "C": row["closeTime"], "F": row["firstId"], "L": row["lastId"], "n": row["count"]}


def mini_ticker_event(row: dict, event_ms: int) -> dict:
    """``<symbol>@miniTicker`` from a REST ``ticker/24hr`` row (MINI or FULL)."""
    return {"e": "24hrMiniTicker", "E": event_ms, "s": row["symbol"], "c": row["lastPrice"], "o": row["openPrice"],
            "h": row["highPrice"], "l": row["lowPrice"], "v": row["volume"], "q": row["quoteVolume"]}


def window_ticker_event(row: dict, window: str, event_ms: int) -> dict:
    """``<symbol>@ticker_<window>`` from a REST ``ticker?windowSize=`` (FULL) row."""
    return {"e": f"{window}Ticker", "E": event_ms, "s": row["symbol"], "p": row["priceChange"],
            "P": row["priceChangePercent"], "o": row["openPrice"], "h": row["highPrice"], "l": row["lowPrice"],
            "c": row["lastPrice"], "w": row["weightedAvgPrice"], "v": row["volume"], "q": row["quoteVolume"],
            "O": row["openTime"], "C": row["closeTime"], "F": row["firstId"], "L": row["lastId"], "n": row["count"]}


def avg_price_event(symbol: str, avg: dict, last_trade_ms: int, event_ms: int) -> dict:
    """``<symbol>@avgPrice`` from REST ``avgPrice`` and the last trade's time."""
    return {"e": "avgPrice", "E": event_ms, "s": symbol, "i": f"{avg['mins']}m", "w": avg["price"],
            "T": last_trade_ms}


#: Fields whose change makes an all-market ticker array list the symbol again.
TICKER_STATE = ("c", "o", "h", "l", "v", "q")
