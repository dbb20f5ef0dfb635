"""Adapter protocol for the matching-engine benchmark (bench/engine/run.py).

Every engine under test (ours, the bare-bones yardstick, each PyPI peer) is
wrapped in a class implementing :class:`Adapter`.  Units are integers
throughout: prices in ticks, quantities in lots, order ids are ints unique
within one run.  Adapters convert to whatever the wrapped engine wants.

Semantics the driver expects (the reference book in workload.py is the spec):

* ``limit``  - price-time priority; crosses the opposite side first (trades at
  the *maker's* price), any remainder rests (GTC).
* ``cancel`` - removes the resting remainder; a no-op if ``oid`` is not resting
  (already filled, never rested, or already cancelled).
* ``market`` - sweeps the opposite side; whatever cannot fill expires, never
  rests.
* ``trades`` - only meaningful when constructed with ``record_trades=True``:
  ``[(maker_oid, taker_oid, price, qty), ...]`` in execution order.
* ``book``   - ``(bids, asks)``, each ``[(price, total_qty), ...]`` best first,
  only non-empty levels.
* ``resting_count`` - number of resting orders.

Each adapter module exposes a module-level ``ADAPTER`` (the class), and may set
``SEMANTICS_NOTE`` (str) describing known deviations from the reference, which
the driver prints.  Module import failure (peer not installed) is reported and
skipped by the driver.

Optional fast path: an adapter may provide ``run(commands)`` that replays the
whole command list itself (e.g. binding methods to locals); if absent the
driver dispatches per command.  ``run`` must be semantically identical to
dispatching each command.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

Trade = tuple[int, int, int, int]          # (maker_oid, taker_oid, price, qty)
Level = tuple[int, int]                    # (price, total_qty)

# Command tuples (see workload.py):
#   ('L', oid, is_buy, price, qty)
#   ('C', oid)
#   ('M', oid, is_buy, qty)


@runtime_checkable
class Adapter(Protocol):
    name: str

    def __init__(self, record_trades: bool = False) -> None: ...

    def limit(self, oid: int, is_buy: bool, price: int, qty: int) -> None: ...

    def cancel(self, oid: int) -> None:  # no-op if not resting
        ...

    def market(self, oid: int, is_buy: bool, qty: int) -> None:  # unfilled part expires
        ...

    def trades(self) -> list[Trade]:  # in order; only when record_trades
        ...

    def book(self) -> tuple[list[Level], list[Level]]:  # bids, asks, best first
        ...

    def resting_count(self) -> int: ...
