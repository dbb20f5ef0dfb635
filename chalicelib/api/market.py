"""Public market data: exchange info from the symbols file; book, trades, klines and
tickers from Redis (written by the matcher through ``chalicelib.marketdata``), and
from Aurora's trades table (``chalicelib.tradehistory``, where the SQL is) / the
DynamoDB book item when the cache is cold."""
from __future__ import annotations

import json
from decimal import Decimal

from chalicelib import marketdata as md, marketstats, tradehistory
from chalicelib.amounts import fmt as _f
from chalicelib.clock import now_ms
from chalicelib.errors import ExchangeError, Failure, Reason

ZERO = "0.00000000"
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
STP_MODES = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]


def _catalog():
    from chalicelib.symbols import load_catalog

    return load_catalog()


def _redis():
    from chalicelib.clients import get_clients

    return get_clients().redis


def _symbols_of(ctx) -> tuple[list[str], bool]:
    """The symbols a request names (``symbol`` or ``symbols``) or all; and whether it
    asked for a single one (then the answer is an object, not a list)."""
    if ctx.args["symbol"] and ctx.args["symbols"]:
        raise ExchangeError(Failure(Reason.PARAM_NOT_REQUIRED,
                                    "Parameter 'symbol' and 'symbols' cannot be sent together."))
    if ctx.args["symbol"]:
        return [ctx.args["symbol"]], True
    if ctx.args["symbols"]:
        return list(ctx.args["symbols"]), False
    return sorted(_catalog().symbols), False


# -- general --------------------------------------------------------------------------
def ping(ctx) -> dict:
    return {}


def server_time(ctx) -> dict:
    return {"serverTime": now_ms()}


def _percent_price_by_side(spec) -> list[dict]:
    """The symbol's PERCENT_PRICE_BY_SIDE filter as Binance lists it (none if unset)."""
    p = spec.percent_price_by_side
    if p is None:
        return []
    return [{"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": str(p.bid_multiplier_up),
             "bidMultiplierDown": str(p.bid_multiplier_down), "askMultiplierUp": str(p.ask_multiplier_up),
             "askMultiplierDown": str(p.ask_multiplier_down), "avgPriceMins": p.avg_price_mins}]


def symbol_info(spec, permission_sets: bool = True) -> dict:
    d = 8
    info = {
        "symbol": spec.symbol, "status": spec.status,
        "baseAsset": spec.base_asset, "baseAssetPrecision": spec.base_precision,
        "quoteAsset": spec.quote_asset, "quotePrecision": spec.quote_precision,
        "quoteAssetPrecision": spec.quote_precision, "baseCommissionPrecision": spec.base_precision,
        "quoteCommissionPrecision": spec.quote_precision, "orderTypes": ORDER_TYPES,
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "amendAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": _f(spec.min_price, d), "maxPrice": _f(spec.max_price, d),
             "tickSize": _f(spec.tick_size, d)},
            {"filterType": "LOT_SIZE", "minQty": _f(spec.min_qty, d), "maxQty": _f(spec.max_qty, d),
             "stepSize": _f(spec.step_size, d)},
            {"filterType": "ICEBERG_PARTS", "limit": spec.iceberg_parts},
            {"filterType": "MARKET_LOT_SIZE", "minQty": _f(spec.market_min_qty, d),
             "maxQty": _f(spec.market_max_qty, d), "stepSize": _f(spec.step_size, d)},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": spec.trailing_delta.min_above,
             "maxTrailingAboveDelta": spec.trailing_delta.max_above,
             "minTrailingBelowDelta": spec.trailing_delta.min_below,
             "maxTrailingBelowDelta": spec.trailing_delta.max_below},
            *_percent_price_by_side(spec),
            {"filterType": "NOTIONAL", "minNotional": _f(spec.min_notional, d),
             "applyMinToMarket": spec.apply_min_to_market, "maxNotional": _f(spec.max_notional, d),
             "applyMaxToMarket": spec.apply_max_to_market, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": spec.max_num_algo_orders},
            {"filterType": "MAX_NUM_ICEBERG_ORDERS", "maxNumIcebergOrders": spec.max_num_iceberg_orders},
        ],
        "permissions": [] if permission_sets else ["SPOT"],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": STP_MODES,
    }
    return info


def exchange_info(ctx) -> dict:
    from chalicelib.api.ratelimit import rate_limits_info

    cat = _catalog()
    names, _ = _symbols_of(ctx)
    perms = ctx.args["permissions"]
    if perms is not None:
        try:
            wanted = json.loads(perms) if perms.startswith("[") else [perms]
        except ValueError:
            wanted = None
        if not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted):
            raise ExchangeError(Failure(Reason.ILLEGAL_CHARS, "Illegal characters found in parameter 'permissions'."))
        if "SPOT" not in wanted:
            names = []
    specs = [cat.symbols[n] for n in names]
    if ctx.args["symbolStatus"]:
        specs = [s for s in specs if s.status == ctx.args["symbolStatus"]]
    show_sets = ctx.args.get("showPermissionSets", True)
    return {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": rate_limits_info(), "exchangeFilters": [],
            "symbols": [symbol_info(s, show_sets) for s in specs]}


# -- order book -----------------------------------------------------------------------
def _depth_snapshot(symbol: str) -> dict:
    snap = md.read_depth(_redis(), symbol)
    if snap is not None:
        return snap
    from pynamodb.exceptions import DoesNotExist, TableDoesNotExist

    from chalicelib.tables import BookModel

    try:  # cold cache: the matcher's last book item in DynamoDB
        item = BookModel.get(symbol, md.DEPTH_ITEM)
    except (DoesNotExist, TableDoesNotExist):  # no book published yet: an empty one
        return {"lastUpdateId": 0, "bids": [], "asks": []}
    return json.loads(item.body)


def depth(ctx) -> dict:
    snap = _depth_snapshot(ctx.args["symbol"])
    limit = ctx.args.get("limit", 100)
    return {"lastUpdateId": int(snap.get("lastUpdateId", 0)), "bids": snap.get("bids", [])[:limit],
            "asks": snap.get("asks", [])[:limit]}


# -- trades -----------------------------------------------------------------------------
def _trade_out(t: dict) -> dict:
    return {"id": t["id"], "price": t["price"], "qty": t["qty"], "quoteQty": t["quoteQty"], "time": t["time"],
            "isBuyerMaker": t["isBuyerMaker"], "isBestMatch": True}


def _recent(symbol: str, limit: int) -> list[dict]:
    rows = md.read_trades(_redis(), symbol, limit)
    if rows is None:
        rows = tradehistory.trades(symbol, limit=limit, newest=True)
    return rows


def recent_trades(ctx) -> list:
    return [_trade_out(t) for t in _recent(ctx.args["symbol"], ctx.args.get("limit", 500))]


def historical_trades(ctx) -> list:
    limit = ctx.args.get("limit", 500)
    if ctx.args["fromId"] is None:
        return recent_trades(ctx)
    return [_trade_out(t) for t in tradehistory.trades(ctx.args["symbol"], from_id=ctx.args["fromId"], limit=limit)]


def aggregate_trades(trades: list[dict]) -> list[dict]:
    """Binance's aggregate trades: consecutive fills of one taker order at one price.
    The aggregate id is the id of its first trade."""
    out: list[dict] = []
    for t in trades:
        last = out[-1] if out else None
        if last and last["_o"] == t.get("o") and last["p"] == t["price"] and last["l"] + 1 == t["id"]:
            last["q"] = str(Decimal(last["q"]) + Decimal(t["qty"]))
            last["l"] = t["id"]
            continue
        out.append({"a": t["id"], "p": t["price"], "q": t["qty"], "f": t["id"], "l": t["id"], "T": t["time"],
                    "m": t["isBuyerMaker"], "M": True, "_o": t.get("o")})
    qd = 8
    for a in out:
        a.pop("_o")
        a["q"] = _f(a["q"], qd)
    return out


def agg_trades(ctx) -> list:
    """Binance's aggTrades: the most recent, or from ``fromId`` on, or within
    ``startTime``/``endTime`` (no cap on the window); ``fromId`` with a time bound is
    -1128 ("cannot be used together", web-socket-api.md)."""
    symbol, limit = ctx.args["symbol"], ctx.args.get("limit", 500)
    start, end, from_id = ctx.args["startTime"], ctx.args["endTime"], ctx.args["fromId"]
    if from_id is not None and (start is not None or end is not None):
        raise ExchangeError(Reason.OPTIONAL_PARAMS_BAD_COMBO)
    if start is not None and end is not None and end < start:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "endTime must not be before startTime."))
    if from_id is None and start is None and end is None:
        aggs = aggregate_trades(_recent(symbol, min(1000, limit * 4)))
        return aggs[-limit:]
    fetch = min(5000, limit * 4)
    rows = tradehistory.trades(symbol, from_id=from_id, start=start, end=end, limit=fetch)
    aggs = aggregate_trades(rows)
    if len(rows) == fetch and len(aggs) > 1:
        aggs = aggs[:-1]  # the last group may continue beyond what was fetched
    return aggs[:limit]


# -- klines -----------------------------------------------------------------------------
def klines(ctx) -> list:
    symbol, interval = ctx.args["symbol"], ctx.args["interval"]
    start, end, limit = ctx.args["startTime"], ctx.args["endTime"], ctx.args.get("limit", 500)
    tz = ctx.args["timeZone"]
    if tz not in (None, "0", "+0", "-0", "00:00", "+00:00", "-00:00", "0:00", "+0:00"):
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Only timeZone 0 (UTC) is supported."))
    if start is not None and end is not None and end < start:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "endTime must not be before startTime."))
    rows = md.read_klines(_redis(), symbol, interval, start, end, limit)
    if rows is None:
        rows = tradehistory.klines(symbol, interval, start, end, limit)
    return rows


def ui_klines(ctx) -> list:
    """Binance's uiKlines: the same bars as klines here."""
    return klines(ctx)


# -- tickers ----------------------------------------------------------------------------
_window_stats = marketstats.window_stats  # the tickers' windows (one computation with avgPrice's)
_last_trades = marketstats.last_trades


def _tops(symbols: list[str]) -> dict[str, tuple[list, list]]:
    out = {}
    for s, (snap, _) in md.read_many(_redis(), symbols).items():
        if snap is None:
            snap = _depth_snapshot(s)
        bids, asks = snap.get("bids") or [], snap.get("asks") or []
        out[s] = (bids[0] if bids else [ZERO, ZERO], asks[0] if asks else [ZERO, ZERO])
    return out


def _ticker(symbol: str, stats: dict | None, last: dict | None, top, window_ms: int, now: int, kind: str,
            full_24h: bool) -> dict:
    spec = _catalog().symbol(symbol)
    pd, qd = spec.quote_precision, spec.base_precision
    last_id = int(last["lastId"]) if last and last.get("lastId") is not None else -1
    if stats:
        o, h, low, c = Decimal(stats["open"]), Decimal(stats["high"]), Decimal(stats["low"]), Decimal(stats["last"])
        vol, quote, n = Decimal(stats["volume"]), Decimal(stats["quote"]), stats["count"]
        last_id = stats.get("last_id", last_id)
        first_id = last_id - n + 1
    else:
        o = h = low = c = vol = quote = Decimal(0)
        n, first_id = 0, -1
        last_id = -1 if not stats else last_id
        if last:  # no trade in the window: Binance shows the last price with zero volume
            c = Decimal(last["price"])
    d = {"symbol": symbol, "openPrice": _f(o, pd), "highPrice": _f(h, pd), "lowPrice": _f(low, pd),
         "lastPrice": _f(c, pd), "volume": _f(vol, qd), "quoteVolume": _f(quote, pd), "openTime": now - window_ms,
         "closeTime": now, "firstId": first_id if n else -1, "lastId": last_id if n else -1, "count": n}
    if kind == "MINI":
        return d
    change = c - o if n else Decimal(0)
    pct = (change / o * 100) if n and o else Decimal(0)
    wavg = (quote / vol) if vol else Decimal(0)
    full = {"symbol": symbol, "priceChange": _f(change, pd), "priceChangePercent": f"{pct:.3f}",
            "weightedAvgPrice": _f(wavg, pd)}
    if full_24h:
        full.update({"prevClosePrice": _f(o, pd), "lastPrice": _f(c, pd),
                     "lastQty": _f(last["qty"], qd) if last and n else _f(0, qd),
                     "bidPrice": top[0][0], "bidQty": top[0][1], "askPrice": top[1][0], "askQty": top[1][1]})
    full.update({k: v for k, v in d.items() if k != "symbol"})
    return full


def _tickers(ctx, window_ms: int, full_24h: bool):
    names, single = _symbols_of(ctx)
    now = now_ms()
    kind = ctx.args.get("type", "FULL")
    stats = _window_stats(names, window_ms, now)
    lasts = _last_trades(names)
    tops = _tops(names) if full_24h and kind == "FULL" else {}
    rows = [_ticker(s, stats.get(s), lasts.get(s), tops.get(s), window_ms, now, kind, full_24h) for s in names]
    return rows[0] if single else rows


def ticker_24hr(ctx):
    return _tickers(ctx, 86_400_000, True)


def ticker_window(ctx):
    size = ctx.args.get("windowSize", "1d")
    unit = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}[size[-1]]
    return _tickers(ctx, int(size[:-1]) * unit, False)


def ticker_price(ctx):
    names, single = _symbols_of(ctx)
    lasts = _last_trades(names)
    rows = [{"symbol": s, "price": last["price"] if (last := lasts.get(s)) else ZERO} for s in names]
    return rows[0] if single else rows


def book_ticker(ctx):
    names, single = _symbols_of(ctx)
    tops = _tops(names)
    rows = [{"symbol": s, "bidPrice": tops[s][0][0], "bidQty": tops[s][0][1], "askPrice": tops[s][1][0],
             "askQty": tops[s][1][1]} for s in names]
    return rows[0] if single else rows


def avg_price(ctx) -> dict:
    symbol = ctx.args["symbol"]
    now = now_ms()
    pd = _catalog().symbol(symbol).quote_precision
    price = marketstats.average_price(symbol, 5, now)
    return {"mins": 5, "price": _f(price or 0, pd), "closeTime": now}
