"""The batch's effects outside PostgreSQL: DynamoDB items and Redis market data.

DynamoDB: trades (TRADES table, keyed symbol + trade id) and the depth snapshot
(BOOK table, item ``depth``: the API's fallback when Redis is cold), in
BatchWriteItem requests of 25 items.  Every item is a deterministic function of
the journal, so a repeat writes the same bytes.  An order's state is not written
here: nothing reads it from DynamoDB (the API reads orders from Aurora, recovery
reads the journal and the engine snapshot), and it was one write per order.

Redis: through :mod:`chalicelib.marketdata` (the one definition of the keys):
depth snapshot + best bid/ask, recent trades, last trade / ticker, klines, and a
pub/sub message per update; trades at or below the last published id are
skipped, so a repeat publishes nothing new.
"""
from __future__ import annotations

import json
import time

from chalicelib import marketdata

from .settlement import Derived


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
        for f in derived.fills:
            out.append((self.trades_table, {
                "symbol": {"S": symbol}, "trade_id": {"N": str(f.trade_id)}, "price": {"S": str(f.price)},
                "qty": {"S": str(f.qty)}, "quote_qty": {"S": str(f.quote)},
                "buyer_order_id": {"N": str(f.buyer_order_id)}, "seller_order_id": {"N": str(f.seller_order_id)},
                "is_buyer_maker": {"BOOL": f.is_buyer_maker}, "event_seq": {"N": str(f.seq)},
                "time_ms": {"N": str(f.time_ms)}}))
        bids, asks = depth
        out.append((self.book_table, {
            "symbol": {"S": symbol}, "item": {"S": "depth"}, "seq": {"N": str(depth_seq)},
            "fencing_token": {"N": str(token)},
            "body": {"S": _dumps({"lastUpdateId": depth_seq, "bids": [[str(p), str(q)] for p, q in bids],
                                  "asks": [[str(p), str(q)] for p, q in asks]})}}))
        return out

    def write(self, items: list[tuple[str, dict]]) -> None:
        for i in range(0, len(items), 25):
            request: dict[str, list] = {}
            for table, item in items[i:i + 25]:
                request.setdefault(table, []).append({"PutRequest": {"Item": item}})
            delay = 0.05
            while request:
                self.requests += 1
                resp = self.ddb.batch_write_item(RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
                if request:
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)


def publish(redis, symbol: str, derived: Derived, depth: tuple[list, list], depth_seq: int,
            prefix: str | None = None) -> None:
    bids, asks = depth
    if derived.fills:
        marketdata.record_trades(redis, symbol, [
            marketdata.Trade(f.trade_id, f.price, f.qty, f.quote, f.time_ms, f.is_buyer_maker,
                             f.buyer_order_id if f.is_buyer_maker is False else f.seller_order_id)
            for f in derived.fills], prefix=prefix)
    marketdata.publish_depth(redis, symbol, depth_seq, bids, asks, prefix=prefix)
