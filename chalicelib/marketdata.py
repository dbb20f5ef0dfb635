"""Market data in Redis: the one definition of its keys, and the helpers that write
and read them.

The matcher (the single writer per symbol, since it holds the symbol's lease) calls
:func:`publish_depth` after each batch of book changes and :func:`record_trades`
with the batch's trades; the API reads with the ``read_*`` helpers and falls back to
Aurora/DynamoDB when a key is missing (a cold cache).  Keys, all under
``settings.redis_key_prefix`` (``p``)::

    {p}depth:{symbol}            string  JSON {"lastUpdateId", "E", "bids": [[price, qty]...], "asks": [...]}
    {p}trades:{symbol}           list    newest first, JSON trades (Binance /trades fields + "o":
                                         taker order id), capped at TRADES_KEPT
    {p}ticker:{symbol}           hash    lastId, price, qty, time (last trade; also the
                                         idempotency mark: trades with id <= lastId are skipped)
    {p}kline:{symbol}:{interval} zset    score = open time, member = the Binance kline array
                                         as JSON; KLINES_KEPT per interval
    {p}md:{symbol}               pub/sub JSON notifications, one per settled batch:
                                 {"e": "depth", "s", "E", "U", "u", "b", "a"}: the level changes
                                 (Binance depthUpdate fields) from the previous stored
                                 snapshot (lastUpdateId U - 1) to this one (lastUpdateId u);
                                 {"e": "trade", "s", "t": [trades as in the trades list]}

DynamoDB's book table item ``(symbol, DEPTH_ITEM)`` may hold the same depth JSON as a
durable fallback.

Amounts are Decimal in, Binance-style fixed-point strings out (price with the quote
asset's precision, quantity with the base asset's).
"""
from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from chalicelib.amounts import fmt as _f

TRADES_KEPT = 1000
#: The BOOK_TABLE item (range key) holding the same depth snapshot JSON, the API's
#: fallback when Redis is cold: BookModel(symbol, DEPTH_ITEM, body=json, seq=lastUpdateId).
DEPTH_ITEM = "depth"
KLINES_KEPT = 5000

_MIN = 60_000
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
#: Every Binance kline interval and its length in ms (1M: calendar months, see kline_open).
INTERVALS: dict[str, int] = {
    "1s": 1000, "1m": _MIN, "3m": 3 * _MIN, "5m": 5 * _MIN, "15m": 15 * _MIN, "30m": 30 * _MIN,
    "1h": _HOUR, "2h": 2 * _HOUR, "4h": 4 * _HOUR, "6h": 6 * _HOUR, "8h": 8 * _HOUR, "12h": 12 * _HOUR,
    "1d": _DAY, "3d": 3 * _DAY, "1w": 7 * _DAY, "1M": 31 * _DAY,
}
_WEEK_OFFSET = 4 * _DAY  # 1970-01-01 was a Thursday; Binance weeks open on Monday 00:00 UTC


@dataclass(frozen=True, slots=True)
class Trade:
    """A trade as market data sees it (no accounts)."""

    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time_ms: int
    is_buyer_maker: bool
    taker_order_id: int = 0


# -- keys ---------------------------------------------------------------------------
def _prefix(prefix: str | None) -> str:
    if prefix is not None:
        return prefix
    from chalicelib.settings import get_settings

    return get_settings().redis_key_prefix


def depth_key(symbol: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}depth:{symbol}"


def trades_key(symbol: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}trades:{symbol}"


def ticker_key(symbol: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}ticker:{symbol}"


def kline_key(symbol: str, interval: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}kline:{symbol}:{interval}"


def channel(symbol: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}md:{symbol}"


# -- formatting -----------------------------------------------------------------------
def _dumps(obj) -> str:
    """Compact JSON, as ``json.dumps(obj, separators=(",", ":"))`` writes it: the same
    bytes for what market data holds (ASCII strings, integers, booleans, lists, dicts;
    tests/chalicelib/test_marketdata_json.py), by orjson -- a batch writes a document
    per trade, and the standard library's encoder was most of market data's CPU."""
    return orjson.dumps(obj).decode()


def _decimals(symbol: str) -> tuple[int, int]:
    """(price decimals, quantity decimals) as Binance prints them."""
    from chalicelib.symbols import spec_of

    spec = spec_of(symbol)
    return (spec.quote_precision, spec.base_precision) if spec else (8, 8)


def kline_open(interval: str, time_ms: int) -> int:
    """Open time of the ``interval`` candle that contains ``time_ms``."""
    if interval == "1M":
        d = datetime.fromtimestamp(time_ms / 1000, tz=UTC)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000
    size = INTERVALS[interval]
    if interval == "1w":
        return (time_ms - _WEEK_OFFSET) // size * size + _WEEK_OFFSET
    return time_ms // size * size


def kline_close(interval: str, open_ms: int) -> int:
    """Close time (inclusive, ms) of the candle opening at ``open_ms``."""
    if interval == "1M":
        d = datetime.fromtimestamp(open_ms / 1000, tz=UTC)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000 - 1
    return open_ms + INTERVALS[interval] - 1


# -- writes (the matcher) -------------------------------------------------------------
def level_changes(old: Sequence[Sequence[str]], new: Sequence[Sequence[str]], zero: str) -> list[list[str]]:
    """The [price, quantity] pairs that turn one side of a stored snapshot into the
    same side of the next one (``zero`` for a level that left), best first."""
    before = {p: q for p, q in old}
    after = {p for p, _ in new}
    out = [[p, q] for p, q in new if before.get(p) != q]
    out.extend([p, zero] for p, _ in old if p not in after)
    return out


def publish_depth(redis, symbol: str, last_update_id: int, bids: Iterable[Sequence], asks: Iterable[Sequence],
                  time_ms: int | None = None, prefix: str | None = None) -> dict:
    """Store the full aggregated book of ``symbol`` (levels best first, as (price,
    quantity) pairs) and notify subscribers with the level changes since the stored
    snapshot, as one atomic step (WATCH/MULTI): every snapshot the API can serve is
    the end of exactly one published diff, and diff ``U`` is the previous snapshot's
    ``lastUpdateId + 1``, so Binance's local-order-book procedure finds no gap and no
    overlap.  Without a stored snapshot the previous one is the empty book at id 0
    (what the API serves for a book never published), so ``U = 1``; if ids went
    backwards the diff is a reset (``U = u``, every level), which clients see as a gap
    and resync.  Returns the stored snapshot."""
    from redis.exceptions import WatchError

    pd, qd = _decimals(symbol)
    last_id, event_ms = int(last_update_id), int(time_ms if time_ms is not None else time.time() * 1000)
    bid_levels = [[_f(p, pd), _f(q, qd)] for p, q in bids]
    ask_levels = [[_f(p, pd), _f(q, qd)] for p, q in asks]
    snap = {"lastUpdateId": last_id, "E": event_ms, "bids": bid_levels, "asks": ask_levels}
    key, zero = depth_key(symbol, prefix), _f(0, qd)
    with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                prev = orjson.loads(raw) if raw else None
                if prev is None:  # what the API serves for a book never published: empty, id 0
                    prev = {"lastUpdateId": 0, "bids": [], "asks": []}
                if int(prev.get("lastUpdateId", 0)) >= last_id:
                    prev, first = {"bids": [], "asks": []}, last_id
                else:
                    first = int(prev["lastUpdateId"]) + 1
                diff = {"e": "depth", "s": symbol, "E": event_ms, "U": first, "u": last_id,
                        "b": level_changes(prev.get("bids", []), bid_levels, zero),
                        "a": level_changes(prev.get("asks", []), ask_levels, zero)}
                pipe.multi()
                pipe.set(key, _dumps(snap))
                pipe.publish(channel(symbol, prefix), _dumps(diff))
                pipe.execute()
                return snap
            except WatchError:  # another writer (a stale owner, a cache rebuild) got there first
                continue


@dataclass(slots=True)
class _Run:
    """Consecutive trades (in trade id order) of one millisecond, summed once for
    every interval's candle they fall in (a batch's trades share their time)."""

    time_ms: int
    first: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    vol: Decimal
    quote: Decimal
    n: int
    taker_buy_vol: Decimal
    taker_buy_quote: Decimal


def _runs(trades: Sequence[Trade]) -> list[_Run]:
    out: list[_Run] = []
    r: _Run | None = None
    zero = Decimal(0)
    for t in trades:
        if r is None or t.time_ms != r.time_ms:
            r = _Run(t.time_ms, t.price, t.price, t.price, t.price, zero, zero, 0, zero, zero)
            out.append(r)
        r.high = max(r.high, t.price)
        r.low = min(r.low, t.price)
        r.close = t.price
        r.vol += t.qty
        r.quote += t.quote_qty
        r.n += 1
        if not t.is_buyer_maker:  # the taker bought
            r.taker_buy_vol += t.qty
            r.taker_buy_quote += t.quote_qty
    return out


def _merge_kline(row: list | None, open_ms: int, close_ms: int, runs: list[_Run], pd: int, qd: int) -> list:
    d = Decimal
    if row is None:
        first = runs[0].first
        o, h, low, c = first, first, first, first
        vol = qv = tbv = tbq = d(0)
        n = 0
    else:
        o, h, low, c = d(row[1]), d(row[2]), d(row[3]), d(row[4])
        vol, qv, n, tbv, tbq = d(row[5]), d(row[7]), int(row[8]), d(row[9]), d(row[10])
    for r in runs:
        h = max(h, r.high)
        low = min(low, r.low)
        c = r.close
        vol += r.vol
        qv += r.quote
        n += r.n
        tbv += r.taker_buy_vol
        tbq += r.taker_buy_quote
    return [open_ms, _f(o, pd), _f(h, pd), _f(low, pd), _f(c, pd), _f(vol, qd), close_ms, _f(qv, pd), n,
            _f(tbv, qd), _f(tbq, pd), "0"]


def record_trades(redis, symbol: str, trades: Sequence[Trade], prefix: str | None = None) -> int:
    """Add a batch of trades (ascending trade id) to the recent-trades list, the last
    trade and the klines of every interval, and notify subscribers.  Trades at or
    below the last recorded id are skipped, so a redelivered batch changes nothing.
    Returns how many trades were new."""
    if not trades:
        return 0
    pd, qd = _decimals(symbol)
    tk = ticker_key(symbol, prefix)
    last = redis.hget(tk, "lastId")
    last_id = int(last) if last is not None else -1
    new = sorted((t for t in trades if t.trade_id > last_id), key=lambda t: t.trade_id)
    if not new:
        return 0
    # read the candles the batch touches (one round trip), merge, write back (one more);
    # the trades are summed per run of one millisecond first, not per trade and interval
    runs = _runs(new)
    touched: list[tuple[str, int, list[_Run]]] = []
    for interval in INTERVALS:
        buckets: dict[int, list[_Run]] = {}
        for r in runs:
            buckets.setdefault(kline_open(interval, r.time_ms), []).append(r)
        touched.extend((interval, o, rs) for o, rs in buckets.items())
    pipe = redis.pipeline(transaction=False)
    for interval, open_ms, _ in touched:
        pipe.zrangebyscore(kline_key(symbol, interval, prefix), open_ms, open_ms)
    existing = pipe.execute()
    pipe = redis.pipeline(transaction=True)
    for (interval, open_ms, rs), rows in zip(touched, existing, strict=True):
        row = orjson.loads(rows[0]) if rows else None
        merged = _merge_kline(row, open_ms, kline_close(interval, open_ms), rs, pd, qd)
        key = kline_key(symbol, interval, prefix)
        pipe.zremrangebyscore(key, open_ms, open_ms)
        pipe.zadd(key, {_dumps(merged): open_ms})
        pipe.zremrangebyrank(key, 0, -KLINES_KEPT - 1)
    docs = [_dumps({"id": t.trade_id, "price": _f(t.price, pd), "qty": _f(t.qty, qd),
                    "quoteQty": _f(t.quote_qty, pd), "time": t.time_ms, "isBuyerMaker": t.is_buyer_maker,
                    "isBestMatch": True, "o": t.taker_order_id}) for t in new]
    pipe.lpush(trades_key(symbol, prefix), *docs)
    pipe.ltrim(trades_key(symbol, prefix), 0, TRADES_KEPT - 1)
    t = new[-1]
    pipe.hset(tk, mapping={"lastId": t.trade_id, "price": _f(t.price, pd), "qty": _f(t.qty, qd),
                           "time": t.time_ms})
    # the notification carries the same documents: spliced in, not parsed and dumped again
    pipe.publish(channel(symbol, prefix), '{"e":"trade","s":' + json.dumps(symbol) + ',"t":[' + ",".join(docs) + "]}")
    pipe.execute()
    return len(new)


def clear_trades_ahead(redis, symbol: str, last_trade_id: int, prefix: str | None = None) -> bool:
    """Drop the symbol's recent trades, last trade and klines when Redis holds a trade
    Aurora does not (``lastId`` above Aurora's last trade id: the stores were reset
    or restored apart).  Those keys are also what :func:`record_trades` skips repeats
    by, so left in place they would hide the next trades; dropped, the API reads
    Aurora (a cold cache) until the matcher publishes again.  The depth key is
    replaced by the matcher's next :func:`publish_depth`.  True if anything was
    dropped."""
    last = redis.hget(ticker_key(symbol, prefix), "lastId")
    if last is None or int(last) <= last_trade_id:
        return False
    redis.delete(ticker_key(symbol, prefix), trades_key(symbol, prefix),
                 *(kline_key(symbol, i, prefix) for i in INTERVALS))
    return True


# -- reads (the API) ------------------------------------------------------------------
def read_depth(redis, symbol: str, prefix: str | None = None) -> dict | None:
    raw = redis.get(depth_key(symbol, prefix))
    return json.loads(raw) if raw else None


def read_trades(redis, symbol: str, limit: int, prefix: str | None = None) -> list[dict] | None:
    """Up to ``limit`` most recent trades, oldest first; None when the cache is cold."""
    pipe = redis.pipeline(transaction=False)
    pipe.exists(trades_key(symbol, prefix))
    pipe.lrange(trades_key(symbol, prefix), 0, limit - 1)
    exists, rows = pipe.execute()
    if not exists:
        return None
    return [json.loads(r) for r in reversed(rows)]


def read_last(redis, symbol: str, prefix: str | None = None) -> dict | None:
    row = redis.hgetall(ticker_key(symbol, prefix))
    return row or None


def read_klines(redis, symbol: str, interval: str, start_ms: int | None, end_ms: int | None, limit: int,
                prefix: str | None = None) -> list[list] | None:
    """Klines of ``interval`` (ascending open time) within [start, end]: the first
    ``limit`` from start if start is given, else the last ``limit`` up to end.  None
    when the cache is cold for this symbol."""
    key = kline_key(symbol, interval, prefix)
    lo = "-inf" if start_ms is None else start_ms
    hi = "+inf" if end_ms is None else end_ms
    pipe = redis.pipeline(transaction=False)
    pipe.exists(key)
    if start_ms is not None:
        pipe.zrangebyscore(key, lo, hi, start=0, num=limit)
    else:
        pipe.zrevrangebyscore(key, hi, lo, start=0, num=limit)
    exists, rows = pipe.execute()
    if not exists:
        return None
    out = [json.loads(r) for r in rows]
    return out if start_ms is not None else out[::-1]


def read_klines_many(redis, symbols: Sequence[str], interval: str, start_ms: int,
                     prefix: str | None = None) -> dict[str, list[list] | None]:
    """Klines since ``start_ms`` for several symbols in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for s in symbols:
        pipe.exists(kline_key(s, interval, prefix))
        pipe.zrangebyscore(kline_key(s, interval, prefix), start_ms, "+inf")
    res = pipe.execute()
    return {s: ([json.loads(r) for r in res[2 * i + 1]] if res[2 * i] else None) for i, s in enumerate(symbols)}


def read_many(redis, symbols: Sequence[str], prefix: str | None = None) -> dict[str, tuple[dict | None, dict | None]]:
    """(depth snapshot, last trade) of several symbols in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for s in symbols:
        pipe.get(depth_key(s, prefix))
        pipe.hgetall(ticker_key(s, prefix))
    res = pipe.execute()
    return {s: (json.loads(res[2 * i]) if res[2 * i] else None, res[2 * i + 1] or None)
            for i, s in enumerate(symbols)}
