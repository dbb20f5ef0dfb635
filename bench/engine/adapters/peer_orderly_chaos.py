"""Peer: orderly-chaos (PyPI ``orderly-chaos``; native C++ book behind a
ctypes wrapper; integer ticks and caller-chosen integer ids natively).

Mapping: direct (``limit(side, oid, qty, price)``, ``market``, ``cancel``).
Its ``cancel`` raises ``UnknownOrderIdError`` for non-resting ids; the adapter
turns that into a no-op.  Trades come from the ``on_trade`` callback, which is
only installed when recording (the callback builds a dataclass per trade).
Memory: the book lives in native memory, invisible to tracemalloc; see the
RSS column.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from orderly_chaos import LimitOrderBook, Side, UnknownOrderIdError

if TYPE_CHECKING:
    from bench.engine.adapters.base import Trade

SEMANTICS_NOTE = ""
BUY, SELL = Side.BUY, Side.SELL


class OrderlyChaos:
    name = "orderly-chaos"

    def __init__(self, record_trades: bool = False):
        self._trades: list[Trade] = []
        self.b = LimitOrderBook(on_trade=self._on_trade if record_trades else None)

    def _on_trade(self, t):
        self._trades.append((t.maker_id, t.taker_id, t.price, t.quantity))

    def limit(self, oid, is_buy, price, qty):
        self.b.limit(BUY if is_buy else SELL, oid, qty, price)

    def cancel(self, oid):
        try:
            self.b.cancel(oid)
        except UnknownOrderIdError:
            pass

    def market(self, oid, is_buy, qty):
        self.b.market(BUY if is_buy else SELL, oid, qty)

    def run(self, cmds):
        b = self.b
        lim, mkt, can = b.limit, b.market, b.cancel
        for c in cmds:
            t = c[0]
            if t == 'L':
                lim(BUY if c[2] else SELL, c[1], c[4], c[3])
            elif t == 'C':
                try:
                    can(c[1])
                except UnknownOrderIdError:
                    pass
            else:
                mkt(BUY if c[2] else SELL, c[1], c[3])

    def trades(self) -> list[Trade]:
        return self._trades

    def book(self):
        n = 1 << 20
        bids = [(lv.price, lv.volume) for lv in self.b.depth(BUY, n) if lv.volume]
        asks = [(lv.price, lv.volume) for lv in self.b.depth(SELL, n) if lv.volume]
        return bids, asks

    def resting_count(self):
        return self.b.count()


ADAPTER = OrderlyChaos
