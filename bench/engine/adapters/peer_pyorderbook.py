"""Peer: pyorderbook (PyPI ``pyorderbook``; pure Python, heap of price-level
dataclasses, dict FIFO per level, ``Decimal(str(price))`` prices and
``uuid4()`` ids per order, ``logger.debug`` calls on the hot path).

Mapping: one symbol ``"X"``; after constructing each ``Order`` (which still
draws its uuid4) the adapter sets ``order.id = oid`` so cancels look up the
peer's own ``order_map`` and trades carry our ids.  The peer has no market
orders: emulated as a limit at an extreme price (buy 10**12 / sell 0)
followed by a cancel of any remainder (counted in the timing).  ``cancel``
raises ``KeyError`` (and logs an error) for non-resting ids, so the adapter
checks ``order_map`` first.  Cancel leaves empty levels in the heap until a
match sweeps them (harmless).  Trade price: ``min``/``max`` of the two limit
prices, which equals the maker's price for every real cross.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyorderbook import Book, Order, Side

if TYPE_CHECKING:
    from bench.engine.adapters.base import Trade

logging.getLogger("pyorderbook.book").setLevel(logging.INFO)  # its default; debug calls are no-ops

SEMANTICS_NOTE = "no market orders: emulated as extreme-price limit + cancel of the remainder"
BID, ASK = Side.BID, Side.ASK
SYM = "X"
BUY_MKT, SELL_MKT = 10 ** 12, 0


class PyOrderbook:
    name = "pyorderbook"

    def __init__(self, record_trades: bool = False):
        self.b = Book()
        self.record = record_trades
        self._trades: list[Trade] = []

    def _submit(self, oid, is_buy, price, qty):
        o = Order(BID if is_buy else ASK, SYM, price, qty)
        o.id = oid
        blotter = self.b.match(o)
        if self.record:
            for t in blotter.trades:
                self._trades.append((t.standing_order_id, t.incoming_order_id, int(t.fill_price),
                                     t.fill_quantity))
        return o

    def limit(self, oid, is_buy, price, qty):
        self._submit(oid, is_buy, price, qty)

    def cancel(self, oid):
        o = self.b.order_map.get(oid)
        if o is not None:
            self.b.cancel(o)

    def market(self, oid, is_buy, qty):
        o = self._submit(oid, is_buy, BUY_MKT if is_buy else SELL_MKT, qty)
        if o.quantity:
            self.b.cancel(o)

    def run(self, cmds):
        if self.record:
            lim, can, mkt = self.limit, self.cancel, self.market
            for c in cmds:
                t = c[0]
                if t == 'L':
                    lim(c[1], c[2], c[3], c[4])
                elif t == 'C':
                    can(c[1])
                else:
                    mkt(c[1], c[2], c[3])
            return
        b = self.b
        match, cancel, omap = b.match, b.cancel, b.order_map
        for c in cmds:
            t = c[0]
            if t == 'L':
                o = Order(BID if c[2] else ASK, SYM, c[3], c[4])
                o.id = c[1]
                match(o)
            elif t == 'C':
                o = omap.get(c[1])
                if o is not None:
                    cancel(o)
            else:
                is_buy = c[2]
                o = Order(BID if is_buy else ASK, SYM, BUY_MKT if is_buy else SELL_MKT, c[3])
                o.id = c[1]
                match(o)
                if o.quantity:
                    cancel(o)

    def trades(self) -> list[Trade]:
        return self._trades

    def book(self):
        lm = self.b.level_map.get(SYM)
        if lm is None:
            return [], []

        def agg(levels, rev):
            out = []
            for p in sorted(levels, reverse=rev):
                tot = sum(o.quantity for o in levels[p].orders.values())
                if tot:
                    out.append((int(p), tot))
            return out
        return agg(lm[BID], True), agg(lm[ASK], False)

    def resting_count(self):
        return len(self.b.order_map)


ADAPTER = PyOrderbook
