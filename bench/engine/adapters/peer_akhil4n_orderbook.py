"""Peer: akhil4n-orderbook (PyPI ``akhil4n-orderbook``; pure Python, installs
a top-level module named ``orderbook``).  Same design and same author as
cython-orderbook (which is its Cython port): SortedDict of levels,
OrderedDict FIFO, dataclass ``Order``/``Trade`` (with ``datetime.now()``).
Mapping as for cython-orderbook: ``order_id`` overwritten with ``str(oid)``;
``book()`` sums queues because the peer's level ``total_quantity`` is not
decremented on fills.
"""
from __future__ import annotations

import orderbook as _ob  # the akhil4n-orderbook distribution

if not hasattr(_ob, "MarketOrder") or not hasattr(_ob, "OrderSide"):
    raise ImportError("module 'orderbook' is not akhil4n-orderbook")

Order, MarketOrder, OrderBook, OrderSide = _ob.Order, _ob.MarketOrder, _ob.OrderBook, _ob.OrderSide
SEMANTICS_NOTE = ""
BID, ASK = OrderSide.BID, OrderSide.ASK


class Akhil4nOrderbook:
    name = "akhil4n-orderbook"

    def __init__(self, record_trades: bool = False):
        self.b = OrderBook()
        self.record = record_trades

    def limit(self, oid, is_buy, price, qty):
        o = Order(BID if is_buy else ASK, price, qty)
        o.order_id = str(oid)
        self.b.add_limit_order(o)

    def cancel(self, oid):
        self.b.cancel_order(str(oid))

    def market(self, oid, is_buy, qty):
        o = MarketOrder(BID if is_buy else ASK, qty)
        o.order_id = str(oid)
        self.b.add_market_order(o)

    def run(self, cmds):
        b = self.b
        add_l, add_m, can = b.add_limit_order, b.add_market_order, b.cancel_order
        for c in cmds:
            t = c[0]
            if t == 'L':
                o = Order(BID if c[2] else ASK, c[3], c[4])
                o.order_id = str(c[1])
                add_l(o)
            elif t == 'C':
                can(str(c[1]))
            else:
                o = MarketOrder(BID if c[2] else ASK, c[3])
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


ADAPTER = Akhil4nOrderbook
