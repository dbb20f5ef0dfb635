"""Bytes per resting order, measured the way the benchmark reports it."""
from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fast import FastBook


def measure_bytes_per_order(n: int = 1_000_000, seed: int = 7,
                            book_factory: Callable[[], FastBook] | None = None) -> float:
    """Traced memory of a book holding ``n`` resting orders, divided by ``n``.

    The orders never cross: bids below and asks above 100,000 ticks at an
    exponential distance (mean 20, cap 300, ~600 levels), quantities lognormal
    like the benchmark workload; order id = account id.  The inputs are drawn
    before tracing starts (as floats), and the events are dropped, so only what the book
    keeps is counted (orders, levels, the id index and the ints they hold)."""
    from .fast import FastBook

    factory = book_factory or FastBook
    rng = random.Random(seed)
    # Only floats are drawn up front: every int the book keeps (ids, quantities,
    # prices) is made while tracing, as it would be when orders arrive.
    rows = [(rng.random(), rng.expovariate(1 / 20), rng.lognormvariate(2.5, 1.0))
            for _ in range(n)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        book = factory()
        new_limit = book.new_limit
        oid = 0
        for u, x, y in rows:
            oid += 1
            d = min(300, int(x))
            qty = min(1000, 1 + int(y))
            if u < 0.5:
                new_limit(oid, oid, 0, 99_999 - d, qty)
            else:
                new_limit(oid, oid, 1, 100_001 + d, qty)
        del rows  # the input tuples are not the book's
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert book.resting_count() == n
    return (after - before) / n
