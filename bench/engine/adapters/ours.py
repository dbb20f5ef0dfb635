"""Benchmark adapter for our engine (matcher.engine.FastBook).

All semantics stay on: every command produces its full event list (sequence
numbers, trades, order statuses, level changes), self-trade prevention is
checked on every match (mode EXPIRE_TAKER, account id = order id, so it never
fires), the stop-trigger check runs after every trade, and the integer filters
are checked on every order (with open bounds).

Bytes per resting order can also be measured without the driver:
``python -c "from matcher.engine.memory import measure_bytes_per_order as m; print(m())"``.
"""
from __future__ import annotations

from chalicelib.trading.events import EventKind
from matcher.engine import FastBook, StpMode, TimeInForce

_TRADE = int(EventKind.TRADE)
_GTC = int(TimeInForce.GTC)
_STP = int(StpMode.EXPIRE_TAKER)

SEMANTICS_NOTE = ("full engine: events, STP (EXPIRE_TAKER, account = order id), stop-trigger "
                  "checks and filters on")


class Adapter:
    name = "ours"

    def __init__(self, record_trades: bool = False) -> None:
        self._book = FastBook()
        self._record = record_trades
        self._trades: list[tuple[int, int, int, int]] = []

    def _keep(self, events: list) -> None:
        self._trades.extend((e[7], e[8], e[3], e[4]) for e in events if e[1] == _TRADE)

    def limit(self, oid: int, is_buy: bool, price: int, qty: int) -> None:
        events = self._book.new_limit(oid, oid, 0 if is_buy else 1, price, qty, _GTC, _STP)
        if self._record:
            self._keep(events)

    def cancel(self, oid: int) -> None:
        # An order that no longer rests is answered with a REJECTED event: a no-op.
        events = self._book.cancel(oid, oid)
        if self._record:
            self._keep(events)

    def market(self, oid: int, is_buy: bool, qty: int) -> None:
        events = self._book.new_market(oid, oid, 0 if is_buy else 1, qty, _STP)
        if self._record:
            self._keep(events)

    def run(self, commands) -> None:
        """Replay a whole workload with the book's methods bound to locals (the
        same calls as :meth:`limit`, :meth:`cancel`, :meth:`market`).  Like the
        peers' ``run``, the timed loop does not keep the results; when trades are
        recorded a separate loop hands every event list to :meth:`_keep`."""
        book = self._book
        new_limit, cancel, new_market = book.new_limit, book.cancel, book.new_market
        gtc, stp = _GTC, _STP
        if self._record:
            keep = self._keep
            for c in commands:
                kind = c[0]
                if kind == 'L':
                    oid = c[1]
                    keep(new_limit(oid, oid, 0 if c[2] else 1, c[3], c[4], gtc, stp))
                elif kind == 'C':
                    keep(cancel(c[1], c[1]))
                else:
                    oid = c[1]
                    keep(new_market(oid, oid, 0 if c[2] else 1, c[3], stp))
            return
        for c in commands:
            kind = c[0]
            if kind == 'L':
                oid = c[1]
                new_limit(oid, oid, 0 if c[2] else 1, c[3], c[4], gtc, stp)
            elif kind == 'C':
                oid = c[1]
                cancel(oid, oid)
            else:
                oid = c[1]
                new_market(oid, oid, 0 if c[2] else 1, c[3], stp)

    def trades(self) -> list[tuple[int, int, int, int]]:
        return self._trades

    def book(self):
        return self._book.depth(1 << 62)

    def resting_count(self) -> int:
        return self._book.resting_count()


ADAPTER = Adapter
