"""Peer: cython-orderbook (PyPI ``cython-orderbook``; Cython, SortedDict of
price levels, OrderedDict FIFO per level).

Mapping: ints are passed straight through as prices (any ordered type works);
side -> ``OrderSide.BID/ASK``.  The peer assigns string ids from a global
counter; the adapter overwrites ``order.order_id = str(oid)`` (a public
attribute) before submitting so cancels need no id map.  The peer always
appends a ``Trade`` dataclass (with ``datetime.now()``) to ``trade_log``:
that cost is inherent to the peer and stays in the timing.  Its per-level
``total_quantity`` is not decremented on fills (peer bug), so ``book()`` sums
the queue instead, and empty levels can linger until swept by matching
(harmless for trading semantics).
"""
from __future__ import annotations

from cython_orderbook import Order, OrderBook, OrderSide

SEMANTICS_NOTE = ""
BID, ASK = OrderSide.BID, OrderSide.ASK


class CythonOrderbook:
    name = "cython-orderbook"

    def __init__(self, record_trades: bool = False):
        self.b = OrderBook()
        self.record = record_trades

    def limit(self, oid, is_buy, price, qty):
        o = Order(BID if is_buy else ASK, qty, price)
        o.order_id = str(oid)
        self.b.add_limit_order(o)

    def cancel(self, oid):
        self.b.cancel_order(str(oid))

    def market(self, oid, is_buy, qty):
        o = Order(BID if is_buy else ASK, qty)
        o.order_id = str(oid)
        self.b.add_market_order(o)

    def run(self, cmds):
        b = self.b
        add_l, add_m, can = b.add_limit_order, b.add_market_order, b.cancel_order
        for c in cmds:
            t = c[0]
            if t == 'L':
                o = Order(BID if c[2] else ASK, c[4], c[3])
                o.order_id = str(c[1])
                add_l(o)
            elif t == 'C':
                can(str(c[1]))
            else:
                o = Order(BID if c[2] else ASK, c[3])
                o.order_id = str(c[1])
                add_m(o)

    def trades(self):
        return [(int(t.filler_id), int(t.aggressor_id), int(t.price), t.quantity_filled)
                for t in self.b.trade_log]

    def book(self):
        def agg(side):
            out = []
            for p, lvl in side.items():
                tot = sum(o.remaining_quantity for o in lvl.queue.values())
                if tot:
                    out.append((int(p), tot))
            return out
        return agg(self.b.bids), agg(self.b.asks)

    def resting_count(self):
        return len(self.b.orders)


ADAPTER = CythonOrderbook
