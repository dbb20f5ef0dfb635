"""Trailing stops: Binance's rule, stated once, for both books.

A trailing stop (a stop order with ``trailing_delta`` BIPS) is *activated* -- starts
tracking -- at acceptance when it has no stop price, else by the first trade that
meets its stop price (the same condition a plain stop fires on).  From then on it
remembers the best price traded since (the lowest for a BUY, the highest for a
SELL; the activating trade's price first, or, when activated at acceptance, the last
price then) and *fires* on the first trade that has moved against that best price
by the delta:  BUY ``price >= best x (1 + delta/10000)``, SELL ``price <= best x
(1 - delta/10000)``, compared exactly in integers (see Binance's trailing-stop FAQ,
whose worked examples tests/matcher/engine replays).
"""
from __future__ import annotations

from .types import Side

BIPS = 10_000


def fires(side: int, delta: int, best: int, price: int) -> bool:
    """Whether a trade at ``price`` fires an active trailing stop whose best price
    since activation is ``best``."""
    if side == Side.BUY:
        return price * BIPS >= best * (BIPS + delta)
    return price * BIPS <= best * (BIPS - delta)


def better(side: int, best: int | None, price: int) -> int:
    """The best price after a trade at ``price`` (lowest for a BUY, highest for a SELL)."""
    if best is None:
        return price
    return min(best, price) if side == Side.BUY else max(best, price)
