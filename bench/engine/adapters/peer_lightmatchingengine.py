"""Peer: lightmatchingengine (PyPI ``lightmatchingengine`` 2019.1.4; pure
Python, dict of price -> list, best price by ``min()/max()`` over all level
keys on every match step, cancel by linear scan of the level).

Mapping: one instrument ``"X"``; the engine assigns sequential ids, so the
adapter sets ``curr_order_id = oid - 1`` before each ``add_order`` to make the
engine's id equal ours.  Market orders: the peer's market order (price 0)
*rests its unfilled remainder at price 0*, so the adapter emulates "remainder
expires" by cancelling the remainder right away (counted in the timing).
Trades: the peer emits one aggregated aggressor trade per level plus one
passive trade per maker; the passive ones map 1:1 to (maker, taker, price,
qty).  Cancel of a filled order can hit an ``AssertionError`` in the peer
(its id map never forgets filled orders); the adapter treats that as a no-op
(never happens on this workload, whose cancels target resting orders).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lightmatchingengine.lightmatchingengine import LightMatchingEngine, Side

if TYPE_CHECKING:
    from bench.engine.adapters.base import Trade

SEMANTICS_NOTE = "market = price-0 order + cancel of the remainder (peer would rest it)"
BUY, SELL = Side.BUY, Side.SELL
SYM = "X"


class LME:
    name = "lightmatchingengine"

    def __init__(self, record_trades: bool = False):
        self.e = LightMatchingEngine()
        self.record = record_trades
        self._trades: list[Trade] = []

    def _rec(self, oid, trades):
        for t in trades:
            if t.order_id != oid:
                self._trades.append((t.order_id, oid, t.trade_price, t.trade_qty))

    def limit(self, oid, is_buy, price, qty):
        e = self.e
        e.curr_order_id = oid - 1
        order, trades = e.add_order(SYM, price, qty, BUY if is_buy else SELL)
        if self.record and trades:
            self._rec(oid, trades)

    def cancel(self, oid):
        try:
            self.e.cancel_order(oid, SYM)
        except (AssertionError, KeyError):
            pass

    def market(self, oid, is_buy, qty):
        e = self.e
        e.curr_order_id = oid - 1
        order, trades = e.add_order(SYM, 0, qty, BUY if is_buy else SELL)
        if order.leaves_qty:
            e.cancel_order(oid, SYM)
        if self.record and trades:
            self._rec(oid, trades)

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
        e = self.e
        add, cancel = e.add_order, e.cancel_order
        for c in cmds:
            t = c[0]
            if t == 'L':
                e.curr_order_id = c[1] - 1
                add(SYM, c[3], c[4], BUY if c[2] else SELL)
            elif t == 'C':
                try:
                    cancel(c[1], SYM)
                except AssertionError:
                    pass
            else:
                e.curr_order_id = c[1] - 1
                order, _ = add(SYM, 0, c[3], BUY if c[2] else SELL)
                if order.leaves_qty:
                    cancel(c[1], SYM)

    def trades(self) -> list[Trade]:
        return self._trades

    def _ob(self):
        return self.e.order_books.get(SYM)

    def book(self):
        ob = self._ob()
        if ob is None:
            return [], []

        def agg(side, rev):
            out = []
            for p in sorted(side, reverse=rev):
                tot = sum(o.leaves_qty for o in side[p])
                if tot:
                    out.append((p, tot))
            return out
        return agg(ob.bids, True), agg(ob.asks, False)

    def resting_count(self):
        ob = self._ob()
        if ob is None:
            return 0
        return sum(len(v) for v in ob.bids.values()) + sum(len(v) for v in ob.asks.values())


ADAPTER = LME
