"""The batch's effects outside PostgreSQL: DynamoDB items and Redis market data.

DynamoDB: the batch's trades as trade pages (TRADES table, keyed symbol + the
page's first trade id; :mod:`chalicelib.tradepages`) and the depth snapshot (BOOK
table, item ``depth``: the API's fallback when Redis is cold), in BatchWriteItem
requests of 25 items.  Every item is a deterministic function of the journal, so a
repeat writes the same bytes.  Trades go in pages of up to 1,000 per symbol and
batch, not one item per trade: botocore's serialisation of per-trade items was
~19 us of the matcher's ~150 us of CPU per order, and each item a write unit
(half a write unit per order); a page is one item per batch and about a tenth of a
write unit per trade.  An order's state is not written here: nothing reads it from
DynamoDB (the API reads orders from Aurora, recovery reads the journal and the
engine snapshot), and it was one write per order.

Redis: through :mod:`chalicelib.marketdata` (the one definition of the keys):
depth snapshot + best bid/ask, recent trades, last trade / ticker, klines, and a
pub/sub message per update; trades at or below the last published id are
skipped, so a repeat publishes nothing new.
"""
from __future__ import annotations

import json
import random
import time

from chalicelib import marketdata, tradepages
from chalicelib.marketdata import DEPTH_ITEM
from chalicelib.tables import BOOK_ITEMS

from .settlement import Derived

BATCH_WRITE_TRIES = 12  # about 7 s of backoff in all (15 s at most): under the health check's 30 s
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.05, 2.0


class DynamoUnavailable(RuntimeError):
    """DynamoDB kept refusing a batch's items (throttling): an outage.  The batch's
    PostgreSQL transaction rolls back and the worker stops; recovery repeats it."""


def backoff_s(attempt: int, rng=random.random) -> float:
    """The wait before retry ``attempt`` (1, 2, ...): "full jitter", a uniform draw
    below an exponential ceiling capped at :data:`BACKOFF_CAP_S` (so that writers
    throttled together do not retry together)."""
    return rng() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


class DynamoEffects:
    def __init__(self, dynamodb, trades_table: str, book_table: str):
        self.ddb = dynamodb
        self.trades_table = trades_table
        self.book_table = book_table
        self.requests = 0

    def items(self, symbol: str, codec, derived: Derived, depth: tuple[list, list], token: int,
              depth_seq: int) -> list[tuple[str, dict]]:
        out: list[tuple[str, dict]] = []
        if derived.fills:
            table = self.trades_table
            out.extend((table, item) for item in tradepages.page_items(symbol, [
                (f.trade_id, f.price, f.qty, f.quote, f.buyer_order_id, f.seller_order_id, f.is_buyer_maker,
                 f.seq, f.time_ms) for f in derived.fills]))
        bids, asks = depth
        out.append((self.book_table, BOOK_ITEMS.to_item(
            symbol=symbol, item=DEPTH_ITEM, seq=depth_seq, fencing_token=token,
            body=_dumps({"lastUpdateId": depth_seq, "bids": [[str(p), str(q)] for p, q in bids],
                         "asks": [[str(p), str(q)] for p, q in asks]}))))
        return out

    def write(self, items: list[tuple[str, dict]]) -> None:
        for i in range(0, len(items), 25):
            request: dict[str, list] = {}
            for table, item in items[i:i + 25]:
                request.setdefault(table, []).append({"PutRequest": {"Item": item}})
            self._write_chunk(request)

    def _write_chunk(self, request: dict[str, list]) -> None:
        """One BatchWriteItem, then its ``UnprocessedItems`` again after a jittered
        backoff (botocore's retry mode covers errors, not a partly written batch), at
        most :data:`BATCH_WRITE_TRIES` calls: then DynamoDB counts as unavailable."""
        for attempt in range(BATCH_WRITE_TRIES):
            if attempt:
                time.sleep(backoff_s(attempt))
            self.requests += 1
            request = self.ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                return
        left = sum(len(v) for v in request.values())
        raise DynamoUnavailable(f"{left} items still unprocessed after {BATCH_WRITE_TRIES} BatchWriteItem calls")


def publish(redis, symbol: str, derived: Derived, depth: tuple[list, list], depth_seq: int,
            prefix: str | None = None) -> None:
    bids, asks = depth
    if derived.fills:
        marketdata.record_trades(redis, symbol, [
            marketdata.Trade(f.trade_id, f.price, f.qty, f.quote, f.time_ms, f.is_buyer_maker,
                             f.buyer_order_id if f.is_buyer_maker is False else f.seller_order_id)
            for f in derived.fills], prefix=prefix)
    marketdata.publish_depth(redis, symbol, depth_seq, bids, asks, prefix=prefix)
