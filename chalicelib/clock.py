"""The exchange's clock in Binance's unit: milliseconds since the epoch (UTC).

One definition for the API and the domain code (``matcher/service/leases.py`` still
has its own copy)."""
from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock time in whole milliseconds since the epoch."""
    return int(time.time() * 1000)
