"""Bare-bones price-time book in plain Python: a yardstick, not a product.

* level = ``deque`` of ``[oid, qty]`` entries, per-side ``dict`` price -> level
* best price = heap of level prices with lazy deletion (ask heap holds p,
  bid heap holds -p)
* cancel is lazy: the entry's qty is zeroed and it is skipped (and dropped)
  when it reaches the front of its level; a per-level live count decides
  when the level is gone.

Semantics identical to ``workload.RefBook`` (trades at maker price, market
remainder expires, cancel of a non-resting id is a no-op).
"""
from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

SEMANTICS_NOTE = ""


class BareBones:
    name = "barebones"

    def __init__(self, record_trades: bool = False):
        self.record = record_trades
        self._trades: list = []
        # side books: price -> [deque_of_entries, live_count]
        self.bids: dict = {}
        self.asks: dict = {}
        self.bid_heap: list = []   # -price
        self.ask_heap: list = []   # price
        self.orders: dict = {}     # oid -> (entry, level)
        self.n_trades = 0
        self.volume = 0

    # ------------------------------------------------------------------
    def _match(self, oid, is_buy, price, qty):
        """Match against the opposite side; price None = market.
        Returns the unfilled quantity."""
        orders = self.orders
        record = self.record
        tr = self._trades
        nt = 0
        vol = 0
        if is_buy:
            book, heap, sgn = self.asks, self.ask_heap, 1
        else:
            book, heap, sgn = self.bids, self.bid_heap, -1
        while qty and heap:
            p = heap[0] * sgn
            lvl = book.get(p)
            if lvl is None:            # stale heap entry
                heappop(heap)
                continue
            if price is not None and (p > price if is_buy else p < price):
                break
            q = lvl[0]
            while qty:
                e = q[0]
                eq = e[1]
                if eq == 0:            # lazily cancelled
                    q.popleft()
                    continue
                if eq <= qty:
                    qty -= eq
                    e[1] = 0
                    q.popleft()
                    del orders[e[0]]
                    lvl[1] -= 1
                    nt += 1
                    vol += eq
                    if record:
                        tr.append((e[0], oid, p, eq))
                    if lvl[1] == 0:
                        del book[p]
                        heappop(heap)
                        break
                else:
                    e[1] = eq - qty
                    nt += 1
                    vol += qty
                    if record:
                        tr.append((e[0], oid, p, qty))
                    qty = 0
        self.n_trades += nt
        self.volume += vol
        return qty

    def limit(self, oid, is_buy, price, qty):
        if is_buy:
            h = self.ask_heap
            if h and h[0] <= price:
                qty = self._match(oid, True, price, qty)
                if not qty:
                    return
            book = self.bids
            lvl = book.get(price)
            if lvl is None:
                lvl = book[price] = [deque(), 0]
                heappush(self.bid_heap, -price)
        else:
            h = self.bid_heap
            if h and -h[0] >= price:
                qty = self._match(oid, False, price, qty)
                if not qty:
                    return
            book = self.asks
            lvl = book.get(price)
            if lvl is None:
                lvl = book[price] = [deque(), 0]
                heappush(self.ask_heap, price)
        e = [oid, qty]
        lvl[0].append(e)
        lvl[1] += 1
        self.orders[oid] = (e, lvl, price, is_buy)

    def market(self, oid, is_buy, qty):
        self._match(oid, is_buy, None, qty)

    def cancel(self, oid):
        o = self.orders.pop(oid, None)
        if o is None:
            return
        e, lvl, price, is_buy = o
        e[1] = 0
        lvl[1] -= 1
        if lvl[1] == 0:
            # level has no live orders: drop it (heap entry goes stale)
            del (self.bids if is_buy else self.asks)[price]

    def run(self, cmds):
        lim, can, mkt = self.limit, self.cancel, self.market
        for c in cmds:
            t = c[0]
            if t == 'L':
                lim(c[1], c[2], c[3], c[4])
            elif t == 'C':
                can(c[1])
            else:
                mkt(c[1], c[2], c[3])

    # ------------------------------------------------------------------
    def trades(self):
        return self._trades

    def book(self):
        def agg(book, reverse):
            out = []
            for p in sorted(book, reverse=reverse):
                tot = sum(e[1] for e in book[p][0])
                if tot:
                    out.append((p, tot))
            return out
        return agg(self.bids, True), agg(self.asks, False)

    def resting_count(self):
        return len(self.orders)


ADAPTER = BareBones
