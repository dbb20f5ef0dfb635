"""Trade pages: the TRADES items the matcher writes per batch, and the reader that
merges overlapping pages (pure; no server -- the pipeline tests read real pages)."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from chalicelib import tradepages
from chalicelib.tables import TRADE_ITEMS, TradeModel
from chalicelib.tradepages import PageConflict, TradeRow, decode_page, merge, page_items


def _row(tid: int) -> tuple:
    """A trade as the matcher has it: exact Decimals, some with trailing zeros or an exponent."""
    price = Decimal("65000.10") + tid
    qty = Decimal("1E-8") if tid % 3 == 0 else Decimal("0.00120000")
    return (tid, price, qty, price * qty, 1000 + 2 * tid, 1001 + 2 * tid, tid % 2 == 0, 50 + tid,
            1_700_000_000_000 + tid)


def _pages(items: list[dict]) -> list[tuple[int, str]]:
    return [(TRADE_ITEMS.from_item(i)["trade_id"], TRADE_ITEMS.from_item(i)["trades"]) for i in items]


def test_a_page_holds_its_trades_exactly_and_in_order():
    rows = [_row(t) for t in range(7, 12)]
    (item,) = page_items("BTCUSDT", rows)
    v = TRADE_ITEMS.from_item(item)
    assert (v["symbol"], v["trade_id"], v["last_trade_id"]) == ("BTCUSDT", 7, 11)
    assert item == TradeModel(**v).serialize()  # the model's own item: same names and types
    got = decode_page(v["trades"])
    assert got == [TradeRow(*r) for r in rows]
    # exact: the Decimals' own strings (trailing zeros, exponents), never a float
    assert [(str(g.price), str(g.qty), str(g.quote_qty)) for g in got] == [(str(r[1]), str(r[2]), str(r[3]))
                                                                           for r in rows]
    assert json.loads(v["trades"])[0] == [7, "65007.10", "0.00120000", str(rows[0][3]), 1014, 1015, False, 57,
                                          1_700_000_000_007]
    assert got[1].is_buyer_maker is True and got[0].is_buyer_maker is False


def test_a_repeat_writes_the_same_bytes_and_no_trades_no_item():
    rows = [_row(t) for t in range(1, 40)]
    assert page_items("ETHBTC", rows) == page_items("ETHBTC", [tuple(r) for r in rows])
    assert page_items("ETHBTC", []) == []


def test_pages_are_cut_by_count_and_by_bytes(monkeypatch):
    rows = [_row(t) for t in range(1, 2501)]
    items = page_items("BTCUSDT", rows)
    keys = [(TRADE_ITEMS.from_item(i)["trade_id"], TRADE_ITEMS.from_item(i)["last_trade_id"]) for i in items]
    assert keys == [(1, 1000), (1001, 2000), (2001, 2500)]
    assert list(merge(_pages(items))) == [TradeRow(*r) for r in rows]
    # the worst row a page can hold stays far below DynamoDB's 400 KB per item
    big = Decimal("9" * 20 + "." + "9" * 18)
    worst = [(2**63 - 1000 + t, big, big, big * big, 2**63 - 1, 2**63 - 1, True, 2**63 - 1, 2**63 - 1)
             for t in range(1000)]
    sizes = [len(json.dumps(i)) for i in page_items("BTCUSDT", worst)]
    assert len(sizes) > 1 and max(sizes) < 250_000
    monkeypatch.setattr(tradepages, "PAGE_BYTES", 3 * len(tradepages.encode_row(*rows[0])) + 3)
    assert [TRADE_ITEMS.from_item(i)["last_trade_id"] for i in page_items("BTCUSDT", rows[:7])] == [3, 6, 7]


def test_overlapping_pages_of_a_repeated_batch_read_each_trade_once():
    """A batch repeated after a crash, cut elsewhere: pages 1..10 and 5..12 (and a page
    nested in another) -- each trade once, ascending, whatever the overlap."""
    first_try = page_items("BTCUSDT", [_row(t) for t in range(1, 11)])
    repeat = page_items("BTCUSDT", [_row(t) for t in range(5, 13)])
    nested = page_items("BTCUSDT", [_row(t) for t in range(3, 5)])
    later = page_items("BTCUSDT", [_row(t) for t in range(13, 16)])
    pages = sorted(_pages(first_try + repeat + nested + later))
    assert [p[0] for p in pages] == [1, 3, 5, 13]
    assert list(merge(pages)) == [TradeRow(*_row(t)) for t in range(1, 16)]
    assert list(merge(pages[2:])) == [TradeRow(*_row(t)) for t in range(5, 16)]


def test_pages_that_disagree_on_a_trade_are_an_error():
    good = page_items("BTCUSDT", [_row(t) for t in range(1, 6)])
    other = list(_row(4))
    other[2] = Decimal("0.5")  # another quantity for trade 4: not one journal's pages
    bad = page_items("BTCUSDT", [tuple(other), _row(5)])
    with pytest.raises(PageConflict, match="trade 4"):
        list(merge(sorted(_pages(good + bad))))
    gap = page_items("BTCUSDT", [_row(1), _row(3)])  # not a run of consecutive trades
    with pytest.raises(PageConflict, match="trade 2"):
        list(merge(sorted(_pages(gap + page_items("BTCUSDT", [_row(2), _row(3)])))))
