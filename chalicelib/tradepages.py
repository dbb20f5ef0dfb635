"""Trade pages: how the TRADES table holds trade executions, written and read.

The matcher writes a stream batch's trades of one symbol as *pages*, not one item per
trade: one :class:`~chalicelib.tables.TradeModel` item per run of at most
:data:`PAGE_TRADES` trades and :data:`PAGE_BYTES` bytes of rows, keyed by the symbol
and the page's first trade id, with ``last_trade_id`` and the rows as one compact JSON
string.  Per-trade items cost the matcher ~20 us of botocore serialisation per order
and a write unit per trade (an item under 1 KB still costs one); a page of ~100-byte
rows costs about a tenth of a write unit per trade and one item to serialise.
:data:`PAGE_BYTES` keeps a page far below DynamoDB's 400 KB item limit (and 25 of
them below BatchWriteItem's 16 MB).

A row is ``[trade_id, "price", "qty", "quote_qty", buyer_order_id, seller_order_id,
is_buyer_maker, event_seq, time_ms]`` (:data:`ROW_FIELDS`): ids and times are JSON
integers, amounts are the Decimals' strings (exact, never floats), ``is_buyer_maker`` a
JSON boolean.  A page is a deterministic function of the batch's trades, and these are
of the journal: a batch repeated with the same trades writes the same item bytes.

**Overlapping pages.**  Recovery may repeat a batch cut at a different point (the
entries a stream batch held after a crash are not those of the first attempt), so the
table can hold pages that overlap: ``1..10`` from the first attempt and ``5..12`` from
the repeat, say.  Both hold the same rows for the trades they share (the journal
decides them), and the newer page does not replace the older one (another key).
Readers therefore go through :func:`merge`/:func:`read_trades`: pages in ascending
first trade id, each trade once, in ascending trade id; a shared trade whose rows
differ is an error (:class:`PageConflict`: the pages were not written from one
journal).  Nothing in production reads these pages (trade history comes from Aurora,
recent trades from Redis); the tests do, through this module.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import NamedTuple

from chalicelib.tables import TRADE_ITEMS, TradeModel

PAGE_TRADES = 1000        # rows per page at most
PAGE_BYTES = 200_000      # bytes of rows per page at most: half of DynamoDB's 400 KB item limit

ROW_FIELDS = ("trade_id", "price", "qty", "quote_qty", "buyer_order_id", "seller_order_id",
              "is_buyer_maker", "event_seq", "time_ms")


class TradeRow(NamedTuple):
    """One trade execution as a page holds it."""

    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    buyer_order_id: int
    seller_order_id: int
    is_buyer_maker: bool
    event_seq: int
    time_ms: int


class PageConflict(ValueError):
    """Two pages hold different rows for one trade id."""


def encode_row(trade_id: int, price: Decimal, qty: Decimal, quote_qty: Decimal, buyer_order_id: int,
               seller_order_id: int, is_buyer_maker: bool, event_seq: int, time_ms: int) -> str:
    """One row's JSON text (a Decimal's ``str`` holds only digits, sign, point and
    exponent: nothing JSON would escape)."""
    return (f'[{int(trade_id)},"{price}","{qty}","{quote_qty}",{int(buyer_order_id)},{int(seller_order_id)},'
            f'{"true" if is_buyer_maker else "false"},{int(event_seq)},{int(time_ms)}]')


def page_items(symbol: str, rows: Sequence[tuple]) -> list[dict]:
    """The wire-format TRADES items of ``rows`` (tuples in :data:`ROW_FIELDS` order,
    ascending trade id, one batch of one symbol): pages cut from the first row on, at
    :data:`PAGE_TRADES` rows or before :data:`PAGE_BYTES` bytes."""
    items: list[dict] = []
    page: list[str] = []
    first = last = size = 0
    for r in rows:
        text = encode_row(*r)
        if page and (len(page) >= PAGE_TRADES or size + len(text) + 1 > PAGE_BYTES):
            items.append(_item(symbol, first, last, page))
            page, size = [], 0
        if not page:
            first = r[0]
        page.append(text)
        last = r[0]
        size += len(text) + 1
    if page:
        items.append(_item(symbol, first, last, page))
    return items


def _item(symbol: str, first: int, last: int, page: list[str]) -> dict:
    return TRADE_ITEMS.to_item(symbol=symbol, trade_id=first, last_trade_id=last,
                               trades="[" + ",".join(page) + "]")


def decode_page(trades: str) -> list[TradeRow]:
    """A page's ``trades`` attribute as rows (amounts as exact Decimals)."""
    return [TradeRow(int(t), Decimal(p), Decimal(q), Decimal(qq), int(b), int(s), bool(m), int(e), int(ms))
            for t, p, q, qq, b, s, m, e, ms in json.loads(trades)]


def merge(pages: Iterable[tuple[int, str]]) -> Iterator[TradeRow]:
    """Each trade once, ascending, from one symbol's pages given as ``(first trade id,
    trades attribute)`` in ascending first trade id (a query's order).  A trade held by
    several (overlapping) pages is yielded from the first and checked against the
    others (:class:`PageConflict` if they differ, or if a page holds a trade below one
    already yielded that no earlier page held: a page is a run of consecutive trades).
    Memory: the rows of the pages that overlap the current one."""
    seen: dict[int, TradeRow] = {}  # yielded rows a later page may repeat, ascending id
    high = None
    for first, text in pages:
        for old in list(seen):  # rows below this page's first id: no later page holds them
            if old >= first:
                break
            del seen[old]
        for row in decode_page(text):
            if high is not None and row.trade_id <= high:
                prev = seen.get(row.trade_id)
                if prev != row:  # a different row, or one the earlier pages skipped over
                    raise PageConflict(f"trade {row.trade_id} (after {high}): {prev} != {row}")
                continue
            seen[row.trade_id] = row
            high = row.trade_id
            yield row


def read_trades(symbol: str, from_id: int = 0) -> Iterator[TradeRow]:
    """``symbol``'s trades with an id >= ``from_id``, each once, ascending, from the
    TRADES table (consistent reads).  Every page is read: a page starting before
    ``from_id`` may hold it, and with overlapping pages the one just below need not."""
    pages = ((int(p.trade_id), p.trades) for p in TradeModel.query(symbol, consistent_read=True))
    return (r for r in merge(pages) if r.trade_id >= from_id)


def scan_trades() -> Iterator[tuple[str, TradeRow]]:
    """Every symbol's trades as ``(symbol, row)``, each trade once: :func:`merge` per
    symbol over a scan of the table (which returns a symbol's pages in any order)."""
    by_symbol: dict[str, list[tuple[int, str]]] = {}
    for p in TradeModel.scan():
        by_symbol.setdefault(p.symbol, []).append((int(p.trade_id), p.trades))
    for symbol, pages in sorted(by_symbol.items()):
        for row in merge(sorted(pages)):
            yield symbol, row
